"""Fitting a network's constants on reference faces: alpha and r of Q̂, then ``a``.

The shipped networks' constants were produced this way (benchmarks/calibrate.py);
bring-your-own networks use the same rules.

Taught in: 07_bring_your_own_model.ipynb
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import InvalidArgumentError
from .backprop import calibrate_a, pixel_quality_map
from .quality import serfiq_quality

if TYPE_CHECKING:
    from ..models.base import FRModel


def fit_scaling(q_raw: np.ndarray | torch.Tensor, coverage: float = 0.9) -> tuple[float, float]:
    """Fit alpha and r of Q̂ = sigmoid(alpha (Q - r)) to a network's raw qualities.

    Rule (the paper's constants follow it for ArcFace, whose raw Q of real faces sits
    in 0.86-0.90, mapped to about 0.07-0.93): ``r`` is the median raw Q of reference
    faces, and ``alpha`` maps the central ``coverage`` fraction of them onto
    [(1-coverage)/2, (1+coverage)/2] of the scaled range.

    Args:
        q_raw: raw SER-FIQ qualities of a set of typical, good faces (at least 5).
        coverage: fraction of reference faces mapped inside the central range.
    Returns:
        (alpha, r).
    Raises:
        InvalidArgumentError: fewer than 5 values, or a value that is not finite.
    Taught in: 07_bring_your_own_model.ipynb
    """
    q = np.asarray(torch.as_tensor(q_raw).detach().cpu(), dtype=np.float64).ravel()
    if q.size < 5 or not np.isfinite(q).all():
        raise InvalidArgumentError("fit_scaling needs at least 5 finite raw qualities")
    tail = (1.0 - coverage) / 2.0
    lo, r, hi = np.quantile(q, [tail, 0.5, 1.0 - tail])
    half_width = max(hi - r, r - lo, 1e-6)
    alpha = math.log((1.0 - tail) / tail) / half_width
    return float(alpha), float(r)


def calibrate_model(
    model: FRModel,
    images: torch.Tensor,
    *,
    fit_alpha_r: bool = True,
    n_passes: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """Fit a network's constants on reference faces: alpha and r, then ``a``.

    alpha and r follow :func:`quality.fit_scaling` (median raw Q -> Q̂ = 0.5); ``a``
    follows :func:`calibrate_a` (median Ŝ -> P = 0.5), computed with the fitted alpha, r
    because Ŝ scales with Q̂. The registry's constants for the shipped networks were
    produced this way (benchmarks/RESULTS.md, "Calibration").

    Args:
        model: the network. images: (B, 3, 112, 112) RGB 0..255 typical, good faces.
        fit_alpha_r: False keeps the model's alpha and r and fits only ``a``.
        n_passes, seed: SER-FIQ settings.
    Returns:
        ``{"alpha": ..., "r": ..., "plq_a": ...}``.
    Raises:
        InvalidImageError, InvalidArgumentError: as :func:`pixel_quality_map`.
    Taught in: 07_bring_your_own_model.ipynb
    """
    alpha, r = model.alpha, model.r
    if fit_alpha_r:
        alpha, r = fit_scaling(serfiq_quality(model, images, n_passes=n_passes, seed=seed).q_raw)
    res = pixel_quality_map(
        model, images, n_passes=n_passes, seed=seed, alpha=alpha, r=r, a="paper"
    )
    return {"alpha": float(alpha), "r": float(r), "plq_a": calibrate_a(res.saliency)}
