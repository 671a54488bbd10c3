"""Error-versus-discard characteristic (EDC) and its partial area (pAUC).

Conventions (every function here):
    * Similarity scores: higher = more similar; a comparison is a *match* when
      ``s >= tau``.
    * FMR(tau) = #(impostor scores >= tau) / #impostors and FNMR(tau) =
      #(genuine scores < tau) / #genuines; a rate meets a target when
      ``count / n <= target``.
    * Pair quality is ``min(q_a, q_b)`` by default; the lowest pair qualities are
      discarded first, and comparisons with equal pair quality always together.
    * An error rate over an empty set of comparisons is 0.

Variants (Schlett et al., IEEE T-BIOM 2023; ISO/IEC 29794-1:2024):
    ``"fixed"`` (default, ISO/IEC 29794-1 style): one threshold, set before any
        discarding on all comparisons. x = fraction discarded of the comparisons
        the error counts (genuine ones for FNMR, impostor ones for FMR).
    ``"recalibrated"`` (CR-FIQA / MagFace ERC style): genuine and impostor pairs
        are discarded together; at every step the threshold is re-set to the
        target FMR on the retained impostors and the FNMR of the retained genuines
        is reported. x = fraction of all comparisons discarded.

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import EDCInputError
from .edc_recalibrated import _edc_recalibrated, _max_count, _step_starts

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INTERPOLATION = "stepwise (left-Riemann)"
_VARIANTS = ("fixed", "recalibrated")
_ERRORS = ("fnmr", "fmr")


@dataclass(frozen=True, eq=False)  # arrays inside: compare fields, not curves
class EDCCurve:
    """One EDC curve: error of the retained comparisons against fraction discarded.

    Attributes:
        discard_fraction: (P,) float64 rising from 0 to 1: one point per distinct
            pair quality, plus the point where everything is discarded.
        error: (P,) float64 in [0, 1]; ``error[0]`` is the starting error and
            ``error[-1]`` is 0 (nothing retained).
        threshold: similarity threshold: a float for ``"fixed"``, a (P,) array (the
            threshold at each point) for ``"recalibrated"``.
        variant: ``"fixed"`` or ``"recalibrated"``.
        fmr: target FMR that set the threshold; ``None`` when ``starting_fnmr`` did.
        starting_fnmr: target starting FNMR that set the threshold, or ``None``.
        error_type: ``"fnmr"`` or ``"fmr"``.
        n_comparisons: number of comparisons the discard fraction is a fraction of.
    """

    discard_fraction: np.ndarray
    error: np.ndarray
    threshold: float | np.ndarray
    variant: str
    fmr: float | None
    starting_fnmr: float | None
    error_type: str
    n_comparisons: int


def _vector(name: str, x: object, dtype: type = np.float64) -> np.ndarray:
    """``x`` as a non-empty 1-D array of finite values (or of booleans)."""
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.size == 0:
        raise EDCInputError(f"{name} must be a non-empty 1-D array; got shape {arr.shape}")
    if dtype is bool:
        if not np.isin(arr, (0, 1)).all():
            raise EDCInputError(f"{name} must hold booleans (or 0/1); got {arr[:5]}")
        return arr.astype(bool)
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise EDCInputError(
            f"{name} holds {bad.sum()} NaN/inf value(s), first at "
            f"index {np.argmax(bad)}; drop or fix those comparisons"
        )
    return arr


def _rate(name: str, value: float) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise EDCInputError(f"{name} must be a rate in [0, 1]; got {value}")
    return float(value)


def pair_quality(
    q_a: np.ndarray,
    q_b: np.ndarray,
    how: str | Callable[[np.ndarray, np.ndarray], np.ndarray] = "min",
) -> np.ndarray:
    """Combine the two sample qualities of each comparison into one pair quality.

    Args:
        q_a: (N,) quality of the first sample of each comparison; higher = better.
        q_b: (N,) quality of the second sample.
        how: ``"min"`` (standard: pairs go in the order of their worse sample),
            ``"mean"``, ``"product"`` (meaningful for non-negative qualities only)
            or a vectorised callable ``f(q_a, q_b) -> (N,)``.
    Returns:
        (N,) float64 pair quality.
    Example:
        >>> pair_quality(np.array([0.2, 0.9]), np.array([0.5, 0.4]))
        array([0.2, 0.4])

    Taught in: 05_evaluation_metrics.ipynb
    """
    q_a, q_b = _vector("q_a", q_a), _vector("q_b", q_b)
    if q_a.shape != q_b.shape:
        raise EDCInputError(f"q_a and q_b differ in length: {q_a.size} vs {q_b.size}")
    funcs = {"min": np.minimum, "mean": lambda a, b: (a + b) / 2, "product": np.multiply}
    if not callable(how) and how not in funcs:
        raise EDCInputError(f"how must be one of {sorted(funcs)} or a callable; got {how!r}")
    out = _vector("pair quality", (how if callable(how) else funcs[how])(q_a, q_b))
    if out.shape != q_a.shape:
        raise EDCInputError(f"how returned shape {out.shape}; expected {q_a.shape}")
    return out


def threshold_for_fmr(impostor_scores: np.ndarray, fmr: float) -> float:
    """Most lenient threshold whose FMR on ``impostor_scores`` is at most ``fmr``.

    FMR(tau) = #(impostor scores >= tau) / M. Returns the *smallest impostor score
    value* tau with FMR(tau) <= fmr, so tied scores always fall on the same side.
    When no score value qualifies (target below 1/M, or a tied maximum), returns
    the next float above the maximum score, so FMR = 0.

    Args:
        impostor_scores: (M,) similarity scores of impostor comparisons, M >= 1.
        fmr: target false match rate in [0, 1].
    Returns:
        The threshold tau.
    Example:
        >>> threshold_for_fmr(np.array([0.1, 0.2, 0.3, 0.3, 0.4]), 0.2)
        0.4

    Taught in: 05_evaluation_metrics.ipynb
    """
    s = np.sort(_vector("impostor_scores", impostor_scores))
    values, first = np.unique(s, return_index=True)
    ok = s.size - first <= _max_count(_rate("fmr", fmr), s.size)
    if not ok.any():
        return float(np.nextafter(s[-1], np.inf))
    return float(values[np.argmax(ok)])


def threshold_for_fnmr(genuine_scores: np.ndarray, fnmr: float) -> float:
    """Strictest threshold whose FNMR on ``genuine_scores`` is at most ``fnmr``.

    FNMR(tau) = #(genuine scores < tau) / G. Returns the *largest genuine score
    value* tau with FNMR(tau) <= fnmr (the minimum always qualifies), so the
    realised FNMR is the closest to the target from below; ``np.quantile``-based
    thresholds (as in the ISO-style reference code) may overshoot it.

    Args:
        genuine_scores: (G,) similarity scores of genuine comparisons, G >= 1.
        fnmr: target false non-match rate in [0, 1].
    Returns:
        The threshold tau.
    Example:
        >>> threshold_for_fnmr(np.array([0.1, 0.2, 0.3, 0.3, 0.4]), 0.5)
        0.3

    Taught in: 05_evaluation_metrics.ipynb
    """
    s = np.sort(_vector("genuine_scores", genuine_scores))
    values, first = np.unique(s, return_index=True)
    ok = first <= _max_count(_rate("fnmr", fnmr), s.size)
    return float(values[np.flatnonzero(ok)[-1]])


def _edc_points(is_error: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(discard fraction, error) when comparisons are discarded by ascending q."""
    order = np.argsort(q, kind="stable")
    left = np.concatenate((np.cumsum(is_error[order][::-1])[::-1], [0]))
    d = _step_starts(q[order])
    kept = q.size - d
    return d / q.size, np.where(kept > 0, left[d] / np.maximum(kept, 1), 0.0)


