"""SER-FIQ (step 1): the formula, the dropout, seeds, batching and calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixelfiq_lib.core.calibration import fit_scaling
from pixelfiq_lib.core.quality import (
    dropout_masks,
    scale_quality,
    serfiq_from_features,
    serfiq_quality,
    stochastic_embeddings,
)
from pixelfiq_lib.errors import InvalidArgumentError, PixelfiqError


def naive_serfiq(model, x, masks, alpha, r):
    """The formula written out pass by pass, as the official code does it."""
    feat = model.features(x)
    out = []
    for f in feat:
        emb = torch.stack([model.embed_features((f * m)[None])[0] for m in masks])
        iu = torch.triu_indices(len(masks), len(masks), offset=1)
        mean = torch.cdist(emb, emb)[iu[0], iu[1]].mean()
        q = 2 / (1 + torch.exp(mean))
        out.append((q, 1 / (1 + torch.exp(-alpha * (q - r)))))
    return torch.tensor([o[0] for o in out]), torch.tensor([o[1] for o in out])


def test_formula_matches_naive_pairwise_loop(tiny_model):
    x = torch.rand(3, 3, 112, 112, dtype=torch.float64) * 255
    res = serfiq_quality(tiny_model, x, n_passes=12, seed=3)
    masks = dropout_masks(12, tiny_model.features(x).shape[1], 0.5, seed=3, device=x.device)
    q_raw, q = naive_serfiq(tiny_model, x, masks.double(), 130.0, 0.88)
    torch.testing.assert_close(res.q_raw, q_raw.double(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(res.q, q.double(), rtol=1e-8, atol=1e-14)


def test_masks_are_dropout_at_rate_p():
    m = dropout_masks(100, 5000, 0.5, seed=0, device=torch.device("cpu"))
    assert set(torch.unique(m).tolist()) == {0.0, 2.0}
    assert abs(float((m == 0).float().mean()) - 0.5) < 0.01
    m3 = dropout_masks(100, 5000, 0.3, seed=0, device=torch.device("cpu"))
    assert abs(float((m3 == 0).float().mean()) - 0.3) < 0.01


def test_quality_scaling_is_the_papers_sigmoid():
    assert float(scale_quality(0.88, 130, 0.88)) == pytest.approx(0.5)
    # The official code's silent-dropout failure: D̄ = 0 -> Q = 1 -> Q̂ = 0.99999983.
    assert float(scale_quality(1.0, 130, 0.88)) == pytest.approx(1 / (1 + math.exp(-15.6)))


def test_stochastic_embeddings_differ_on_real_faces(sface, real_faces):
    with torch.inference_mode():
        feat = sface.features(real_faces[:2])
        masks = dropout_masks(10, feat.shape[1], 0.5, seed=0, device=feat.device)
        emb = stochastic_embeddings(sface, feat, masks)
    assert emb.shape == (2, 10, 128)
    gaps = torch.cdist(emb[0], emb[0])[torch.triu_indices(10, 10, 1).unbind()]
    assert float(gaps.min()) > 1e-3, "dropout did not change the embeddings"
    res = serfiq_quality(sface, real_faces[:2], n_passes=10, seed=0)
    assert (res.q_raw < 0.999).all() and (res.q < 0.9999).all()


def test_network_stays_in_eval_mode_and_deterministic_path_unchanged(sface, real_faces):
    with torch.inference_mode():
        before = sface(real_faces[:1])
    serfiq_quality(sface, real_faces[:1], n_passes=8, seed=0)
    assert not any(m.training for m in sface.modules())
    with torch.inference_mode():
        torch.testing.assert_close(sface(real_faces[:1]), before)


def test_same_seed_same_quality_and_different_seed_differs(sface, real_faces):
    a = serfiq_quality(sface, real_faces[:3], n_passes=20, seed=7)
    b = serfiq_quality(sface, real_faces[:3], n_passes=20, seed=7)
    c = serfiq_quality(sface, real_faces[:3], n_passes=20, seed=8)
    torch.testing.assert_close(a.q, b.q, rtol=0, atol=0)
    assert not torch.equal(a.q_raw, c.q_raw)
    assert a.seed == 7
    d = serfiq_quality(sface, real_faces[:1], n_passes=8, seed=None)
    assert isinstance(d.seed, int)


def test_face_gets_same_quality_alone_or_in_a_batch(sface, real_faces, threads):
    """Bit-identical: resumed and sharded batch runs rely on it."""
    batch = serfiq_quality(sface, real_faces[:4], n_passes=16, seed=1)
    alone = serfiq_quality(sface, real_faces[2:3], n_passes=16, seed=1)
    pair = serfiq_quality(sface, real_faces[1:3], n_passes=16, seed=1)
    assert torch.equal(batch.q[2:3], alone.q) and torch.equal(batch.q[1:3], pair.q)


def test_standard_error_predicts_spread_over_seeds(sface, real_faces):
    """The reported Monte-Carlo standard error agrees with the real run-to-run spread."""
    with torch.inference_mode():
        feat = sface.features(real_faces[:2])
        runs = [serfiq_from_features(sface, feat, n_passes=30, seed=s) for s in range(25)]
    spread = torch.stack([r.q for r in runs]).std(dim=0)
    predicted = torch.stack([r.q_se for r in runs]).mean(dim=0)
    ratio = predicted / spread
    assert ((ratio > 0.4) & (ratio < 2.5)).all(), ratio


def test_fit_scaling_maps_reference_band_onto_central_range():
    rng = np.random.default_rng(0)
    q_raw = rng.normal(0.78, 0.01, size=200)
    alpha, r = fit_scaling(q_raw)
    scaled = scale_quality(torch.as_tensor(q_raw), alpha, r).numpy()
    assert r == pytest.approx(np.median(q_raw))
    assert np.median(scaled) == pytest.approx(0.5, abs=1e-9)
    inside = ((scaled > 0.05) & (scaled < 0.95)).mean()
    assert 0.85 <= inside <= 0.95
    with pytest.raises(PixelfiqError):
        fit_scaling([0.8, 0.9])


@pytest.mark.parametrize(
    "bad",
    [
        torch.rand(2, 3, 64, 64) * 255,
        torch.rand(2, 1, 112, 112) * 255,
        torch.rand(1, 3, 112, 112),
        torch.full((1, 3, 112, 112), float("nan")),
        np.zeros((1, 3, 112, 112)),
    ],
)
def test_bad_image_batches_get_a_clear_error(sface, bad):
    with pytest.raises(PixelfiqError, match="images"):
        serfiq_quality(sface, bad, n_passes=4)


def test_bad_settings_get_a_clear_error(sface, real_faces):
    with pytest.raises(PixelfiqError, match="dropout_p"):
        serfiq_quality(sface, real_faces[:1], n_passes=4, dropout_p=1.0)
    with pytest.raises(PixelfiqError, match="n_passes"):
        serfiq_quality(sface, real_faces[:1], n_passes=1)


# ------------------------------------------------------------------ quality_100
def test_quality_100_fit_is_monotone_centred_and_round_trips(tmp_path):
    from pixelfiq_lib.core.scale100 import PERCENTS, Quality100, fit_quality_100

    q = np.random.default_rng(0).normal(0.88, 0.01, 101)
    m = fit_quality_100(q, fitted_on="test faces", model="sface")
    assert m(np.median(q)) == 50 and m.centre == pytest.approx(np.median(q))
    grid = np.linspace(0.5, 1.0, 500)
    assert (np.diff(m(grid)) >= 0).all() and m(0.5) == 0 and m(1.0) == 100
    lo, hi = np.quantile(q, [0.05, 0.95])
    assert m(lo) >= 5 and m(hi) <= 95, "the central 90 % lie inside 5..95"
    assert min(m(lo), 100 - m(hi)) == 5, "and its wider side reaches the edge"
    assert [p for p, _, _ in m.percentiles] == list(PERCENTS)
    assert m.percentiles[-1][2] == 50 and m(torch.tensor([0.88])).dtype == np.int64
    back = Quality100.load(m.save(tmp_path / "s.json"))
    assert back == m and back.model == "sface"
    (tmp_path / "bad.json").write_text('{"kind": "other"}')
    with pytest.raises(InvalidArgumentError):
        Quality100.load(tmp_path / "bad.json")
    with pytest.raises(PixelfiqError):
        fit_quality_100([0.8] * 10)


def test_shipped_networks_record_their_quality_100_map():
    from pixelfiq_lib.core.scale100 import PERCENTS
    from pixelfiq_lib.models import MODELS

    for info in MODELS.values():
        m = info.quality_100
        assert m is not None and m.slope > 0 and "held-out" in m.reported_on
        assert [p for p, _, _ in m.percentiles] == list(PERCENTS)
        raws = [q for _, q, _ in m.percentiles]
        assert raws == sorted(raws) and [int(m(q)) for q in raws] == [
            v for _, _, v in m.percentiles
        ]
        assert info.as_dict()["quality_100"]["slope"] == m.slope
