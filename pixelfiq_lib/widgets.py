"""Interactive explorers for the notebooks (ipywidgets, built-in widgets only).

Every widget wraps plain functions that work without Jupyter and are unit-tested:

* :func:`apply_edits` — occlude, blur and add noise to an aligned face;
* :func:`render_explanation` — Q̂ and a map of one face (the paper's PLQ map or any other
  map method), drawn as face | map | overlay;
* :func:`face_from_upload` — an uploaded file (FileUpload value or bytes) -> an aligned face
  (from ``data.uploads``);
* :func:`uploaded_files`, :func:`passes_for`, :func:`map_options`, :func:`status_text` — the
  small decisions the app makes (which file, how many passes for which network, which
  maps to offer, what to print).

ipywidgets is imported inside :func:`explorer` only, so the library itself does not
depend on Jupyter.

Taught in: 06_interactive_explorer.ipynb
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib import pyplot as plt

from . import data, viz
from .core.backprop import PLQResult, pixel_quality_map
from .core.maps import MAP_METHODS, RECOMMENDED_MAP, map_settings, quality_map, resolve_map_method
from .core.quality import QualityResult, serfiq_quality
from .data.uploads import face_from_upload, uploaded_files  # noqa: F401 (the app's uploads)
from .errors import InvalidArgumentError, PixelfiqError
from .evaluation import perturbations
from .models.base import FRModel

#: Largest occluder side, noise level and blur sigma the explorer's sliders offer.
MAX_OCCLUDER, MAX_NOISE, MAX_BLUR = 60, 60.0, 6.0
#: Monte-Carlo standard error of Q̂ from which the explorer prints a warning.
MAX_SE = 0.1
#: Width of one control; three columns of them fit a notebook in a 1280 px window.
CONTROL_WIDTH = "300px"
#: Size (inches, at 100 dpi) of the explorer's face | map | overlay figure: 660 px wide, so
#: it fits the notebook column of a 1280 px window even with JupyterLab's file browser open.
FIGSIZE = (6.6, 2.5)


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

    Taught in: 06_interactive_explorer.ipynb
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


@dataclass
class MapExplanation:
    """Q̂ and one map method's map of a face (the explorer's result for maps other than plq).

    Attributes:
        quality: SER-FIQ's :class:`QualityResult` of the face (T = the explorer's passes).
        map: (1, H, W) the method's map in its own units, higher = more useful.
        ranks: (1, H, W) the map's per-face pixel ranks in (0, 1], as drawn.
        method: the map method's name.
    """

    quality: QualityResult
    map: torch.Tensor
    ranks: torch.Tensor
    method: str


def render_explanation(
    model: FRModel,
    face,
    *,
    n_passes: int = 100,
    seed: int = 0,
    a: float | str | None = None,
    axes: Sequence[plt.Axes] | None = None,
    title: str | None = None,
    method: str = "plq",
    map_kwargs: Mapping | None = None,
) -> tuple[plt.Figure, PLQResult | MapExplanation]:
    """Compute Q̂ and a map of one face and draw face | map | overlay.

    Args:
        model: the network (any :class:`FRModel`).
        face: (112, 112, 3) uint8 RGB array or ``data.AlignedFace``.
        n_passes, seed, a: as in ``pixel_quality_map`` (Q̂ always uses these).
        axes: three matplotlib axes, or ``None`` for a new figure.
        title: text put before Q̂ in the figure title (e.g. the network's name).
        method: a map method of ``core.maps.MAP_METHODS`` or ``"recommended"``;
            ``"plq"`` (the paper's map) by default. Other maps are drawn as per-face ranks
            (``viz.show_map``): red = the least useful pixels of this face.
        map_kwargs: the method's own settings (e.g. ``map_settings(...)[method]``);
            ignored for ``"plq"``, which takes ``n_passes``, ``seed`` and ``a``.
    Returns:
        ``(fig, result)``: the figure (not shown, not closed) and, for ``"plq"``, the
        ``PLQResult`` of the single face (``result.plq`` has shape (1, 112, 112)), else a
        :class:`MapExplanation`.
    Raises:
        InvalidArgumentError: unknown ``method``.

    Taught in: 06_interactive_explorer.ipynb
    """
    img = _face_array(face)
    x = data.to_tensor(img)
    method = resolve_map_method(method)
    if method == "plq":
        res = pixel_quality_map(model, x, n_passes=n_passes, seed=seed, a=a)
        shown = res.plq[0]
    else:
        quality = serfiq_quality(model, x, n_passes=n_passes, seed=seed)
        values = quality_map(model, x, method, **dict(map_kwargs or {})).detach().cpu()
        from .core.counterfactual import rank_map

        res = MapExplanation(quality, values, rank_map(values), method)
        shown = res.ranks[0]
    q, se = float(res.quality.q[0]), float(res.quality.q_se[0])
    fig, axes = viz.plot_explanation(img, shown, q, axes=axes, q_se=se)
    if method != "plq":
        axes[1].set_title(f"{method} (rank)")
    if title:
        fig.suptitle(f"{title}: $\\hat{{Q}}$ = {q:.3f} ± {se:.3f}")
    return fig, res


def passes_for(model_name: str, n_passes: int | Mapping[str, int]) -> int:
    """The number of dropout passes T the explorer uses for one network.

    Args:
        model_name: the network's name.
        n_passes: one T for every network, or ``{name: T}`` (networks differ: at
            T = 100 MobileFaceNet's Q̂ has a Monte-Carlo error of about ±0.2, SFace's
            ±0.02; notebook 01).
    Returns:
        T for that network.
    Raises:
        InvalidArgumentError: the mapping has no entry for the network, or T < 2.

    Taught in: 06_interactive_explorer.ipynb
    """
    if isinstance(n_passes, Mapping):
        if model_name not in n_passes:
            raise InvalidArgumentError(
                f"n_passes has no entry for {model_name!r}: {dict(n_passes)}"
            )
        n_passes = n_passes[model_name]
    if int(n_passes) < 2:
        raise InvalidArgumentError(
            f"SER-FIQ needs at least 2 passes, got {n_passes} for {model_name!r}"
        )
    return int(n_passes)


def map_options(methods: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """The explorer's map menu: ``(label, method)`` pairs, the recommended map first.

    Args:
        methods: names of ``core.maps.MAP_METHODS`` to offer (default: all of them).
    Returns:
        The recommended map (labelled "recommended: where quality was lost"), the paper's
        map (labelled "the paper's: sensitivity of Σe"), then the others in registry order.
    Raises:
        InvalidArgumentError: an unknown method name.

    Taught in: 06_interactive_explorer.ipynb
    """
    names = list(MAP_METHODS) if methods is None else list(methods)
    unknown = [m for m in names if m not in MAP_METHODS]
    if unknown or not names:
        raise InvalidArgumentError(
            f"unknown map methods {unknown}; known: {', '.join(MAP_METHODS)}"
        )
    labels = {
        RECOMMENDED_MAP: f"{RECOMMENDED_MAP} (recommended: where quality was lost)",
        "plq": "plq (the paper's: sensitivity of Σe)",
    }
    first = [m for m in (RECOMMENDED_MAP, "plq") if m in names]
    return [(labels.get(m, m), m) for m in first + [m for m in names if m not in first]]


def status_text(
    face: str,
    model_name: str,
    q: float,
    q_se: float,
    n_passes: int,
    max_se: float = MAX_SE,
    method: str | None = None,
) -> str:
    """The explorer's status line: face, network, map, T and Q̂ ± its standard error.

    A warning is appended when the Monte-Carlo error reaches ``max_se``: differences of
    Q̂ below that size are noise, so the network needs more passes.

    Taught in: 06_interactive_explorer.ipynb
    """
    shown = f" · map {method}" if method else ""
    text = f"{face} · {model_name}{shown} · T = {n_passes} · Q̂ = {q:.3f} ± {q_se:.3f}"
    if q_se >= max_se:
        text += (
            f" · warning: ± {q_se:.2f} ≥ {max_se:g}, Q̂ is noise at this T; "
            f"give {model_name} more passes"
        )
    return text


def explorer(
    faces: Mapping[str, np.ndarray],
    model_names: Sequence[str],
    *,
    load: Callable[[str], FRModel] | None = None,
    n_passes: int | Mapping[str, int] = 100,
    seed: int = 0,
    max_se: float = MAX_SE,
    maps: Sequence[str] | None = None,
    default_map: str = "recommended",
    fast: bool = False,
):
    """A small app: pick or upload a face, a network and a map, disturb the face, see Q̂ and the map.

    Args:
        faces: ``{name: (112, 112, 3) uint8 RGB face}`` offered in the face menu.
        model_names: networks offered in the network menu (``models.load_model`` names).
        load: ``name -> FRModel`` (default ``models.load_model``, which caches).
        n_passes: T for every network, or ``{name: T}`` per network (:func:`passes_for`).
        seed: SER-FIQ seed for every redraw.
        max_se: the status line warns when Q̂'s standard error reaches it.
        maps: map methods offered in the map menu (:func:`map_options`; default all).
        default_map: the map shown first: ``"recommended"`` (``core.maps.RECOMMENDED_MAP``,
            the one measured to find what lowered quality) unless told otherwise.
        fast: the small per-method settings of FAST mode (``core.maps.map_settings``):
            the counterfactual map with T 10 and two superpixel granularities.
    Returns:
        An ``ipywidgets.VBox`` (children: controls, status line, figure); its
        ``.update()`` redraws with the current settings and returns the latest
        ``PLQResult``; ``.controls`` holds the widgets by name. The default view is
        drawn once on creation, so the cell shows a result even where nobody moves a
        slider. Every successful upload becomes its own menu entry (``"upload k:
        name"``) and is drawn once; a failed one names the file and leaves the face
        on screen as it was.

    Taught in: 06_interactive_explorer.ipynb
    """
    import ipywidgets as W
    from IPython.display import display

    from .models import load_model

    load = load or load_model
    choices = dict(faces)
    wide = dict(layout=W.Layout(width=CONTROL_WIDTH), style={"description_width": "70px"})
    face_dd = W.Dropdown(options=list(choices), description="face", **wide)
    model_dd = W.Dropdown(options=list(model_names), description="network", **wide)
    options = map_options(maps)
    default_map = RECOMMENDED_MAP if default_map == "recommended" else default_map
    if default_map not in [m for _, m in options]:
        raise InvalidArgumentError(f"default_map {default_map!r} is not offered: {options}")
    map_dd = W.Dropdown(options=options, value=default_map, description="map", **wide)
    upload = W.FileUpload(accept="image/*", multiple=False, description="upload")
    slider = dict(continuous_update=False, **wide)
    x = W.IntSlider(56, 0, 111, description="occluder x", **slider)
    y = W.IntSlider(52, 0, 111, description="occluder y", **slider)
    size = W.IntSlider(0, 0, MAX_OCCLUDER, description="size", **slider)
    blur = W.FloatSlider(0.0, min=0.0, max=MAX_BLUR, step=0.25, description="blur σ", **slider)
    noise = W.FloatSlider(0.0, min=0.0, max=MAX_NOISE, step=2.0, description="noise σ", **slider)
    out, status = W.Output(), W.HTML()
    latest: dict[str, PLQResult] = {}
    state = {"quiet": False, "uploads": 0}

    def update(*_):
        if state["quiet"]:  # menu being rebuilt: draw once, afterwards
            return latest.get("result")
        name, img = model_dd.value, choices[face_dd.value]
        t = passes_for(name, n_passes)
        img = apply_edits(
            img,
            occluder=(x.value, y.value, size.value),
            blur=blur.value,
            noise=noise.value,
            seed=seed,
        )
        method = map_dd.value
        settings = map_settings(t, seed, fast).get(method, {})
        axes = plt.subplots(1, 3, figsize=FIGSIZE)[1]
        fig, res = render_explanation(
            load(name),
            img,
            n_passes=t,
            seed=seed,
            axes=axes,
            title=f"{name}, T = {t}",
            method=method,
            map_kwargs=settings,
        )
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)
        latest["result"] = res
        q, se = float(res.quality.q[0]), float(res.quality.q_se[0])
        status.value = html.escape(status_text(face_dd.value, name, q, se, t, max_se, method))
        return res

    def on_upload(change):
        files = uploaded_files(change["new"])
        if not files:  # the widget was cleared (below), nothing new
            return
        fname = files[-1][0]
        try:
            face = face_from_upload(change["new"])
        except PixelfiqError as exc:
            status.value = html.escape(f"upload failed: {exc} (still showing {face_dd.value})")
        else:
            state["uploads"] += 1
            key = f"upload {state['uploads']}: {fname}"
            choices[key] = face
            state["quiet"] = True
            try:
                face_dd.options = list(choices)
                face_dd.value = key
            finally:
                state["quiet"] = False
            update()
        upload.value = ()  # the same file can be uploaded again and is seen as new

    for widget in (face_dd, model_dd, map_dd, x, y, size, blur, noise):
        widget.observe(update, names="value")
    upload.observe(on_upload, names="value")
    column = W.Layout(margin="0 12px 4px 0")
    controls = W.Box(
        [
            W.VBox([face_dd, model_dd, upload], layout=column),
            W.VBox([x, y, size], layout=column),
            W.VBox([map_dd, blur, noise], layout=column),
        ],
        layout=W.Layout(display="flex", flex_flow="row wrap"),
    )
    box = W.VBox([controls, status, out])
    box.update, box.controls = (
        update,
        dict(
            face=face_dd,
            model=model_dd,
            map=map_dd,
            upload=upload,
            x=x,
            y=y,
            size=size,
            blur=blur,
            noise=noise,
        ),
    )
    update()
    return box