def edc_curve(
    scores: np.ndarray,
    is_genuine: np.ndarray,
    pair_q: np.ndarray,
    *,
    fmr: float = 1e-3,
    starting_fnmr: float | None = None,
    error: str = "fnmr",
    variant: str = "fixed",
) -> EDCCurve:
    """Error-versus-discard characteristic of a pair quality (see module docstring).

    Args:
        scores: (N,) similarity scores, higher = more similar.
        is_genuine: (N,) bool, True for mated (same-identity) comparisons.
        pair_q: (N,) pair quality (e.g. :func:`pair_quality`); lowest go first.
        fmr: target FMR setting the threshold on all impostors (ignored when
            ``starting_fnmr`` is given); for ``"recalibrated"`` the FMR held at
            every step.
        starting_fnmr: set the fixed threshold with :func:`threshold_for_fnmr` on
            all genuine comparisons instead.
        error: ``"fnmr"`` (FNM-EDC over genuine comparisons) or ``"fmr"`` (FM-EDC
            over impostor comparisons; ``"fixed"`` only).
        variant: ``"fixed"`` (ISO style, default) or ``"recalibrated"``.
    Returns:
        An :class:`EDCCurve` from discard 0 to 1 (error 0 once nothing is left).
    Example:
        >>> c = edc_curve([0.9, 0.2, 0.8, 0.1], [1, 1, 0, 0], [0.7, 0.1, 0.5, 0.3],
        ...               fmr=0.5)
        >>> c.threshold, c.discard_fraction, c.error
        (0.8, array([0. , 0.5, 1. ]), array([0.5, 0. , 0. ]))

    Taught in: 05_evaluation_metrics.ipynb
    """
    s, g = _vector("scores", scores), _vector("is_genuine", is_genuine, bool)
    q = _vector("pair_q", pair_q)
    if not s.size == g.size == q.size:
        raise EDCInputError(
            f"lengths differ: scores {s.size}, is_genuine {g.size}, pair_q {q.size}"
        )
    _check_settings(g, fmr, starting_fnmr, error, variant)
    if variant == "recalibrated":
        x, y, tau = _edc_recalibrated(s, g, q, float(fmr))
        return EDCCurve(x, y, tau, variant, float(fmr), None, error, s.size)
    if starting_fnmr is None:
        tau, fmr_used = threshold_for_fmr(s[~g], fmr), float(fmr)
    else:
        tau, fmr_used = threshold_for_fnmr(s[g], starting_fnmr), None
    keep = g if error == "fnmr" else ~g
    wrong = s[keep] < tau if error == "fnmr" else s[keep] >= tau
    x, y = _edc_points(wrong, q[keep])
    return EDCCurve(x, y, tau, variant, fmr_used, starting_fnmr, error, int(keep.sum()))


