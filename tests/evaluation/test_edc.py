"""EDC / pAUC: hand-computed tiny cases, limiting cases, validation (numpy only)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pixelfiq_lib.evaluation.edc import (
    EDCCurve,
    EDCInputError,
    describe,
    edc_curve,
    edc_table,
    pair_quality,
    pauc,
    plot_edc,
    threshold_for_fmr,
    threshold_for_fnmr,
)

# Impostors fix tau = 0.5 at FMR = 0.2 (1 of 5 impostor scores >= 0.5).
IMP_S = [0.1, 0.2, 0.3, 0.4, 0.5]
IMP_Q = [5.0, 1.0, 2.0, 2.0, 0.0]
# Genuine (score, pair quality); errors (s < 0.5): 0.2, 0.4, 0.3.
GEN_S = [0.2, 0.9, 0.4, 0.6, 0.3, 0.8]
GEN_Q = [1.0, 1.0, 2.0, 3.0, 3.0, 4.0]


def _tiny() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.array(GEN_S + IMP_S)
    g = np.array([True] * len(GEN_S) + [False] * len(IMP_S))
    return s, g, np.array(GEN_Q + IMP_Q)


def _synthetic(n_gen: int, n_imp: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    s = np.concatenate((rng.normal(4.5, 1.0, n_gen), rng.normal(0.0, 1.0, n_imp)))
    g = np.arange(n_gen + n_imp) < n_gen
    return rng, s, g


# ---------------------------------------------------------------- thresholds
def test_threshold_for_fmr_known_list() -> None:
    imp = np.array([0.1, 0.2, 0.3, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert threshold_for_fmr(imp, 0.2) == 0.8  # 2/10 >= 0.8
    assert threshold_for_fmr(imp, 0.15) == 0.9  # 1/10
    assert threshold_for_fmr(imp, 0.7) == 0.4  # 0.3 is tied: it would give 8/10
    assert threshold_for_fmr(imp, 1.0) == 0.1
    assert threshold_for_fmr(imp, 0.0) == np.nextafter(0.9, np.inf)  # nothing may match
    assert threshold_for_fmr(np.array([1.0, 1.0, 1.0, 0.0]), 0.5) > 1.0  # tied maximum


def test_threshold_for_fmr_is_smallest_score_meeting_target() -> None:
    rng = np.random.default_rng(1)
    imp = rng.integers(0, 20, 200).astype(float)
    for target in (0.001, 0.01, 0.05, 0.1, 0.29, 0.5):
        tau = threshold_for_fmr(imp, target)
        assert np.mean(imp >= tau) <= target
        lower = imp[imp < tau]
        assert lower.size == 0 or np.mean(imp >= lower.max()) > target


def test_threshold_for_fnmr_known_list() -> None:
    gen = np.array([0.1, 0.2, 0.3, 0.3, 0.4])
    assert threshold_for_fnmr(gen, 0.5) == 0.3  # FNMR 2/5
    assert threshold_for_fnmr(gen, 0.3) == 0.2  # 0.3 would give 2/5 > 0.3
    assert threshold_for_fnmr(gen, 0.0) == 0.1
    assert threshold_for_fnmr(gen, 1.0) == 0.4


# ---------------------------------------------------------------- pair quality
def test_pair_quality_combinations() -> None:
    a, b = np.array([0.2, 0.9, 0.5]), np.array([0.4, 0.3, 0.5])
    np.testing.assert_allclose(pair_quality(a, b), [0.2, 0.3, 0.5])
    np.testing.assert_allclose(pair_quality(a, b, "mean"), [0.3, 0.6, 0.5])
    np.testing.assert_allclose(pair_quality(a, b, "product"), [0.08, 0.27, 0.25])
    np.testing.assert_allclose(pair_quality(a, b, np.maximum), [0.4, 0.9, 0.5])


# ---------------------------------------------------------------- fixed variant
def test_fixed_fnm_edc_by_hand_with_ties() -> None:
    curve = edc_curve(*_tiny(), fmr=0.2)
    assert curve.threshold == 0.5 and curve.n_comparisons == 6
    # q=1 holds one error and one match: both go at once (no point at d=1).
    np.testing.assert_allclose(curve.discard_fraction, [0, 2 / 6, 3 / 6, 5 / 6, 1])
    np.testing.assert_allclose(curve.error, [3 / 6, 2 / 4, 1 / 3, 0, 0])
    assert (curve.variant, curve.error_type, curve.fmr, curve.starting_fnmr) == (
        "fixed",
        "fnmr",
        0.2,
        None,
    )


def test_fixed_fm_edc_by_hand() -> None:
    curve = edc_curve(*_tiny(), fmr=0.2, error="fmr")
    assert curve.n_comparisons == 5
    np.testing.assert_allclose(curve.discard_fraction, [0, 1 / 5, 2 / 5, 4 / 5, 1])
    np.testing.assert_allclose(curve.error, [1 / 5, 0, 0, 0, 0])


def test_starting_fnmr_sets_the_threshold() -> None:
    curve = edc_curve(*_tiny(), starting_fnmr=0.5)
    assert curve.threshold == 0.6 and curve.fmr is None and curve.starting_fnmr == 0.5
    assert curve.error[0] == 0.5  # 0.2, 0.3, 0.4 of six genuine scores are below 0.6


def test_no_discard_is_starting_error_and_all_discarded_is_zero() -> None:
    rng, s, g = _synthetic(500, 5000)
    q = rng.random(s.size)
    curve = edc_curve(s, g, q, fmr=1e-2)
    assert curve.discard_fraction[0] == 0
    assert curve.error[0] == np.mean(s[g] < curve.threshold)
    assert curve.discard_fraction[-1] == 1 and curve.error[-1] == 0
    assert np.all(np.diff(curve.discard_fraction) > 0)


def test_perfect_quality_reaches_zero_after_the_failures() -> None:
    rng, s, g = _synthetic(4000, 20000)
    tau = threshold_for_fmr(s[~g], 1e-3)
    fails = g & (s < tau)
    q = np.where(fails, 0.0, 1.0)
    q[~g] = rng.random((~g).sum())
    curve = edc_curve(s, g, q, fmr=1e-3)
    e0 = fails.sum() / g.sum()
    np.testing.assert_allclose(curve.discard_fraction, [0, e0, 1])
    np.testing.assert_allclose(curve.error, [e0, 0, 0])
    for limit in (0.2, 0.3):  # tied failures: one step, area e0^2 vs the best's e0^2/2
        assert pauc(curve, limit, subtract_best=True) == pytest.approx(e0**2 / 2)
    q[fails] = -rng.permutation(fails.sum()) - 1.0  # failures one at a time
    stairs = edc_curve(s, g, q, fmr=1e-3)
    tol = e0**3 + 1 / g.sum()
    assert pauc(stairs, 0.3, subtract_best=True) == pytest.approx(0, abs=tol)


def test_random_quality_gives_a_flat_curve() -> None:
    rng, s, g = _synthetic(20000, 20000, seed=3)
    curve = edc_curve(s, g, rng.random(s.size), starting_fnmr=0.1)
    e0 = curve.error[0]
    assert 0.09 < e0 <= 0.1
    part = curve.discard_fraction <= 0.8
    assert abs(curve.error[part].mean() - e0) < 0.01
    assert pauc(curve, 0.3) == pytest.approx(0.3 * e0, rel=0.05)


# ---------------------------------------------------------------- recalibrated variant
def test_recalibrated_differs_from_fixed_by_hand() -> None:
    # Low-quality (q=0) pairs include the two highest impostor scores.
    imp_s, imp_q = [0.9, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.0, 0.0], [0, 0] + [1] * 8
    s = np.array([0.85, 0.6, 0.7, 0.95] + imp_s)
    g = np.arange(s.size) < 4
    q = np.array([0, 1, 1, 1] + imp_q, dtype=float)
    fixed = edc_curve(s, g, q, fmr=0.1)
    np.testing.assert_allclose(fixed.discard_fraction, [0, 1 / 4, 1])
    np.testing.assert_allclose(fixed.error, [3 / 4, 2 / 3, 0])
    recal = edc_curve(s, g, q, fmr=0.1, variant="recalibrated")
    np.testing.assert_allclose(recal.discard_fraction, [0, 3 / 14, 1])
    np.testing.assert_allclose(recal.error, [3 / 4, 0, 0])
    np.testing.assert_allclose(recal.threshold, [0.9] + [np.nextafter(0.5, 1)] * 2)
    assert recal.n_comparisons == 14 and recal.variant == "recalibrated"


def test_recalibrated_matches_step_by_step_recomputation() -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):  # integer scores and qualities: many ties
        n = int(rng.integers(5, 80))
        s, q = rng.integers(0, 8, n).astype(float), rng.integers(0, 6, n).astype(float)
        g = rng.random(n) < 0.4
        g[:2] = [True, False]
        fmr = float(rng.choice([0.0, 0.05, 0.2, 0.5, 1.0]))
        curve = edc_curve(s, g, q, fmr=fmr, variant="recalibrated")
        order = np.argsort(q, kind="stable")
        tau = None
        for x, err, t in zip(curve.discard_fraction, curve.error, curve.threshold):
            kept = order[round(x * n) :]
            imp, gen = s[kept][~g[kept]], s[kept][g[kept]]
            if imp.size:  # none left: the last threshold is kept
                tau = threshold_for_fmr(imp, fmr)
            assert t == tau
            assert err == (np.mean(gen < tau) if gen.size else 0.0)


def test_recalibrated_keeps_fmr_at_target() -> None:
    rng, s, g = _synthetic(3000, 30000, seed=5)
    q = rng.random(s.size) - 0.5 * (s * ~g > 1.5)  # high impostor scores: low quality
    recal = edc_curve(s, g, q, fmr=1e-2, variant="recalibrated")
    fixed = edc_curve(s, g, q, fmr=1e-2)
    order = np.argsort(q, kind="stable")
    for x, t in zip(recal.discard_fraction[::500], recal.threshold[::500]):
        kept = order[round(x * s.size) :]
        imp = s[kept][~g[kept]]
        if imp.size >= 1000:
            assert 1e-2 - 1 / imp.size < np.mean(imp >= t) <= 1e-2
    assert pauc(recal, 0.3) < pauc(fixed, 0.3) - 1e-3


# ---------------------------------------------------------------- pAUC
FIVE = EDCCurve(
    np.array([0, 0.1, 0.25, 0.5, 1.0]),
    np.array([0.4, 0.3, 0.2, 0.1, 0.0]),
    0.0,
    "fixed",
    1e-3,
    None,
    "fnmr",
    20,
)


def test_pauc_by_hand() -> None:
    assert pauc(FIVE, 0.2) == pytest.approx(0.4 * 0.1 + 0.3 * 0.1)
    assert pauc(FIVE, 0.3) == pytest.approx(0.4 * 0.1 + 0.3 * 0.15 + 0.2 * 0.05)
    # theoretical best max(0, 0.4 - x): 0.08 - 0.2**2 / 2 and 0.08 - 0.1**2 / 2
    assert pauc(FIVE, 0.2, subtract_best=True) == pytest.approx(0.07 - 0.06)
    assert pauc(FIVE, 0.3, subtract_best=True) == pytest.approx(0.095 - 0.075)
    assert pauc(FIVE, 0.0) == 0
    assert pauc(FIVE, 1.0) == pytest.approx(0.04 + 0.045 + 0.05 + 0.05)


# ---------------------------------------------------------------- labels, table, plot
def test_describe_and_table_state_the_setting() -> None:
    label = describe(FIVE, 0.2)
    for part in ("FNM-EDC", "fixed", "FMR=0.001", "0.2", "stepwise", "genuine"):
        assert part in label
    recal = edc_curve(*_tiny(), fmr=0.2, variant="recalibrated")
    assert "recalibrated" in describe(recal) and "genuine + impostor" in describe(recal)
    start = edc_curve(*_tiny(), starting_fnmr=0.5)
    assert "starting FNMR=0.5" in describe(start)
    (row,) = edc_table({"q": FIVE}, (0.2, 0.3), subtract_best=True)
    assert row["pAUC@0.2"] == pytest.approx(0.01)
    assert row["pAUC@0.3"] == pytest.approx(0.02)
    assert "0.2/0.3" in row["setting"] and "theoretical best" in row["setting"]


def test_plot_edc_is_headless_and_labelled() -> None:
    import matplotlib.pyplot as plt

    fig, ax = plot_edc({"a": FIVE, "b": edc_curve(*_tiny(), fmr=0.2)}, limit=0.2)
    labels = ax.get_legend_handles_labels()[1]
    assert "theoretical best" in labels and labels[0].startswith("a, pAUC@0.2=")
    assert "FMR=0.001" in ax.get_title() and "stepwise" in ax.get_title()
    assert "genuine comparisons" in ax.get_xlabel()
    assert "[" in labels[1]  # a curve with another setting names it
    plt.close(fig)


# ---------------------------------------------------------------- validation and speed
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scores": [0.1, 0.2]}, "lengths differ"),
        ({"scores": [0.1, np.nan, 0.3]}, "NaN"),
        ({"pair_q": [0.1, np.inf, 0.3]}, "pair_q.*NaN/inf"),
        ({"scores": [], "is_genuine": [], "pair_q": []}, "non-empty"),
        ({"is_genuine": [True, True, True]}, "no impostor"),
        ({"is_genuine": [False, False, False]}, "no genuine"),
        ({"is_genuine": [0, 2, 1]}, "booleans"),
        ({"variant": "iso"}, "variant must be"),
        ({"fmr": 1.5}, r"fmr must be a rate in \[0, 1\]"),
        ({"variant": "recalibrated", "error": "fmr"}, "error='fnmr'"),
        ({"variant": "recalibrated", "starting_fnmr": 0.1}, "starting_fnmr only"),
    ],
)
def test_edc_curve_validates_inputs(kwargs: dict, match: str) -> None:
    args = {
        "scores": [0.1, 0.5, 0.9],
        "is_genuine": [True, False, True],
        "pair_q": [0.3, 0.2, 0.1],
    } | kwargs
    with pytest.raises(ValueError, match=match) as info:
        edc_curve(args.pop("scores"), args.pop("is_genuine"), args.pop("pair_q"), **args)
    assert isinstance(info.value, EDCInputError)


def test_other_functions_validate_inputs() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        pair_quality([0.1, 0.2], [0.3])
    with pytest.raises(ValueError, match="how must be"):
        pair_quality([0.1], [0.2], "max")
    with pytest.raises(ValueError, match="limit"):
        pauc(FIVE, 1.2)
    with pytest.raises(ValueError, match="impostor_scores must be a non-empty"):
        threshold_for_fmr(np.array([]), 0.1)
    with pytest.raises(ValueError, match="1-D"):
        threshold_for_fnmr(np.zeros((2, 2)), 0.1)


def test_large_inputs_are_fast() -> None:
    rng, s, g = _synthetic(20000, 180000, seed=9)
    q = rng.random(s.size)
    start = time.perf_counter()
    for variant in ("fixed", "recalibrated"):
        edc_curve(s, g, q, variant=variant)
    assert time.perf_counter() - start < 5.0  # a Python loop per comparison: minutes
