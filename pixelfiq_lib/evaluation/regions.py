"""Face regions of an aligned crop, and per-region summaries of a PLQ map.

Regions are built from the 5 landmarks of the aligned 112x112 crop (the ArcFace
template by default, or a face's own landmarks mapped into the crop with
:func:`crop_landmarks`). Sides are named **from the viewer's side**, like the
template: ``left_eye`` is the eye on the image-left, which is the subject's right eye.

With d the inter-ocular distance, every pixel belongs to exactly one region (the
masks partition the crop):

* ``background`` — outside an ellipse around the face (from 1.2 d above the eye
  line to 0.8 d below the mouth, 1.15 d to each side of the nose);
* ``left_eye``, ``right_eye`` — ellipses around each eye (semi-axes 0.38 d, 0.22 d);
* ``mouth`` — an ellipse around the mouth corners;
* ``nose`` — an ellipse from the bridge between the eyes to below the nose tip;
* ``forehead`` — the rest of the face above the eye line (eyebrows included);
* ``chin`` — the rest of the face below the mouth;
* ``left_cheek``, ``right_cheek`` — what remains, split at the nose.

Where shapes overlap, earlier regions of :data:`REGIONS` win (eyes, mouth, nose).
A region is compared with **the rest of the face** (the face ellipse minus the
region), not with the whole image: the centre of an aligned face always carries
large gradients and the background hardly any.

Taught in: 04_paper_experiments.ipynb
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..data import ARCFACE_TEMPLATE, AlignedFace
from ..errors import InvalidArgumentError

REGIONS = (
    "left_eye",
    "right_eye",
    "mouth",
    "nose",
    "forehead",
    "chin",
    "left_cheek",
    "right_cheek",
    "background",
)
FACE_REGIONS = REGIONS[:-1]

_EYE_HINT = "occlusion (glasses, hair, a hand), a closed eye, glare or shadow"
#: Words for reports, and what to check when a region has low pixel quality.
REGION_TEXT = {
    "left_eye": ("image-left eye", _EYE_HINT),
    "right_eye": ("image-right eye", _EYE_HINT),
    "mouth": ("mouth", "a mask, a hand or an open mouth"),
    "nose": ("nose", "a mask, glare or a strong shadow"),
    "forehead": ("forehead", "a cap, hat or hair over the brows, or over-exposure"),
    "chin": ("chin", "a mask, a scarf or a hand"),
    "left_cheek": ("image-left cheek", "a hand, hair or a hard shadow"),
    "right_cheek": ("image-right cheek", "a hand, hair or a hard shadow"),
    "background": ("background", "clutter close to the face"),
}


class RegionStat(NamedTuple):
    """One region: its mean P and the fraction of its pixels below the threshold."""

    region: str
    mean_plq: float
    share_low: float


def crop_landmarks(face: AlignedFace) -> np.ndarray:
    """A face's own 5 landmarks in its aligned crop (the template if pre-aligned).

    Args:
        face: an :class:`~pixelfiq_lib.data.AlignedFace`.
    Returns:
        (5, 2) float32 (x, y) in 112x112 crop pixels, ArcFace order.
    """
    if face.face is None:
        return np.array(ARCFACE_TEMPLATE)
    from insightface.utils import face_align

    size = face.image.shape[0]
    lmk = np.asarray(face.face.landmarks, np.float32)
    with warnings.catch_warnings():  # insightface uses an API scikit-image deprecates
        warnings.simplefilter("ignore", FutureWarning)
        matrix = face_align.estimate_norm(lmk, size)
    return ((np.c_[lmk, np.ones(5)] @ matrix.T) * 112.0 / size).astype(np.float32)


def _frame(landmarks: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """Pixel coordinates along the eye line (u) and down (v), from the eye midpoint.

    Returns:
        u, v: (size, size) grids; lmk: (5, 2) landmarks in (u, v); d: the
        inter-ocular distance (a 0-d array).
    """
    lmk = np.asarray(landmarks, np.float64)
    if lmk.shape != (5, 2) or not np.isfinite(lmk).all():
        raise InvalidArgumentError(
            f"landmarks must be a finite (5, 2) array, got shape {lmk.shape}"
        )
    d = np.hypot(*(lmk[1] - lmk[0]))
    if d < 1.0:
        raise InvalidArgumentError("the two eye landmarks coincide")
    cos, sin = (lmk[1] - lmk[0]) / d
    origin = (lmk[0] + lmk[1]) / 2

    def to_uv(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = x - origin[0], y - origin[1]
        return cos * dx + sin * dy, -sin * dx + cos * dy

    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    return (*to_uv(xx, yy), np.stack(to_uv(lmk[:, 0], lmk[:, 1]), axis=1), d)


def _ellipse(
    u: np.ndarray, v: np.ndarray, centre: tuple[float, float], semi_u: float, semi_v: float
) -> np.ndarray:
    return ((u - centre[0]) / semi_u) ** 2 + ((v - centre[1]) / semi_v) ** 2 <= 1.0


def _shapes(u: np.ndarray, v: np.ndarray, lmk: np.ndarray, d: float) -> dict[str, np.ndarray]:
    """The raw, overlapping shapes in the face frame (before priorities)."""
    mouth = (lmk[3] + lmk[4]) / 2
    top, bottom = -1.2 * d, mouth[1] + 0.8 * d
    nose_half = lmk[2, 1] / 2  # half the height from the eye line to the nose tip
    return {
        "face": _ellipse(u, v, (lmk[2, 0], (top + bottom) / 2), 1.15 * d, (bottom - top) / 2),
        "left_eye": _ellipse(u, v, lmk[0], 0.38 * d, 0.22 * d),
        "right_eye": _ellipse(u, v, lmk[1], 0.38 * d, 0.22 * d),
        "mouth": _ellipse(u, v, mouth, abs(lmk[4, 0] - lmk[3, 0]) / 2 + 0.15 * d, 0.3 * d),
        "nose": _ellipse(u, v, (lmk[2, 0], nose_half + 0.05 * d), 0.3 * d, nose_half + 0.2 * d),
        "forehead": v < 0.0,
        "chin": v > mouth[1] + 0.3 * d,
        "left_cheek": u < lmk[2, 0],
    }


def region_masks(landmarks: np.ndarray | None = None, size: int = 112) -> dict[str, np.ndarray]:
    """Boolean masks of the face regions; together they partition the crop.

    Args:
        landmarks: (5, 2) (x, y) in crop pixels, ArcFace order (image-left eye,
            other eye, nose tip, image-left mouth corner, other corner); the
            ArcFace template (scaled to ``size``) by default.
        size: side of the square crop.
    Returns:
        ``{region: (size, size) bool}`` for every name in :data:`REGIONS`, disjoint.
    Example:
        >>> region_masks()["left_eye"][52, 38]
        True
    Taught in: 04_paper_experiments.ipynb
    """
    lmk = ARCFACE_TEMPLATE * (size / 112.0) if landmarks is None else landmarks
    shapes = _shapes(*_frame(lmk, size))
    shapes["right_cheek"] = ~shapes["left_cheek"]
    free = shapes["face"].copy()
    masks = {}
    for name in FACE_REGIONS:
        masks[name] = free & shapes[name]
        free &= ~shapes[name]
    masks["background"] = ~shapes["face"]
    return masks


def _as_map(plq: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(plq, torch.Tensor):
        plq = plq.detach().cpu().numpy()
    arr = np.asarray(plq).squeeze()
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or not np.isfinite(arr).all():
        raise InvalidArgumentError(
            f"plq must be one finite square (H, W) map, got shape {arr.shape}"
        )
    return arr.astype(np.float64)


def _stats(arr: np.ndarray, masks: dict[str, np.ndarray], low: float) -> list[RegionStat]:
    return [
        RegionStat(name, float(arr[m].mean()), float((arr[m] < low).mean()))
        for name, m in masks.items()
        if m.any()
    ]


def region_summary(
    plq: torch.Tensor | np.ndarray,
    landmarks: np.ndarray | None = None,
    *,
    low_threshold: float = 0.5,
) -> list[RegionStat]:
    """Mean pixel quality and share of low-quality pixels per region.

    Args:
        plq: (H, W) PLQ map in [0, 1] (higher = more useful), e.g. ``res.plq[i]``.
        landmarks: (5, 2) landmarks in the crop; the ArcFace template by default.
        low_threshold: pixels with P below it count as low quality (0.5 = the
            calibrated median of typical faces, the yellow of the RdYlGn colour map).
    Returns:
        One :class:`RegionStat` per region of :data:`REGIONS`, in that order;
        ``share_low`` is the fraction *of that region's pixels* below the threshold.
    Taught in: 04_paper_experiments.ipynb
    """
    arr = _as_map(plq)
    return _stats(arr, region_masks(landmarks, arr.shape[0]), low_threshold)


def region_reference(
    plqs: torch.Tensor | np.ndarray, landmarks: np.ndarray | None = None
) -> dict[str, float]:
    """The typical spatial pattern of PLQ maps: each region's mean / the face mean.

    On clean faces some regions are always lower than others (SFace: the cheeks),
    so "lowest region" alone mostly names a cheek; dividing by this pattern names
    the region that is low *for its place in the face*.

    Args:
        plqs: (N, H, W) maps of typical, good faces (e.g. ``res.plq``).
        landmarks: (5, 2) landmarks shared by the crops; the template by default.
    Returns:
        ``{face region: mean over the maps of region mean / face mean}``.
    Taught in: 04_paper_experiments.ipynb
    """
    arr = torch.as_tensor(plqs).detach().cpu().double().numpy()
    if arr.ndim != 3 or arr.shape[0] < 1:
        raise InvalidArgumentError(f"plqs must be (N, H, W) maps, got {arr.shape}")
    masks = region_masks(landmarks, arr.shape[-1])
    face = arr[:, ~masks["background"]].mean(1)
    return {k: float((arr[:, masks[k]].mean(1) / face).mean()) for k in FACE_REGIONS}


def describe_lowest_region(
    plq: torch.Tensor | np.ndarray,
    landmarks: np.ndarray | None = None,
    *,
    reference: dict[str, float] | None = None,
    low_threshold: float = 0.5,
) -> str:
    """One sentence naming the face region with the lowest pixel quality.

    The region is compared with the rest of the face (the other face regions; the
    background is left out), and the sentence says what to check.

    Args:
        plq, landmarks, low_threshold: as in :func:`region_summary`.
        reference: from :func:`region_reference`; if given, the region whose mean,
            relative to the face mean, falls furthest below its typical ratio is
            named (recommended for real maps), else the region with the lowest mean.
    Returns:
        E.g. "The image-left eye region has the lowest pixel quality (mean 0.21 vs
        0.55 for the rest of the face; 83% of its pixels are below 0.5). Check for
        occlusion (glasses, hair, a hand), a closed eye, glare or shadow."
    Taught in: 04_paper_experiments.ipynb
    """
    arr = _as_map(plq)
    masks = region_masks(landmarks, arr.shape[0])
    face = {k: m for k, m in masks.items() if k != "background"}
    scale = arr[~masks["background"]].mean() + 1e-12
    ref = reference or dict.fromkeys(FACE_REGIONS, 1.0 / scale)
    worst = min(_stats(arr, face, low_threshold), key=lambda s: s.mean_plq / scale / ref[s.region])
    rest = arr[~masks["background"] & ~masks[worst.region]].mean()
    words, hint = REGION_TEXT[worst.region]
    where = " for its place in the face" if reference else ""
    typical = f", typically {ref[worst.region]:.2f}x the face mean" if reference else ""
    return (
        f"The {words} region has the lowest pixel quality{where} (mean "
        f"{worst.mean_plq:.2f} vs {rest:.2f} for the rest of the face{typical}; "
        f"{worst.share_low:.0%} of its pixels are below {low_threshold:g}). "
        f"Check for {hint}."
    )


# ----------------------------------------------------- verdicts against typical faces
#: Per-network region references of map methods (:func:`region_mean_reference` of the
#: clean FIT faces of bbt), written by ``benchmarks/region_reference.py``.
REGION_REFERENCE_FILE = Path(__file__).with_name("region_reference.json")


def region_means(maps: torch.Tensor | np.ndarray, landmarks: np.ndarray | None = None) -> dict:
    """``{face region: (N,) mean of each map over the region}`` for (N, H, W) maps."""
    arr = torch.as_tensor(maps).detach().cpu().double().numpy()
    if arr.ndim == 2:
        arr = arr[None]
    masks = region_masks(landmarks, arr.shape[-1])
    return {k: arr[:, masks[k]].mean(1) for k in FACE_REGIONS}


def region_mean_reference(
    maps: torch.Tensor | np.ndarray, landmarks: np.ndarray | None = None
) -> dict[str, dict[str, float]]:
    """Mean and std over typical faces of each region's mean map value.

    Args:
        maps: (N, H, W) maps of one method on typical, clean faces (N >= 2).
    Returns:
        ``{"mean": {region: float}, "std": {region: float}}`` over the face regions.
    """
    means = region_means(maps, landmarks)
    if len(next(iter(means.values()))) < 2:
        raise InvalidArgumentError("region_mean_reference needs at least 2 maps")
    return {
        "mean": {k: float(v.mean()) for k, v in means.items()},
        "std": {k: float(v.std()) for k, v in means.items()},
    }


def _reference_table() -> dict:
    if not REGION_REFERENCE_FILE.exists():
        return {}
    return _read_reference(REGION_REFERENCE_FILE.stat().st_mtime_ns)


@functools.lru_cache(maxsize=1)
def _read_reference(_mtime: int) -> dict:
    # keyed by the file's mtime: a rewritten reference is read again
    return json.loads(REGION_REFERENCE_FILE.read_text())


def network_region_reference(model_name: str, method: str) -> dict | None:
    """The packaged region reference of ``method`` maps for a network, or ``None``."""
    return _reference_table().get("references", {}).get(model_name, {}).get(method)


def lowest_region(
    qmap: torch.Tensor | np.ndarray,
    reference: dict[str, dict[str, float]] | None = None,
    landmarks: np.ndarray | None = None,
) -> tuple[str, float]:
    """The face region whose map is lowest relative to the same region on typical faces.

    Args:
        qmap: (H, W) map of any method, higher = more useful.
        reference: :func:`region_mean_reference` of the same method and network
            (:func:`network_region_reference`); without one, regions are compared with
            the face's own mean and spread of region means.
        landmarks: (5, 2) crop landmarks; the ArcFace template by default.
    Returns:
        ``(region, score)``: score = (region mean - typical mean) / typical std, a
        z-score (negative = lower than on typical faces); the region with the lowest.
    """
    arr = _as_map(qmap)
    means = {k: float(v[0]) for k, v in region_means(arr, landmarks).items()}
    if reference is None:
        vals = np.array(list(means.values()))
        mu = dict.fromkeys(means, float(vals.mean()))
        sd = dict.fromkeys(means, float(vals.std()))
    else:
        mu, sd = reference["mean"], reference["std"]
    z = {k: (means[k] - mu[k]) / (sd[k] + 1e-12) for k in means}
    worst = min(z, key=z.get)
    return worst, float(z[worst])


def verdict_text(region: str, score: float) -> str:
    """A short sentence for a figure: which region lowers quality and what to check."""
    words, hint = REGION_TEXT[region]
    return f"Lowest for its place: {words} (z = {score:+.1f}). Check for {hint}."
