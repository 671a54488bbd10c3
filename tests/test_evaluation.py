"""Evaluation toolkit: degradations, verification sanity, the paper's experiments, the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pixelfiq_lib import config
from pixelfiq_lib import evaluation as ev

NEEDS_BBT = pytest.mark.skipif(
    config.bbt_dir() is None,
    reason="shared/data/bbt not found (set PIXELFIQ_SHARED to the folder holding data/bbt)")


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    from pixelfiq_lib.data import sample_faces

    return sample_faces(1)[0].image


@pytest.fixture(scope="module")
def good_faces() -> list[np.ndarray]:
    """bbt (when present) + the insightface sample faces, aligned."""
    from pixelfiq_lib.data import bbt_faces, sample_faces

    faces = [f.image for f in sample_faces()]
    if config.bbt_dir() is not None:
        faces += [f.image for v in bbt_faces().values() for f in v]
    return faces


# ------------------------------------------------------------------ degradations
@pytest.mark.parametrize("kind", sorted(ev.DEGRADATIONS))
def test_degrade_is_deterministic_and_keeps_format(face, kind):
    a = ev.degrade(face, kind, 2, np.random.default_rng(7))
    b = ev.degrade(face, kind, 2, np.random.default_rng(7))
    assert a.shape == (112, 112, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, face)


@pytest.mark.parametrize("kind", sorted(ev.DEGRADATIONS))
def test_degrade_distance_grows_with_strength(face, kind):
    mse = [np.mean((ev.degrade(face, kind, s, np.random.default_rng(3)).astype(float) - face) ** 2)
           for s in ev.STRENGTHS]
    assert mse[0] < mse[1] < mse[2], mse


def test_blur_and_downscale_lower_sharpness_monotonically(face):
    for kind in ("blur", "downscale"):
        sharp = [ev.laplacian_variance(face)] + [
            ev.laplacian_variance(ev.degrade(face, kind, s, np.random.default_rng(0)))
            for s in ev.STRENGTHS]
        assert all(x > y for x, y in zip(sharp, sharp[1:])), (kind, sharp)


def test_low_light_darkens_and_noise_adds_spread(face):
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    means = [ev.degrade(face, "low_light", s, rng()).mean() for s in ev.STRENGTHS]
    assert face.mean() > means[0] > means[1] > means[2]
    resid = [np.std(ev.degrade(face, "noise", s, rng()).astype(float) - face)
             for s in ev.STRENGTHS]
    assert resid[0] < resid[1] < resid[2]


def test_degrade_refuses_bad_input(face):
    with pytest.raises(ev.InvalidArgumentError):
        ev.degrade(face, "fog", 1, np.random.default_rng(0))
    with pytest.raises(ev.InvalidArgumentError):
        ev.degrade(face, "blur", 4, np.random.default_rng(0))
    with pytest.raises(ev.InvalidArgumentError):
        ev.degrade(face[:, :, 0], "blur", 1, np.random.default_rng(0))


def test_all_pairs_cap_is_a_seeded_sample():
    labels = np.repeat(np.arange(30), 4)
    ia, ib, how = ev.all_pairs(labels, 500, np.random.default_rng(0))
    ja, jb, _ = ev.all_pairs(labels, 500, np.random.default_rng(0))
    assert len(ia) == 500 and "sample" in how and (ia < ib).all()
    np.testing.assert_array_equal(ia, ja)
    assert len(set(zip(ia.tolist(), ib.tolist()))) == 500
    assert (labels[ia] == labels[ib]).sum() == 30 * 6  # every genuine pair kept


def test_read_pairs_file_lfw_format(tmp_path):
    files = {"ann": [tmp_path / "ann" / f"ann_{i:04d}.jpg" for i in (1, 2)],
             "bob": [tmp_path / "bob" / "bob_0001.jpg"]}
    (tmp_path / "pairs.txt").write_text("1\t2\nann\t1\t2\nann\t1\tbob\t1\nann\t1\tzed\t1\n")
    pairs = ev.read_pairs_file(tmp_path / "pairs.txt", files)
    assert pairs == [(files["ann"][0], files["ann"][1]), (files["ann"][0], files["bob"][0])]


# ----------------------------------------------------------------- verification
@NEEDS_BBT
def test_verification_sanity_on_bbt(sface):
    from sklearn.metrics import roc_auc_score

    bset = ev.build_benchmark(config.bbt_dir(), seed=0, copies=0)
    emb = ev.embed_faces(sface, [s.image for s in bset.samples], n_passes=2)["emb"]
    scores = ev.cosine_scores(emb, bset.idx_a, bset.idx_b)
    gen = bset.is_genuine
    assert gen.sum() == 80 and (~gen).sum() == 700
    assert (scores[gen] > np.median(scores[~gen])).all()
    assert roc_auc_score(gen, scores) >= 0.99
    assert ev.roc_auc(scores, gen) == pytest.approx(roc_auc_score(gen, scores))


@NEEDS_BBT
def test_probe_copies_make_failures_and_cover_every_degradation():
    bset = ev.build_benchmark(config.bbt_dir(), seed=0, copies=3)
    kinds = {(s.kind, s.strength) for s in bset.samples[bset.n_originals:]}
    assert len(kinds) == len(ev.DEGRADATIONS) * len(ev.STRENGTHS)
    assert len(bset.idx_a) == 4 * 780 and bset.is_genuine.sum() == 4 * 80
    assert (bset.idx_a < bset.n_originals).all()


# ------------------------------------------------------------ paper experiments
def test_black_square_lowers_quality_for_most_faces(sface, good_faces):
    res = ev.square_experiment(sface, good_faces, sides=(40,), seed=0, maps=False)
    row = res["by_side"][0]
    assert row["n"] == len(good_faces) and row["frac_q_drop"] >= 0.8, row


def test_paper_experiment_functions_return_documented_keys(sface, good_faces):
    faces, kw = good_faces[:2], dict(seed=0, n_passes=8)
    sq = ev.square_experiment(sface, faces, sides=(20,), **kw)
    assert set(sq) == {"n_faces", "seed", "n_passes", "base", "by_side"}
    for key in ("side", "q_mean", "q_std", "delta_q_mean", "frac_q_drop",
                "frac_lower_than_rest_image", "frac_lower_than_rest_face",
                "frac_lower_than_unmodified"):
        assert key in sq["by_side"][0]
    inp = ev.inpainting_experiment(sface, faces, known_regions=[ev.sunglasses_region()] * 2, **kw)
    assert {"before", "lowest", "random", "frac_lowest_beats_random", "window_on_occluder_mean",
            "oracle"} <= set(inp)
    dist = ev.disturbance_experiment(sface, faces, turned=None, **kw)
    assert set(dist) == {"clean", *ev.DISTURBANCES, "head_turn"} and "skipped" in dist["head_turn"]
    assert set(dist["sunglasses"]["regions"]) >= {"left_eye", "mouth", "background"}
    json.dumps(ev._plain({"sq": sq, "inp": inp, "dist": dist}), allow_nan=False)


def test_disturbances_change_their_region_only(face):
    for kind in ("sunglasses", "drawn_mask"):
        out = ev.disturb(face, kind)
        changed = (out != face).any(axis=2)
        assert changed.any() and not changed[~ev.disturbance_region(kind)].any()
    tex = ev.mask_textures()["mask_blue"]
    assert (ev.disturb(face, "real_mask", tex) != face).any()
    box = ev.lowest_window(np.random.default_rng(0).random((112, 112)), 24)
    assert box[2] - box[0] == 24 and ev.FACE_BOX[0] <= box[0] and box[3] <= ev.FACE_BOX[3]


# ------------------------------------------------------------------------ CLI
@NEEDS_BBT
def test_evaluate_cli_end_to_end(tmp_path):
    from pixelfiq_lib.cli import main

    data = tmp_path / "faces"
    for name in ("amy", "raj"):
        (data / name).mkdir(parents=True)
        for src in sorted((config.bbt_dir() / name).glob("*.png"))[:3]:
            (data / name / src.name).write_bytes(src.read_bytes())
    out = tmp_path / "out"
    argv = ["evaluate", "--data", str(data), "--out", str(out), "--fast", "--model", "sface",
            "--passes", "8", "--paper-faces", "2", "--faith-faces", "1", "--faith-steps", "2",
            "--quiet"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert {"meta", "verification", "probes", "edc", "faithfulness",
            "paper_experiments"} <= set(res)
    assert res["meta"]["n_images"] == 6 and res["meta"]["n_identities"] == 2
    edc_keys = {"quality_method", "model", "variant", "fmr", "starting_fnmr", "pauc_0.2",
                "pauc_0.3", "pauc_0.2_minus_best", "pauc_0.3_minus_best"}
    assert all(edc_keys <= set(r) for r in res["edc"])
    assert {r["quality_method"] for r in res["edc"]} == set(ev.QUALITY_METHODS)
    assert {r["variant"] for r in res["edc"]} == {"fixed", "recalibrated"}
    assert all({"map_method", "model", "metric", "mean", "std", "n"} <= set(r)
               for r in res["faithfulness"])
    assert {"plq", "random", "gradcam"} <= {r["map_method"] for r in res["faithfulness"]}
    assert {"squares", "inpainting", "disturbances"} <= set(res["paper_experiments"]["sface"])
    assert len(list(out.glob("edc_sface_*.png"))) == 3 and (out / "edc.md").is_file()
