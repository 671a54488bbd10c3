"""Counterfactual quality maps: which part of the face, replaced by face-like content,
would raise the network's quality?

The paper's map is the saliency of the embedding's component sum; its pattern does not
depend on quality (notebook 02), and on pasted occluders it is near chance. The maps
here ask the network a counterfactual question instead (benchmarks/RESULTS.md,
"Localisation"):

* :func:`counterfactual_map` (``--map counterfactual``): the face region is cut into
  SLIC superpixels at several granularities; each superpixel in turn is replaced by the
  same pixels of the **mean face** (:func:`mean_face`, matched to the image's brightness
  and contrast) and the gain of the raw SER-FIQ quality Q, with **fixed dropout masks**,
  is measured. A pixel gets minus the mean gain of its segments: a segment whose
  replacement raises Q is harmful (low map). Superpixel borders follow occluder borders.
  Forward passes only, so it works for networks without gradients.
* :func:`deviation_map`: a model-free control on the same superpixels, the mean
  |image - matched mean face| of each segment (no network at all).
* :func:`counterfactual_prior_map` (``--map counterfactual_prior``): the equal-weight
  rank sum of the two. **Not purely the network's quality**: its deviation half blames
  anything unlike an average face (a beard, a hat, make-up) whether or not it lowers
  quality, and misses occluders that look face-like after brightness matching (the
  textured face mask). It localises dark occluders and sunglasses best.

Raw Q (not Q̂) is used because Q̂'s sigmoid saturates on heavily occluded faces, where
differences would vanish. Copies are scored through :func:`~.quality.body_features`
in the device's chunks.

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..data.checks import check_images
from ..errors import InvalidArgumentError
from .fills import gaussian_blur
from .quality import body_features, serfiq_from_features

if TYPE_CHECKING:
    from ..models.base import FRModel

#: Packaged mean face: (112, 112, 3) uint8 RGB, see :func:`mean_face`.
MEAN_FACE_FILE = Path(__file__).with_name("mean_face.npy")
#: The face region the superpixels cover and the fill is matched in, (x0, y0, x1, y1),
#: exclusive end, of the aligned 112x112 crop.
SEGMENT_AREA = (16, 20, 96, 108)
#: Where brightness and contrast of the mean face are matched to the image.
MATCH_BOX = (20, 24, 92, 104)
#: SLIC granularities and compactness (chosen on the FIT identities of bbt, see
#: benchmarks/RESULTS.md; compactness 10 beat 30 on black squares and sunglasses).
N_SEGMENTS, COMPACTNESS = (25, 50, 100), 10.0
#: Dropout passes of the counterfactual maps (T 50: AUROC 0.85 vs 0.80 at T 10 on FIT).
COUNTERFACTUAL_PASSES = 50


@functools.lru_cache(maxsize=1)
def _mean_face_array() -> np.ndarray:
    return np.load(MEAN_FACE_FILE)


def mean_face() -> torch.Tensor:
    """The packaged mean face as a (3, 112, 112) float32 tensor, RGB 0..255.

    Made once by ``benchmarks/calibrate.py --mean-face``: the pixel-wise mean of the 20
    aligned bbt faces of the FIT identities amy, bernadette, howard and leonard (never
    a face the benchmarks report on), rounded to uint8. It is an image, not a network
    constant: every network uses the same one.
    """
    arr = _mean_face_array()
    return torch.from_numpy(arr.astype(np.float32)).permute(2, 0, 1).contiguous()


def make_mean_face(faces: Sequence[np.ndarray]) -> np.ndarray:
    """Pixel-wise mean of aligned (112, 112, 3) uint8 faces, rounded: (112, 112, 3) uint8."""
    if len(faces) == 0:
        raise InvalidArgumentError("make_mean_face needs at least one face")
    stack = np.stack([np.asarray(f, np.float64) for f in faces])
    return np.clip(np.round(stack.mean(0)), 0, 255).astype(np.uint8)


def _box_mask(box: tuple[int, int, int, int], size: int = 112) -> torch.Tensor:
    m = torch.zeros(size, size, dtype=torch.bool)
    m[box[1] : box[3], box[0] : box[2]] = True
    return m


def matched_reference(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``reference`` shifted and scaled to the mean and std of ``image`` in :data:`MATCH_BOX`.

    Args:
        image, reference: (3, 112, 112) float RGB 0..255.
    Returns:
        (3, 112, 112) float32 in 0..255.
    """
    box = _box_mask(MATCH_BOX).to(image.device)
    ref = reference.to(image.device).float()
    r, i = ref[:, box], image.float()[:, box]
    return ((ref - r.mean()) / (r.std() + 1e-6) * i.std() + i.mean()).clamp(0, 255)


def superpixel_segments(
    image: torch.Tensor,
    n_segments: Sequence[int] = N_SEGMENTS,
    compactness: float = COMPACTNESS,
    area: tuple[int, int, int, int] = SEGMENT_AREA,
) -> torch.Tensor:
    """SLIC superpixels of one image inside ``area`` at several granularities.

    Args:
        image: (3, H, W) RGB 0..255.
    Returns:
        (P, H, W) float32 0/1 masks, one per segment (granularities stacked); P is
        about ``sum(n_segments)``. Deterministic (SLIC has no random state).
    """
    from skimage.segmentation import slic

    x0, y0, x1, y1 = area
    crop = image[:, y0:y1, x0:x1].detach().permute(1, 2, 0).cpu().double().numpy() / 255.0
    masks = []
    for n in n_segments:
        lab = slic(crop, n_segments=int(n), compactness=compactness, start_label=0, channel_axis=-1)
        for k in np.unique(lab):
            m = np.zeros(image.shape[1:], np.float32)
            m[y0:y1, x0:x1] = lab == k
            masks.append(m)
    return torch.from_numpy(np.stack(masks))


