"""Quality methods side by side (evaluation.quality_methods): EDC pAUC with identity CIs."""

from __future__ import annotations

import numpy as np
import pytest

import pixelfiq_lib as pfl
from pixelfiq_lib.evaluation.benchmark_set import BenchmarkSet, Sample
from pixelfiq_lib.evaluation.localisation import FIT_IDENTITIES
from pixelfiq_lib.evaluation.quality_methods import (
    LIMITS,
    bootstrap_paucs,
    compare_quality_methods,
    comparison_markdown,
)
from pixelfiq_lib.evaluation.verification import cosine_scores, embed_faces


def _synthetic(n_ids: int = 10, per_id: int = 6, seed: int = 0):
    """Comparisons whose genuine errors are exactly the low-quality samples."""
    rng = np.random.default_rng(seed)
    ident = np.repeat(np.arange(n_ids), per_id)
    quality = rng.random(ident.size)
    ia, ib = np.triu_indices(ident.size, 1)
    genuine = ident[ia] == ident[ib]
    scores = np.where(genuine, 0.8, 0.1) + rng.normal(0, 0.02, ia.size)
    bad = np.minimum(quality[ia], quality[ib]) < 0.3
    scores[genuine & bad] = 0.05  # these genuine pairs fail at any sane threshold
    return ident, quality, ia, ib, genuine, scores


def test_bootstrap_over_identities_separates_a_telling_quality_from_noise():
    ident, quality, ia, ib, genuine, scores = _synthetic()
    rng = np.random.default_rng(1)
    pair_q = {
        "telling": np.minimum(quality[ia], quality[ib]),
        "noise": np.minimum(*rng.random((2, ia.size))),
    }
    boot = bootstrap_paucs(scores, genuine, pair_q, ident[ia], n_boot=200, seed=0)
    assert boot["telling"].shape == (200, len(LIMITS))
    diff = boot["noise"][:, 0] - boot["telling"][:, 0]
    assert np.quantile(diff, 0.025) > 0  # the telling quality is better on every replicate
    again = bootstrap_paucs(scores, genuine, pair_q, ident[ia], n_boot=200, seed=0)
    np.testing.assert_array_equal(boot["telling"], again["telling"])


@pytest.fixture(scope="module")
def fit_set() -> BenchmarkSet:
    """The 20 FIT faces of bbt as a benchmark set of all pairs (originals only)."""
    faces = pfl.bbt_faces()
    samples = [
        Sample(f.image, name, f"{name}/{k}", 100.0)
        for name in FIT_IDENTITIES
        for k, f in enumerate(faces[name])
    ]
    ia, ib = np.triu_indices(len(samples), 1)
    labels = np.array([s.identity for s in samples])
    return BenchmarkSet(samples, ia, ib, labels[ia] == labels[ib], len(samples), [], "all pairs")


def test_compare_quality_methods_on_fit_faces(sface, fit_set):
    emb = embed_faces(sface, [s.image for s in fit_set.samples], n_passes=10)["emb"]
    scores = cosine_scores(emb, fit_set.idx_a, fit_set.idx_b)
    out = compare_quality_methods(
        sface,
        fit_set,
        scores,
        methods=["serfiq", "embedding_norm"],
        settings={"serfiq": {"n_passes": 10}},
        n_boot=50,
    )
    recs = {r["quality_method"]: r for r in out["records"]}
    assert list(recs) == ["serfiq", "embedding_norm", "random"]
    for r in recs.values():
        for lim in LIMITS:
            assert r[f"pauc_{lim:g}_ci_low"] <= r[f"pauc_{lim:g}"] + 1e-12
            assert r[f"pauc_{lim:g}"] <= r[f"pauc_{lim:g}_ci_high"] + 1e-12
    assert "delta_vs_serfiq_0.2" in recs["embedding_norm"]
    assert "delta_vs_serfiq_0.2" not in recs["serfiq"]
    table = comparison_markdown(out["records"])
    assert table.splitlines()[0] == "| quality method | sface |"
    assert "| embedding_norm | " in table


def test_a_method_that_does_not_apply_gets_a_row_saying_why(fit_set):
    from torch import nn

    net = nn.Sequential(nn.Conv2d(3, 4, 8, stride=8), nn.Flatten(), nn.Linear(4 * 14 * 14, 8))
    model = pfl.from_torch(net, "1", name="nobn")
    scores = np.linspace(0, 1, len(fit_set.idx_a))
    out = compare_quality_methods(
        model, fit_set, scores, methods=["grafiqs", "embedding_norm"], n_boot=20
    )
    recs = {r["quality_method"]: r for r in out["records"]}
    assert recs["grafiqs"]["applicable"] is False and "BatchNorm" in recs["grafiqs"]["reason"]
    assert "pauc_0.2" not in recs["grafiqs"]
    assert "| grafiqs | n/a |" in comparison_markdown(out["records"])


def test_percentile_ranks_put_methods_on_one_scale_and_find_disagreements():
    from pixelfiq_lib.evaluation.quality_methods import percentile_ranks, rank_disagreement

    quality = {"a": np.array([1.0, 2.0, 3.0, 4.0]), "b": np.array([-10.0, -20.0, -30.0, 0.0])}
    ranks = percentile_ranks(quality)
    np.testing.assert_allclose(ranks["a"], [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(ranks["b"], [2 / 3, 1 / 3, 0, 1])
    np.testing.assert_allclose(rank_disagreement(quality), [2 / 3, 0, 2 / 3, 0])


def test_evaluation_stages_and_faceqan_budget_are_settings_with_clear_errors():
    from pixelfiq_lib.errors import InvalidArgumentError
    from pixelfiq_lib.evaluation import STAGES, evaluation_config
    from pixelfiq_lib.evaluation.quality_methods import evaluation_settings

    cfg = evaluation_config()
    assert cfg["stages"] == STAGES and cfg["faceqan_starts"] == 10  # the paper's k
    assert evaluation_config(stages="localisation,edc")["stages"] == ("edc", "localisation")
    assert evaluation_config(fast=True)["faceqan_starts"] == 2
    with pytest.raises(InvalidArgumentError, match="--stages must name"):
        evaluation_config(stages="edc,plots")
    with pytest.raises(InvalidArgumentError, match="--faceqan-starts must be at least 1"):
        evaluation_config(faceqan_starts=0)
    kw = evaluation_settings(evaluation_config(faceqan_starts=3, seed=5))
    assert kw["faceqan"] == {"seed": 5, "starts": 3}
    assert kw["serfiq"] == {"n_passes": 100, "seed": 5}
