"""The counterfactual-gradient map: where would a face-like patch raise quality, and
which textures does quality depend on? At a fraction of the full counterfactual's cost.

Two halves, both of the network's own raw SER-FIQ quality Q with the **same fixed
dropout masks** (common random numbers, so differences between copies are not swamped
by Monte-Carlo noise even at a small T):

* a **coarse counterfactual**: :func:`.counterfactual.counterfactual_map` on one SLIC
  granularity of 25 segments, each replaced by the brightness-matched mean face
  (≈ 26 body forwards instead of ≈ 176). It finds flat and dark occluders (squares,
  sunglasses) by the quality a face-like patch would restore;
* the **smoothed quality gradient** |∂Q/∂I| (mean over RGB, Gaussian sigma 4 px), one
  forward and backward. It finds textures the counterfactual misses: a noise patch is
  replaced by a smooth mean-face patch that the network dislikes as well, yet the
  gradient of Q is large over the noise.

The map is the geometric mean of the two per-face rank maps
(:func:`.counterfactual.rank_map`), in (0, 1], higher = more useful: a pixel is low when
either half puts it low, and lowest when both do. The mean of the ranks was tried and
not kept: the lenses' edges of sunglasses carry large quality gradients, and an
average lets the gradient half outvote the counterfactual there. All constants (one
granularity of 25, T 20, the geometric mean, sigma 4) were chosen on the FIT identities
of bbt only (``evaluation.localisation.FIT_IDENTITIES``; benchmarks/RESULTS.md,
"Localisation").

Tried on the same FIT faces and not kept: fills from the face itself (per-segment Telea
inpainting from the segment's neighbours, the mirrored face, the blurred face, alone or
as the better of two fills), the first-order effect of each segment from gradients with
respect to its blend mask (integrated along the path to the fill; its segment ranking
agreed poorly with the exact counterfactual), refining the most harmful coarse segments
with finer ones, and more dropout passes; see RESULTS.md for the numbers.

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ..data.checks import check_images
from .batching import chunk_size as chunk_size_for
from .counterfactual import COMPACTNESS, SEGMENT_AREA, counterfactual_map, rank_map, smooth_maps
from .quality import serfiq_from_features

if TYPE_CHECKING:
    from ..models.base import FRModel

#: One SLIC granularity for the counterfactual half (FIT: as good as 25/50/100 together).
FAST_SEGMENTS = (25,)
#: Dropout passes of both halves (common random numbers; FIT: T 20 as good as T 50).
FAST_PASSES = 20
#: Gaussian sigma (px) of the gradient half, the library's map smoothing.
GRADIENT_SIGMA = 4.0


def raw_quality_gradient(
    model: FRModel,
    images: torch.Tensor,
    *,
    n_passes: int = FAST_PASSES,
    seed: int = 0,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """∂Q/∂I of the raw SER-FIQ quality Q through fixed dropout masks: (B, 3, H, W).

    Raw Q, not Q̂: Q̂'s sigmoid flattens the gradient of very low-quality faces.
    """
    images = check_images(images, model)
    out = []
    for chunk in images.split(chunk_size_for(images.device, chunk_size, heavy=True)):
        x = chunk.detach().clone().requires_grad_(True)
        q = serfiq_from_features(model, model.features(x), n_passes=n_passes, seed=seed).q_raw
        out.append(torch.autograd.grad(q.sum(), x)[0])
    return torch.cat(out)


def smoothed_quality_gradient(
    model: FRModel, images: torch.Tensor, *, sigma: float = GRADIENT_SIGMA, **kwargs
) -> torch.Tensor:
    """|∂Q/∂I| (mean over RGB) blurred with ``sigma`` px: (B, H, W) >= 0, higher = more
    influence on quality. ``kwargs``: those of :func:`raw_quality_gradient`."""
    return smooth_maps(raw_quality_gradient(model, images, **kwargs).abs().mean(1), sigma)


def counterfactual_gradient_map(
    model: FRModel,
    images: torch.Tensor,
    *,
    n_segments: Sequence[int] = FAST_SEGMENTS,
    n_passes: int = FAST_PASSES,
    seed: int = 0,
    gradient_weight: float = 1.0,
    sigma: float = GRADIENT_SIGMA,
    compactness: float = COMPACTNESS,
    area: tuple[int, int, int, int] = SEGMENT_AREA,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Coarse counterfactual + smoothed quality gradient: (B, H, W) in (0, 1].

    Args:
        model: an :class:`FRModel`. images: (B, 3, 112, 112) float RGB 0..255.
        n_segments, compactness, area: the counterfactual half's SLIC segmentation.
        n_passes, seed: SER-FIQ T and the dropout masks shared by both halves.
        gradient_weight: exponent of the gradient half's ranks (the counterfactual's
            is 1; 0 = the coarse counterfactual's ranks alone).
        sigma: smoothing of the gradient half (px).
        chunk_size: images per body pass (default: the device's).
    Returns:
        ``(rank(counterfactual) * rank(gradient) ** w) ** (1 / (1 + w))`` per face,
        higher = more useful; deterministic for a seed.
    Cost: 1 + about ``sum(n_segments)`` body forwards (≈ 26) and one forward + backward
    per face, each with T head passes.
    """
    images = check_images(images, model)
    cf = counterfactual_map(
        model,
        images,
        n_segments=n_segments,
        compactness=compactness,
        area=area,
        n_passes=n_passes,
        seed=seed,
        chunk_size=chunk_size,
    )
    grad = smoothed_quality_gradient(
        model, images, sigma=sigma, n_passes=n_passes, seed=seed, chunk_size=chunk_size
    )
    w = float(gradient_weight)
    both = rank_map(cf) * rank_map(grad) ** w
    return (both ** (1.0 / (1.0 + w))).to(images.device)
