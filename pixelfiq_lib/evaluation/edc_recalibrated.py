"""The recalibrated EDC variant: a new FMR threshold on every retained set.

Discarding comparisons by ascending pair quality leaves a suffix of the sorted
comparisons; the recalibrated variant (CR-FIQA / MagFace ERC style) sets the threshold
to the target FMR on the impostors of every suffix. A wavelet matrix answers those
order statistics, and the FNMR counts, for all suffixes at once in O(n log n).
Used by :func:`~pixelfiq_lib.evaluation.edc.edc_curve`.
"""

from __future__ import annotations

import numpy as np


def _max_count(rate: float, n: np.ndarray | int) -> np.ndarray:
    """Largest integer k with ``k / n <= rate``, elementwise (exact, no rounding)."""
    n = np.asarray(n, dtype=np.int64)
    k = np.floor(rate * n).astype(np.int64)
    k = np.where((k + 1) / np.maximum(n, 1) <= rate, k + 1, k)
    return np.where(k / np.maximum(n, 1) > rate, k - 1, k)


def _step_starts(q_sorted: np.ndarray) -> np.ndarray:
    """Discard counts where the EDC is evaluated: 0, each change of quality, N."""
    changes = np.flatnonzero(q_sorted[1:] != q_sorted[:-1]) + 1
    return np.concatenate(([0], changes, [q_sorted.size]))


def _wavelet(vals: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Levels (zero-bit prefix counts, bit) of a wavelet matrix over ints >= 0.

    It answers order statistics and counts of many slices ``vals[lo:hi]`` at
    once, with one numpy pass per bit instead of a Python loop over slices.
    """
    levels, cur = [], vals.astype(np.int32)
    pos = np.arange(cur.size, dtype=np.int32)
    for bit in range(max(int(vals.max()).bit_length(), 1) - 1, -1, -1):
        is0 = (cur & (1 << bit)) == 0
        zeros = np.zeros(cur.size + 1, np.int32)
        np.cumsum(is0, out=zeros[1:])
        levels.append((zeros, bit))
        nxt = np.empty_like(cur)  # stable partition: zero bits first, then ones
        nxt[np.where(is0, zeros[:-1], zeros[-1] + pos - zeros[:-1])] = cur
        cur = nxt
    return levels


def _descend(
    zeros: np.ndarray,
    one: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    zl: np.ndarray,
    zh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Map slices to the next wavelet level, into the ones (``one``) or zeros."""
    nz = zeros[-1]
    return np.where(one, nz + lo - zl, zl), np.where(one, nz + hi - zh, zh)


def _kth_smallest(
    levels: list, lo: np.ndarray, hi: np.ndarray, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per slice: k-th smallest value (0-based), its ties before it, all its ties."""
    val = np.zeros(lo.shape, np.int32)
    for zeros, bit in levels:
        zl, zh = zeros[lo], zeros[hi]
        one = k >= zh - zl
        k = np.where(one, k - (zh - zl), k)
        val |= one.astype(np.int32) << bit
        lo, hi = _descend(zeros, one, lo, hi, zl, zh)
    return val, k, hi - lo


def _count_less(levels: list, lo: np.ndarray, hi: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per slice: number of values < t (0 <= t <= largest value)."""
    count = np.zeros(lo.shape, np.int32)
    for zeros, bit in levels:
        zl, zh = zeros[lo], zeros[hi]
        one = (t & (1 << bit)) != 0
        count += np.where(one, zh - zl, 0).astype(np.int32)
        lo, hi = _descend(zeros, one, lo, hi, zl, zh)
    return count


def _suffix_fmr_thresholds(imp: np.ndarray, start: np.ndarray, fmr: float) -> np.ndarray:
    """``threshold_for_fmr(imp[a:], fmr)`` for each a in ``start`` (a < len(imp))."""
    values, ranks = np.unique(imp, return_inverse=True)
    levels, n = _wavelet(ranks), imp.size
    lo, hi, kept = start.astype(np.int32), np.full(start.size, n, np.int32), n - start
    j = kept - _max_count(fmr, kept)  # lowest sorted position allowed to match
    pos = np.clip(j, 0, kept - 1)
    rank, before, ties = _kth_smallest(levels, lo, hi, pos)
    n_le = pos - before + ties  # retained scores <= values[rank]
    none_may = (j >= kept) | (before > 0) & (n_le >= kept)
    tau = np.where(none_may, np.nextafter(values[rank], np.inf), values[rank])
    split = (before > 0) & (n_le < kept)  # ties straddle j: next value up
    if split.any():
        nxt, _, _ = _kth_smallest(levels, lo[split], hi[split], n_le[split])
        tau[split] = values[nxt]
    return tau


def _suffix_fnmr(gen: np.ndarray, start: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """FNMR of ``gen[a:]`` at t for each (a, t) in zip(start, tau); 0 if empty."""
    changed = (np.diff(start, prepend=-1) != 0) | (np.diff(tau, prepend=np.nan) != 0)
    new = np.flatnonzero(changed)  # query where (a, t) changes, carry forward
    values, ranks = np.unique(gen, return_inverse=True)
    lo, hi = start[new].astype(np.int32), np.full(new.size, gen.size, np.int32)
    t = np.searchsorted(values, tau[new], side="left")
    below = _count_less(_wavelet(ranks), lo, hi, np.minimum(t, values.size - 1))
    below = np.where(t >= values.size, hi - lo, below)
    fnmr = np.where(hi > lo, below / np.maximum(hi - lo, 1), 0.0)
    return fnmr[np.cumsum(changed) - 1]


def _edc_recalibrated(
    scores: np.ndarray, genuine: np.ndarray, q: np.ndarray, fmr: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(discard fraction of all comparisons, FNMR, per-step threshold)."""
    order = np.argsort(q, kind="stable")
    s, g, d = scores[order], genuine[order], _step_starts(q[order])
    imp_gone = np.concatenate(([0], np.cumsum(~g)))[d]
    gen_gone = np.concatenate(([0], np.cumsum(g)))[d]
    has_imp = imp_gone < (~g).sum()  # no impostor left: keep the last threshold
    starts = np.where(has_imp, imp_gone, imp_gone[has_imp][-1])
    changed = np.diff(starts, prepend=-1) != 0  # same impostors, same threshold
    tau = _suffix_fmr_thresholds(s[~g], starts[changed], fmr)
    tau = tau[np.cumsum(changed) - 1]
    return d / s.size, _suffix_fnmr(s[g], gen_gone, tau), tau