def _check_settings(
    g: np.ndarray, fmr: float, starting_fnmr: float | None, error: str, variant: str
) -> None:
    """Raise :class:`EDCInputError` for settings ``edc_curve`` cannot honour."""
    if variant not in _VARIANTS or error not in _ERRORS:
        raise EDCInputError(
            f"variant must be one of {_VARIANTS} and error one of "
            f"{_ERRORS}; got variant={variant!r}, error={error!r}"
        )
    if starting_fnmr is not None:
        _rate("starting_fnmr", starting_fnmr)
        if variant == "recalibrated":
            raise EDCInputError(
                "the recalibrated variant holds the FMR at `fmr`; "
                "starting_fnmr only applies to variant='fixed'"
            )
    else:
        _rate("fmr", fmr)
    if variant == "recalibrated" and error != "fnmr":
        raise EDCInputError(
            "the recalibrated variant holds the FMR at its target, "
            "so only error='fnmr' is meaningful"
        )
    if (~g).sum() == 0 and (starting_fnmr is None or error == "fmr"):
        raise EDCInputError(
            "no impostor comparisons (is_genuine is all True): an "
            "FMR threshold or FM-EDC needs some; for an FNM-EDC "
            "pass starting_fnmr"
        )
    if g.sum() == 0 and (starting_fnmr is not None or error == "fnmr"):
        raise EDCInputError(
            "no genuine comparisons (is_genuine is all False): an "
            "FNM-EDC or a starting_fnmr threshold needs some"
        )


def pauc(curve: EDCCurve, limit: float, *, subtract_best: bool = False) -> float:
    """Partial area under the EDC from discard 0 to ``limit``, stepwise.

    Interpolation: step function (left Riemann sum), as in the ISO-style
    reference code: each point's error holds until the next point's discard
    fraction; no linear interpolation. With ``subtract_best`` the area under the
    conventional reference line ``max(0, e0 - x)`` (the literature's "theoretical best";
    not what an ideal discard order reaches, since FNMR is a rate over the comparisons
    that remain: notebook 05), i.e.
    ``e0**2 / 2 - max(0, e0 - limit)**2 / 2`` with e0 = ``curve.error[0]``, is
    subtracted.

    Args:
        curve: an :class:`EDCCurve`.
        limit: discard-fraction limit in [0, 1] (0.2 and 0.3 are common).
        subtract_best: subtract the theoretical-best area.
    Returns:
        pAUC; lower is better.
    Taught in: 05_evaluation_metrics.ipynb
    """
    x, e = np.asarray(curve.discard_fraction), np.asarray(curve.error)
    limit = _rate("limit", limit)
    right = np.minimum(np.append(x[1:], np.inf), limit)
    area = float(np.sum(e * np.clip(right - x, 0.0, None)))
    if subtract_best:
        e0 = float(e[0])
        area -= e0**2 / 2 - max(0.0, e0 - limit) ** 2 / 2
    return area


