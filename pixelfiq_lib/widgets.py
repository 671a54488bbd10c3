"""Interactive explorers for the notebooks (ipywidgets, built-in widgets only).

Every widget wraps plain functions that work without Jupyter and are unit-tested:

* :func:`apply_edits` — occlude, blur and add noise to an aligned face;
* :func:`render_explanation` — Q̂ and the PLQ map of one face, drawn as face | map | overlay;
* :func:`face_from_upload` — an uploaded file (FileUpload value or bytes) -> an aligned face.

ipywidgets is imported inside :func:`explorer` only, so the library itself does not
depend on Jupyter.

Taught in: 05_interactive_explorer.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib import pyplot as plt

from . import data, viz
from .core.backprop import PLQResult, pixel_quality_map
from .errors import ImageLoadError, InvalidArgumentError, NoFaceError, PixelfiqError
from .evaluation import perturbations
from .models.base import FRModel

#: Largest occluder side, noise level and blur sigma the explorer's sliders offer.
MAX_OCCLUDER, MAX_NOISE, MAX_BLUR = 60, 60.0, 6.0


def _face_array(face) -> np.ndarray:
    img = face.image if isinstance(face, data.AlignedFace) else np.asarray(face)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise InvalidArgumentError(
            f"face must be an (H, W, 3) uint8 RGB array, got {img.shape} {img.dtype}"
        )
    return img


def apply_edits(
    face,
    *,
    occluder: tuple[int, int, int] | None = None,
    blur: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Disturb an aligned face the way the explorer's sliders do.

    The edits are applied in this order: Gaussian blur, Gaussian noise, occluder (so the
    occluder stays pure black).

    Args:
        face: (H, W, 3) uint8 RGB array in 0..255, or a ``data.AlignedFace``. Not modified.
        occluder: ``(x, y, size)``: a black square of side ``size`` pixels centred at
            column ``x``, row ``y``; clipped at the image border. ``None`` or size 0: none.
        blur: standard deviation of the Gaussian blur in pixels (0 = none).
        noise: standard deviation of additive Gaussian noise in grey levels (0 = none).
        seed: seed of the noise.
    Returns:
        A new (H, W, 3) uint8 RGB array.
    Raises:
        InvalidArgumentError: wrong face array, negative blur/noise/size.
    Example:
        >>> edited = apply_edits(face, occluder=(56, 52, 30), blur=1.5)

    Taught in: 05_interactive_explorer.ipynb
    """
    img = _face_array(face)
    if blur < 0 or noise < 0:
        raise InvalidArgumentError(f"blur and noise must be >= 0, got blur={blur}, noise={noise}")
    img = perturbations.add_noise(perturbations.blur(img, blur), noise, np.random.default_rng(seed))
    if occluder is not None:
        x, y, size = (int(v) for v in occluder)
        if size < 0:
            raise InvalidArgumentError(f"occluder size must be >= 0, got {size}")
        img = perturbations.fill_box(img, perturbations.centred_box(x, y, size), 0)
    return img


def render_explanation(
    model: FRModel,
    face,
    *,
    n_passes: int = 100,
    seed: int = 0,
    a: float | str | None = None,
    axes: Sequence[plt.Axes] | None = None,
    title: str | None = None,
) -> tuple[plt.Figure, PLQResult]:
    """Compute Q̂ and the PLQ map of one face and draw face | map | overlay.

    Args:
        model: the network (any :class:`FRModel`).
        face: (112, 112, 3) uint8 RGB array or ``data.AlignedFace``.
        n_passes, seed, a: as in ``pixel_quality_map``.
        axes: three matplotlib axes, or ``None`` for a new figure.
        title: text put before Q̂ in the figure title (e.g. the network's name).
    Returns:
        ``(fig, result)``: the figure (not shown, not closed) and the ``PLQResult``
        of the single face (``result.plq`` has shape (1, 112, 112)).

    Taught in: 05_interactive_explorer.ipynb
    """
    img = _face_array(face)
    res = pixel_quality_map(model, data.to_tensor(img), n_passes=n_passes, seed=seed, a=a)
    q, se = float(res.quality.q[0]), float(res.quality.q_se[0])
    fig, axes = viz.plot_explanation(img, res.plq[0], q, axes=axes, q_se=se)
    if title:
        fig.suptitle(f"{title}: $\\hat{{Q}}$ = {q:.3f} ± {se:.3f}")
    return fig, res


