"""Confidence intervals over faces, shared by every benchmark of the maps.

Every mean over faces in the evaluation (localisation, deletion and insertion AUCs, the
region verdicts) carries a 95 % percentile bootstrap interval from
:func:`bootstrap_ci`; :func:`ci_record` makes the table record of one such mean.

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidArgumentError


def bootstrap_ci(
    values: Sequence[float], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean and percentile bootstrap CI of the mean over faces: ``(mean, lo, hi)``."""
    v = np.asarray(values, np.float64).ravel()
    if not len(v):
        raise InvalidArgumentError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(1)
    a = (1 - level) / 2
    return float(v.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def ci_record(values: Sequence[float], **keys) -> dict:
    """``{**keys, mean, ci_low, ci_high, n}`` with a bootstrap 95 % CI."""
    mean, lo, hi = bootstrap_ci(values)
    return {**keys, "mean": mean, "ci_low": lo, "ci_high": hi, "n": len(values)}