def describe(
    curve: EDCCurve, limit: float | Sequence[float] | None = None, *, subtract_best: bool = False
) -> str:
    """One-line label: variant, FMR or starting error, limit(s), interpolation.

    E.g. ``"FNM-EDC, fixed threshold at FMR=0.001 on all impostors (start
    FNMR=0.0420), x = fraction of the 780 genuine comparisons discarded; pAUC to
    0.2/0.3, stepwise (left-Riemann)"`` (one line).

    Taught in: 05_evaluation_metrics.ipynb
    """
    kind, e0 = curve.error_type.upper(), float(curve.error[0])
    pop = ("genuine" if curve.error_type == "fnmr" else "impostor") + " comparisons"
    if curve.variant == "recalibrated":
        how = f"threshold recalibrated each step to FMR={curve.fmr:g} on retained"
        how, pop = how + " impostors", "comparisons (genuine + impostor)"
    elif curve.fmr is not None:
        how = f"fixed threshold at FMR={curve.fmr:g} on all impostors"
    else:
        how = f"fixed threshold for starting FNMR={curve.starting_fnmr:g}"
    text = (
        f"{kind[:-1]}-EDC, {how} (start {kind}={e0:.4f}), "
        f"x = fraction of the {curve.n_comparisons} {pop} discarded"
    )
    if limit is not None:
        limits = "/".join(f"{v:g}" for v in np.atleast_1d(limit))
        best = ", minus theoretical best" if subtract_best else ""
        text += f"; pAUC to {limits}, {INTERPOLATION}{best}"
    return text


def edc_table(
    curves: Mapping[str, EDCCurve],
    limits: Sequence[float] = (0.2, 0.3),
    *,
    subtract_best: bool = False,
) -> list[dict[str, object]]:
    """pAUC table, one row per curve; every row states its full setting.

    Args:
        curves: label -> :class:`EDCCurve`.
        limits: discard-fraction limits.
        subtract_best: subtract the theoretical-best area from every pAUC.
    Returns:
        Rows ``{"label", "setting", "start_error", "pAUC@<limit>", ...}`` (for
        ``pd.DataFrame(rows)``); ``setting`` is :func:`describe` with the limits.
    Taught in: 05_evaluation_metrics.ipynb
    """
    rows = []
    for label, curve in curves.items():
        setting = describe(curve, limits, subtract_best=subtract_best)
        row: dict[str, object] = {
            "label": label,
            "setting": setting,
            "start_error": float(curve.error[0]),
        }
        for lim in limits:
            row[f"pAUC@{lim:g}"] = pauc(curve, lim, subtract_best=subtract_best)
        rows.append(row)
    return rows


def plot_edc(
    curves: Mapping[str, EDCCurve], ax: Axes | None = None, *, limit: float | None = None
) -> tuple[Figure, Axes]:
    """Step plot of EDC curves with the theoretical best of the first curve.

    The title is :func:`describe` of the first curve (variant, FMR or starting
    error, x population; with ``limit``, also the pAUC limit and interpolation,
    and each legend entry gets its pAUC). A curve whose setting differs from the
    first one's carries its own setting in the legend.

    Args:
        curves: label -> :class:`EDCCurve` (at least one).
        ax: matplotlib Axes to draw into; a new figure when ``None``.
        limit: optional pAUC limit, drawn as a dashed vertical line.
    Returns:
        (fig, ax). Never calls ``plt.show()``.
    Taught in: 05_evaluation_metrics.ipynb
    """
    import matplotlib.pyplot as plt

    if not curves:
        raise EDCInputError("plot_edc needs at least one curve")
    fig, ax = plt.subplots(figsize=(6, 4)) if ax is None else (ax.figure, ax)
    first = next(iter(curves.values()))
    for label, c in curves.items():
        extra = f", pAUC@{limit:g}={pauc(c, limit):.4f}" if limit is not None else ""
        extra += "" if describe(c) == describe(first) else f" [{describe(c)}]"
        ax.step(c.discard_fraction, c.error, where="post", label=label + extra)
    e0 = float(first.error[0])
    ax.plot([0, e0, 1], [e0, 0, 0], "k:", lw=1, label="theoretical best")
    if limit is not None:
        ax.axvline(limit, color="grey", ls="--", lw=0.8)
    pop = (
        "all"
        if first.variant == "recalibrated"
        else ("genuine" if first.error_type == "fnmr" else "impostor")
    )
    ax.set(
        xlim=(0, 1),
        ylim=(0, None),
        ylabel=first.error_type.upper(),
        xlabel=f"fraction of {pop} comparisons discarded (lowest quality first)",
    )
    ax.set_title(describe(first, limit), fontsize=7, wrap=True)
    ax.legend(fontsize=7)
    return fig, ax