def face_from_upload(upload) -> np.ndarray:
    """The largest face of an uploaded image, aligned to (112, 112, 3) uint8 RGB.

    Args:
        upload: the ``value`` of an ipywidgets ``FileUpload`` (a tuple of dicts with a
            ``"content"`` buffer; the last file is used), or the file's bytes.
    Returns:
        The aligned face. When no face is detected and the image is a square crop,
        it is taken as already aligned and resized to 112x112.
    Raises:
        ImageLoadError: nothing was uploaded or the file cannot be decoded.
        NoFaceError: no face in a non-square image.

    Taught in: 05_interactive_explorer.ipynb
    """
    if isinstance(upload, (tuple, list)):
        if not upload:
            raise ImageLoadError("no file was uploaded")
        upload = upload[-1]["content"]
    blob = bytes(upload)
    try:
        return data.extract_faces(blob, faces="largest")[0].image
    except NoFaceError:
        h, w = data.load_image(blob).shape[:2]
        if max(h, w) > 1.1 * min(h, w):
            raise
        return data.extract_faces(blob, aligned=True)[0].image


def explorer(
    faces: Mapping[str, np.ndarray],
    model_names: Sequence[str],
    *,
    load: Callable[[str], FRModel] | None = None,
    n_passes: int = 100,
    seed: int = 0,
):
    """A small app: pick or upload a face, pick a network, disturb the face, see Q̂ and P(I).

    Args:
        faces: ``{name: (112, 112, 3) uint8 RGB face}`` offered in the face menu.
        model_names: networks offered in the network menu (``models.load_model`` names).
        load: ``name -> FRModel`` (default ``models.load_model``, which caches).
        n_passes, seed: SER-FIQ settings for every redraw.
    Returns:
        An ``ipywidgets.VBox``; its ``.update()`` attribute redraws with the current
        settings and returns the latest ``PLQResult``. The default view is drawn once
        on creation, so the cell shows a result even where nobody moves a slider.

    Taught in: 05_interactive_explorer.ipynb
    """
    import ipywidgets as W
    from IPython.display import display

    from .models import load_model

    load = load or load_model
    choices = dict(faces)
    face_dd = W.Dropdown(options=list(choices), description="face")
    model_dd = W.Dropdown(options=list(model_names), description="network")
    upload = W.FileUpload(accept="image/*", multiple=False, description="upload")
    slider = dict(continuous_update=False, style={"description_width": "70px"})
    x = W.IntSlider(56, 0, 111, description="occluder x", **slider)
    y = W.IntSlider(52, 0, 111, description="occluder y", **slider)
    size = W.IntSlider(0, 0, MAX_OCCLUDER, description="size", **slider)
    blur = W.FloatSlider(0.0, min=0.0, max=MAX_BLUR, step=0.25, description="blur σ", **slider)
    noise = W.FloatSlider(0.0, min=0.0, max=MAX_NOISE, step=2.0, description="noise σ", **slider)
    out, status = W.Output(), W.Label()
    latest: dict[str, PLQResult] = {}

    def update(*_):
        img = apply_edits(
            choices[face_dd.value],
            occluder=(x.value, y.value, size.value),
            blur=blur.value,
            noise=noise.value,
            seed=seed,
        )
        fig, res = render_explanation(
            load(model_dd.value), img, n_passes=n_passes, seed=seed, title=model_dd.value
        )
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)
        latest["result"] = res
        status.value = f"{face_dd.value} · {model_dd.value} · Q̂ = {float(res.quality.q[0]):.3f}"
        return res

    def on_upload(change):
        try:
            choices["uploaded"] = face_from_upload(change["new"])
        except PixelfiqError as exc:
            status.value = f"upload failed: {exc}"
            return
        face_dd.options = list(choices)
        face_dd.value = "uploaded"  # triggers update

    for widget in (face_dd, model_dd, x, y, size, blur, noise):
        widget.observe(update, names="value")
    upload.observe(on_upload, names="value")
    controls = W.HBox(
        [W.VBox([face_dd, model_dd, upload]), W.VBox([x, y, size]), W.VBox([blur, noise])]
    )
    box = W.VBox([controls, status, out])
    box.update, box.controls = (
        update,
        dict(
            face=face_dd, model=model_dd, upload=upload, x=x, y=y, size=size, blur=blur, noise=noise
        ),
    )
    update()
    return box
