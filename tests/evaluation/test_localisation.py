"""Occluder localisation: metrics, occluders, the new map methods and region verdicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import make_tiny_model

from pixelfiq_lib.core import counterfactual as cf
from pixelfiq_lib.core import map_methods
from pixelfiq_lib.core import maps as core_maps
from pixelfiq_lib.core.quality import serfiq_quality
from pixelfiq_lib.errors import InvalidArgumentError
from pixelfiq_lib.evaluation import localisation as loc
from pixelfiq_lib.evaluation import regions, stats


def square_mask(x0=40, y0=40, size=20) -> np.ndarray:
    m = np.zeros((112, 112), bool)
    m[y0 : y0 + size, x0 : x0 + size] = True
    return m


# ------------------------------------------------------------------------- metrics
def test_loc_auroc_perfect_inverted_constant():
    occ = square_mask()
    perfect = np.where(occ, 0.0, 1.0)
    assert loc.loc_auroc(perfect, occ) == pytest.approx(1.0)
    assert loc.loc_auroc(1.0 - perfect, occ) == pytest.approx(0.0)
    assert loc.loc_auroc(np.full((112, 112), 0.3), occ) == pytest.approx(0.5)
    assert loc.loc_auroc(torch.from_numpy(perfect), occ) == pytest.approx(1.0)


def test_loc_auroc_ignores_pixels_outside_the_region():
    occ = square_mask()
    m = np.where(occ, 0.0, 1.0)
    m[:5, :5] = -10.0  # far outside OCC_BOX: not a negative
    assert loc.loc_auroc(m, occ) == pytest.approx(1.0)


def test_loc_auroc_without_negatives_raises():
    with pytest.raises(InvalidArgumentError):
        loc.loc_auroc(np.zeros((112, 112)), loc.box_region())


def test_pointing_finds_the_lowest_square():
    occ = square_mask(50, 60, 30)
    assert loc.pointing(np.where(occ, 0.0, 1.0), occ)
    assert not loc.pointing(np.where(square_mask(20, 24, 30), 0.0, 1.0), occ)


def test_bootstrap_ci_on_a_known_distribution():
    rng = np.random.default_rng(1)
    v = rng.normal(2.0, 1.0, 400)
    mean, lo, hi = stats.bootstrap_ci(v, n_boot=2000)
    assert mean == pytest.approx(v.mean())
    assert lo < 2.0 < hi  # holds for this seed; the true mean is 2
    # percentile CI width ~ 2 * 1.96 * sigma / sqrt(n) = 0.196
    assert hi - lo == pytest.approx(2 * 1.96 / np.sqrt(400), rel=0.15)
    assert stats.bootstrap_ci([3.0, 3.0, 3.0]) == (3.0, 3.0, 3.0)


def test_ci_record_fields():
    rec = stats.ci_record([0.1, 0.2, 0.3], map_method="plq", metric="loc_auroc")
    assert set(rec) == {"map_method", "metric", "mean", "ci_low", "ci_high", "n"}
    assert rec["ci_low"] <= rec["mean"] <= rec["ci_high"] and rec["n"] == 3


# ----------------------------------------------------------------------- occluders
@pytest.fixture(scope="module")
def face() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(30, 226, (112, 112, 3)).astype(np.uint8)


@pytest.mark.parametrize("kind", loc.SQUARES)
def test_square_mask_is_the_changed_pixels(face, kind):
    out, mask = loc.paste_occluder(face, kind, 30, rng=np.random.default_rng(3))
    assert np.array_equal(mask, (out != face).any(axis=2))
    ys, xs = np.nonzero(mask)
    assert ys.max() - ys.min() < 30 and xs.max() - xs.min() < 30
    assert mask[~loc.box_region()].sum() == 0, "squares stay inside OCC_BOX"
    if kind == "black":
        assert mask.sum() == 30 * 30 and (out[mask] == 0).all()


def test_untuned_squares_draw_what_they_name(face):
    at = (30, 40)
    white, _ = loc.paste_occluder(face, "white", 30, at=at)
    assert (white[40:70, 30:60] == 255).all()
    pix, _ = loc.paste_occluder(face, "pixelate", 32, at=at)
    block = face[40:48, 30:38].reshape(-1, 3).mean(0)
    assert np.abs(pix[40:48, 30:38].astype(float) - block).max() <= 1.0
    assert len(np.unique(pix[40:72, 30:62].reshape(-1, 3), axis=0)) <= 16
    chk, _ = loc.paste_occluder(face, "checker", 30, at=at)
    assert (chk[40, 30] == 0).all() and (chk[40, 36] == 255).all() and (chk[46, 36] == 0).all()


def test_disturbance_masks_are_the_changed_pixels(face):
    tex = np.full((40, 60, 3), 5, np.uint8)
    for kind, texture in (("sunglasses", None), ("real_mask", tex)):
        out, mask = loc.paste_occluder(face, kind, texture=texture)
        assert np.array_equal(mask, (out != face).any(axis=2)) and mask.sum() > 100


def test_unknown_occluder_raises(face):
    with pytest.raises(InvalidArgumentError):
        loc.paste_occluder(face, "hat")


def test_occluded_faces_are_seeded_and_eye_squares_cover_the_eyes(face):
    a, ma = loc.occluded_faces([face, face], "noise", 20, seed=0)
    b, mb = loc.occluded_faces([face, face], "noise", 20, seed=0)
    c, _ = loc.occluded_faces([face, face], "noise", 20, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and np.array_equal(ma, mb)
    assert not np.array_equal(a[0], c[0])
    _, eyes = loc.occluded_faces([face, face], "eye_square", 40)
    rm = regions.region_masks()
    assert (eyes[0] & rm["left_eye"]).sum() == rm["left_eye"].sum()
    assert (eyes[1] & rm["right_eye"]).sum() == rm["right_eye"].sum()
    # the mouth and cheek squares: most of each square lies on the region it should name
    for kind in ("mouth_square", "cheek_square"):
        side, _, named = loc.VERDICT_SQUARES[kind]
        _, sq = loc.occluded_faces([face, face], kind, side)
        for i in (0, 1):
            assert sq[i].sum() == side * side
            share = {k: (sq[i] & v).sum() for k, v in rm.items()}
            assert max(share, key=share.get) == named[i], (kind, i, share)


def test_report_faces_leave_out_the_fit_identities():
    by_id = {"amy": ["a1"], "zoe": ["z1", "z2"], "leonard": ["l1"], "raj": ["r1"]}
    faces, names = loc.report_faces(by_id)
    assert names == ["raj", "zoe"] and faces == ["r1", "z1", "z2"]
    assert not set(names) & set(loc.FIT_IDENTITIES)


@pytest.mark.slow
def test_localisation_benchmark_records_costs_and_verdicts(sface, real_faces):
    faces = [f.permute(1, 2, 0).round().byte().numpy() for f in real_faces[:3]]
    methods = ("plq", "mean_face_deviation", "random")
    out = loc.localisation_benchmark(
        sface, faces, methods=methods, occluders=("black",), sizes=(30, 40), n_passes=8
    )
    recs = {(r["map_method"], r["size"], r["metric"]): r for r in out["records"]}
    assert {r["occluder"] for r in out["records"]} == {"black"}, "eye squares: verdicts only"
    assert len(recs) == len(out["records"]) == 2 * (1 + 3 * len(methods))
    tol = 1e-9  # the CI's bounds are means of resamples: equal values may differ in the last bit
    assert all(r["n"] == 3 for r in recs.values())
    assert all(r["ci_low"] - tol <= r["mean"] <= r["ci_high"] + tol for r in recs.values())
    for size in (30, 40):
        # a black square is as unlike the mean face as pixels get: the model-free control
        # finds it; independent noise does not
        assert recs[("mean_face_deviation", size, "loc_auroc")]["mean"] > 0.7
        assert abs(recs[("random", size, "loc_auroc")]["mean"] - 0.5) < 0.05
        assert recs[(None, size, "delta_q")]["mean"] < 0, "SFace: a black square lowers Q̂"
    assert [c["map_method"] for c in out["costs"]] == list(methods)
    assert out["costs"][2]["seconds_per_face"] < out["costs"][0]["seconds_per_face"]
    kinds = {(v["map_method"], v["occluder"]) for v in out["verdicts"]}
    assert kinds == {(m, k) for m in methods for k in loc.VERDICT_KINDS}
    assert all(v["reference"] and v["n"] == 3 for v in out["verdicts"])
    with pytest.raises(InvalidArgumentError, match="at least 2 faces"):
        loc.localisation_benchmark(sface, faces[:1])


# ------------------------------------------------------------------- map methods
def test_mean_face_is_packaged():
    m = cf.mean_face()
    assert m.shape == (3, 112, 112) and m.dtype == torch.float32
    assert 40 < float(m.mean()) < 200


def test_counterfactual_map_shape_range_and_determinism(sface, real_faces):
    x = real_faces[:1]
    kw = dict(n_passes=4, n_segments=(8,), seed=0)
    a = cf.counterfactual_map(sface, x, **kw)
    assert a.shape == (1, 112, 112) and a.dtype == torch.float32 and torch.isfinite(a).all()
    assert float(a.abs().max()) < 1.0, "units of raw Q"
    assert torch.equal(a, cf.counterfactual_map(sface, x, **kw))
    p = cf.combine_prior(a, cf.deviation_map(x, n_segments=(8,)))
    assert float(p.min()) > 0 and float(p.max()) <= 1.0


def test_counterfactual_map_blames_a_black_square(sface, real_faces):
    """A 40 px black square over an eye: its pixels rank low in the counterfactual map."""
    face = real_faces[0].permute(1, 2, 0).round().byte().numpy()
    imgs, masks = loc.occluded_faces([face], "eye_square", 40)
    x = torch.from_numpy(imgs[0]).permute(2, 0, 1).float()[None]
    m = cf.counterfactual_map(sface, x, n_passes=10, n_segments=(25,), seed=0)
    assert loc.loc_auroc(m[0], masks[0]) > 0.6


def test_rank_map_is_scale_free():
    m = torch.rand(2, 8, 8)
    assert torch.allclose(cf.rank_map(m), cf.rank_map(3 * m + 1))
    assert float(cf.rank_map(m).max()) == pytest.approx(1.0)


def test_quality_gradient_matches_finite_differences_of_q_hat():
    """|dQ̂/dI| (mean over RGB) with fixed dropout masks, against central differences."""
    model = make_tiny_model(torch.float64, size=16)
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64) * 255
    kw = dict(n_passes=6, seed=2, alpha=10.0, r=0.5)
    g = map_methods.quality_gradient(model, x, **kw)
    h = 1e-3
    for i, j in ((3, 4), (8, 8), (12, 1)):
        parts = []
        for c in range(3):
            e = torch.zeros_like(x)
            e[0, c, i, j] = h
            qp = serfiq_quality(model, x + e, **kw).q
            qm = serfiq_quality(model, x - e, **kw).q
            parts.append(abs(float((qp - qm) / (2 * h))))
        assert float(g[0, i, j]) == pytest.approx(np.mean(parts), rel=1e-4, abs=1e-12)


def test_smoothed_maps_are_smooth_versions():
    m = torch.zeros(1, 32, 32)
    m[0, 16, 16] = 1.0
    s = cf.smooth_maps(m, 2.0)
    assert float(s.sum()) == pytest.approx(1.0, rel=1e-3) and float(s.max()) < 0.1
    assert torch.equal(cf.smooth_maps(m, 0.0), m)


def test_quality_map_dispatches_and_rejects_unknown_names(sface, real_faces):
    x = real_faces[:1]
    want = map_methods.plq_map(sface, x, n_passes=8)
    assert torch.equal(core_maps.quality_map(sface, x, "plq", n_passes=8), want)
    assert torch.equal(core_maps.quality_map(sface, x, n_passes=8), want), "plq: the default"
    with pytest.raises(InvalidArgumentError, match="unknown map method"):
        core_maps.quality_map(sface, x, "nomap")
    assert set(core_maps.MAP_DESCRIPTIONS) == set(core_maps.MAP_METHODS)


# -------------------------------------------------------------------- region verdicts
def test_lowest_region_against_a_reference():
    rm = regions.region_masks()
    rng = np.random.default_rng(0)
    typical = 0.5 + 0.01 * rng.standard_normal((6, 112, 112))
    ref = regions.region_mean_reference(typical)
    assert set(ref["mean"]) == set(regions.FACE_REGIONS)
    m = np.full((112, 112), 0.5)
    m[rm["right_eye"]] = 0.2
    region, score = regions.lowest_region(m, ref)
    assert region == "right_eye" and score < -3
    assert regions.lowest_region(m)[0] == "right_eye"
    assert "image-right eye" in regions.verdict_text(region, score)


def test_packaged_region_references_cover_every_network_and_method():
    for name in ("sface", "mobilefacenet"):
        for method in core_maps.list_map_methods():
            if name == "mobilefacenet" and method == "grafiqs":
                continue  # no BatchNorm statistics: GraFIQs refuses MobileFaceNet
            ref = regions.network_region_reference(name, method)
            assert ref is not None and set(ref["std"]) == set(regions.FACE_REGIONS), (name, method)