def raw_quality(
    model: FRModel,
    images: torch.Tensor,
    *,
    n_passes: int = COUNTERFACTUAL_PASSES,
    seed: int = 0,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Raw SER-FIQ Q of many copies with the same dropout masks (``seed``), no gradients.

    The body runs in the device's chunks (:func:`~.quality.body_features`).

    Returns:
        (N,) float32 on the CPU.
    """
    with torch.no_grad():
        feat = body_features(model, images.to(model.device), chunk_size)
        return serfiq_from_features(model, feat, n_passes=n_passes, seed=seed).q_raw.float().cpu()


def _fill_out(qmap: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Pixels outside the segment area get the map's maximum: never blamed."""
    qmap = qmap.clone()
    qmap[~inside] = qmap[inside].max()
    return qmap


def counterfactual_map(
    model: FRModel,
    images: torch.Tensor,
    *,
    reference: torch.Tensor | None = None,
    n_segments: Sequence[int] = N_SEGMENTS,
    compactness: float = COMPACTNESS,
    area: tuple[int, int, int, int] = SEGMENT_AREA,
    n_passes: int = COUNTERFACTUAL_PASSES,
    seed: int = 0,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Superpixel mean-face fill of the raw quality Q: (B, H, W), higher = more useful.

    Args:
        model: an :class:`FRModel`. images: (B, 3, 112, 112) float RGB 0..255.
        reference: (3, 112, 112) fill image; the packaged :func:`mean_face` by default.
        n_segments, compactness, area: the SLIC segmentation (:func:`superpixel_segments`).
        n_passes, seed: SER-FIQ T and the seed of the dropout masks shared by all copies.
        chunk_size: copies per body pass (default: the device's).
    Returns:
        (B, 112, 112) float32 in units of raw Q: minus the mean quality gain of the
        segments covering the pixel (0 = replacing it changes nothing; negative =
        replacing it by face-like content raises Q). Deterministic for a seed.
    Cost: 1 + about ``sum(n_segments)`` (≈ 175) body forwards per face, no backward.
    """
    images = check_images(images, model)
    ref = mean_face() if reference is None else reference.float().cpu()
    inside = _box_mask(area)
    out = []
    for img in images.detach().float().cpu():
        masks = superpixel_segments(img, n_segments, compactness, area)
        m = masks[:, None]
        fill = matched_reference(img, ref)
        copies = torch.cat([img[None], img[None] * (1 - m) + fill[None] * m])
        q = raw_quality(model, copies, n_passes=n_passes, seed=seed, chunk_size=chunk_size)
        gain = q[1:] - q[0]
        harm = (gain[:, None, None] * masks).sum(0) / masks.sum(0).clamp_min(1e-6)
        out.append(_fill_out(-harm, inside))
    return torch.stack(out).float().to(images.device)


def deviation_map(
    images: torch.Tensor,
    *,
    reference: torch.Tensor | None = None,
    n_segments: Sequence[int] = N_SEGMENTS,
    compactness: float = COMPACTNESS,
    area: tuple[int, int, int, int] = SEGMENT_AREA,
) -> torch.Tensor:
    """Model-free control: minus each superpixel's mean |image - matched mean face|.

    Ignores the network; it is the trivial "unlike a face" baseline any occluder
    localiser has to beat. Returns (B, 112, 112) float32, higher = closer to the mean
    face. Cost: 0 forwards.
    """
    ref = mean_face() if reference is None else reference.float().cpu()
    inside = _box_mask(area)
    out = []
    for img in images.detach().float().cpu():
        dev = (img - matched_reference(img, ref)).abs().mean(0)
        masks = superpixel_segments(img, n_segments, compactness, area)
        score = (masks * dev).sum((1, 2)) / masks.sum((1, 2)).clamp_min(1e-6)
        qmap = -(score[:, None, None] * masks).sum(0) / masks.sum(0).clamp_min(1e-6)
        out.append(_fill_out(qmap, inside))
    return torch.stack(out).float().to(images.device)


def rank_map(maps: torch.Tensor) -> torch.Tensor:
    """Per-face pixel ranks scaled to (0, 1] (ties get their mean rank): (B, H, W) float32.

    Scale-free: makes maps of different units comparable and displayable in [0, 1].
    """
    from scipy.stats import rankdata

    arr = maps.detach().cpu().double().numpy()
    ranks = np.stack([rankdata(f.ravel()).reshape(f.shape) / f.size for f in arr])
    return torch.from_numpy(ranks).float().to(maps.device)


def combine_prior(quality_map: torch.Tensor, prior_map: torch.Tensor) -> torch.Tensor:
    """Equal-weight mean of the per-face ranks of a quality map and the deviation prior."""
    return (rank_map(quality_map) + rank_map(prior_map)) / 2


def counterfactual_prior_map(model: FRModel, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """:func:`counterfactual_map` combined with the model-free :func:`deviation_map`.

    Half of this map is **not the network's quality**: it is how unlike the mean face
    each superpixel looks. Use it to find dark occluders and sunglasses (best measured
    localiser there); use :func:`counterfactual_map` to explain the network.

    Returns:
        (B, 112, 112) float32 in (0, 1] (mean of the two per-face rank maps), higher =
        more useful. Cost: as :func:`counterfactual_map`.
    """
    seg = {k: kwargs[k] for k in ("reference", "n_segments", "compactness", "area") if k in kwargs}
    return combine_prior(counterfactual_map(model, images, **kwargs), deviation_map(images, **seg))


def smooth_maps(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, H, W) maps blurred with a Gaussian of ``sigma`` px (0 = unchanged)."""
    if sigma <= 0:
        return maps
    return gaussian_blur(maps[:, None].float(), sigma)[:, 0]
