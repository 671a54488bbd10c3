"""Evaluation toolkit: degradations, verification sanity, the paper's experiments, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pixelfiq_lib import config, errors
from pixelfiq_lib.core import maps as core_maps
from pixelfiq_lib.evaluation import (
    benchmark_set,
    experiments,
    faithfulness,
    perturbations,
    report,
    verification,
)

NEEDS_BBT = pytest.mark.skipif(
    config.bbt_dir() is None,
    reason="data/bbt not found (PIXELFIQ_DATA points to a folder without bbt/)",
)


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


@pytest.fixture(scope="module")
def sample_images() -> list[np.ndarray]:
    """The insightface sample photos as aligned (112, 112, 3) uint8 faces."""
    from pixelfiq_lib.data import sample_faces

    return [f.image for f in sample_faces()]


# ------------------------------------------------------------------ degradations
@pytest.mark.parametrize("kind", sorted(perturbations.DEGRADATIONS))
def test_degrade_is_deterministic_and_keeps_format(face, kind):
    a = perturbations.degrade(face, kind, 2, np.random.default_rng(7))
    b = perturbations.degrade(face, kind, 2, np.random.default_rng(7))
    assert a.shape == (112, 112, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, face)


@pytest.mark.parametrize("kind", sorted(perturbations.DEGRADATIONS))
def test_degrade_distance_grows_with_strength(face, kind):
    mse = [
        np.mean(
            (perturbations.degrade(face, kind, s, np.random.default_rng(3)).astype(float) - face)
            ** 2
        )
        for s in perturbations.STRENGTHS
    ]
    assert mse[0] < mse[1] < mse[2], mse


def test_blur_and_downscale_lower_sharpness_monotonically(face):
    for kind in ("blur", "downscale"):
        sharp = [perturbations.laplacian_variance(face)] + [
            perturbations.laplacian_variance(
                perturbations.degrade(face, kind, s, np.random.default_rng(0))
            )
            for s in perturbations.STRENGTHS
        ]
        assert all(x > y for x, y in zip(sharp, sharp[1:])), (kind, sharp)


def test_low_light_darkens_and_noise_adds_spread(face):
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    means = [
        perturbations.degrade(face, "low_light", s, rng()).mean() for s in perturbations.STRENGTHS
    ]
    assert face.mean() > means[0] > means[1] > means[2]
    resid = [
        np.std(perturbations.degrade(face, "noise", s, rng()).astype(float) - face)
        for s in perturbations.STRENGTHS
    ]
    assert resid[0] < resid[1] < resid[2]


def test_degrade_refuses_bad_input(face):
    with pytest.raises(errors.InvalidArgumentError):
        perturbations.degrade(face, "fog", 1, np.random.default_rng(0))
    with pytest.raises(errors.InvalidArgumentError):
        perturbations.degrade(face, "blur", 4, np.random.default_rng(0))
    with pytest.raises(errors.InvalidImageError):
        perturbations.degrade(face[:, :, 0], "blur", 1, np.random.default_rng(0))


def test_all_pairs_cap_is_a_seeded_sample():
    labels = np.repeat(np.arange(30), 4)
    ia, ib, how = benchmark_set.all_pairs(labels, 500, np.random.default_rng(0))
    ja, jb, _ = benchmark_set.all_pairs(labels, 500, np.random.default_rng(0))
    assert len(ia) == 500 and "sample" in how and (ia < ib).all()
    np.testing.assert_array_equal(ia, ja)
    assert len(set(zip(ia.tolist(), ib.tolist()))) == 500
    assert (labels[ia] == labels[ib]).sum() == 30 * 6  # every genuine pair kept


def test_read_pairs_file_lfw_format(tmp_path):
    files = {
        "ann": [tmp_path / "ann" / f"ann_{i:04d}.jpg" for i in (1, 2)],
        "bob": [tmp_path / "bob" / "bob_0001.jpg"],
    }
    (tmp_path / "pairs.txt").write_text("1\t2\nann\t1\t2\nann\t1\tbob\t1\nann\t1\tzed\t1\n")
    pairs = benchmark_set.read_pairs_file(tmp_path / "pairs.txt", files)
    assert pairs == [(files["ann"][0], files["ann"][1]), (files["ann"][0], files["bob"][0])]


# --------------------------------------------------------- masks, inpainting, yaw
def test_box_mask_marks_exactly_the_box():
    x0, y0, x1, y1 = 20, 35, 50, 45  # wider than tall: x and y must not be swapped
    mask = perturbations.box_mask((x0, y0, x1, y1))
    assert mask.shape == (112, 112) and mask.dtype == bool
    assert mask.sum() == (x1 - x0) * (y1 - y0)
    ys, xs = np.nonzero(mask)
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (x0, x1, y0, y1)
    assert perturbations.box_mask((10, 10, 10, 30)).sum() == 0  # zero width: empty
    small = perturbations.box_mask((2, 3, 5, 7), size=8)
    assert small.shape == (8, 8) and small.sum() == 12


def test_box_mask_is_clipped_at_the_far_border():
    mask = perturbations.box_mask((100, 90, 130, 140))
    assert mask.sum() == (112 - 100) * (112 - 90)
    assert mask[90:, 100:].all() and not mask[:90].any() and not mask[:, :100].any()


def test_box_mask_covers_the_pixels_fill_box_paints(face):
    box = (30, 40, 61, 57)
    lifted = np.maximum(face, 1)  # no pixel is already black
    changed = (perturbations.fill_box(lifted, box, 0) != lifted).any(axis=2)
    np.testing.assert_array_equal(changed, perturbations.box_mask(box))


def test_inpaint_region_changes_only_the_region_and_fills_it_plausibly(face):
    box = (50, 60, 62, 72)
    mask = perturbations.box_mask(box)
    holed = perturbations.fill_box(face, box, 0)
    kept = holed.copy()
    out = experiments.inpaint_region(holed, mask)
    assert out.shape == (112, 112, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(holed, kept)  # input not modified
    np.testing.assert_array_equal(out[~mask], holed[~mask])  # outside bit-identical
    ring = perturbations.box_mask((46, 56, 66, 76)) & ~mask
    filled = out[mask].astype(float)
    assert filled.min() > 30  # no black left in the square
    np.testing.assert_allclose(filled.mean(0), holed[ring].mean(0), atol=30)
    # much closer to the hidden original than the black square was
    assert np.abs(filled - face[mask]).mean() < 0.25 * np.abs(0.0 - face[mask]).mean()


def test_inpaint_region_with_empty_region_returns_the_face(face):
    out = experiments.inpaint_region(face, np.zeros((112, 112), bool))
    np.testing.assert_array_equal(out, face)
    assert out is not face


def _moved_nose(dx: float) -> np.ndarray:
    from pixelfiq_lib.data import ARCFACE_TEMPLATE

    lmk = ARCFACE_TEMPLATE.astype(np.float64).copy()
    lmk[2, 0] += dx
    return lmk


def test_yaw_proxy_is_zero_for_the_template_and_signed_by_the_nose():
    from pixelfiq_lib.data import ARCFACE_TEMPLATE

    assert abs(perturbations.yaw_proxy(ARCFACE_TEMPLATE)) < 0.01
    iod = float(np.linalg.norm(ARCFACE_TEMPLATE[1] - ARCFACE_TEMPLATE[0]))
    right, left = (
        perturbations.yaw_proxy(_moved_nose(10.0)),
        perturbations.yaw_proxy(_moved_nose(-10.0)),
    )
    assert right > 0 > left
    assert right == pytest.approx(10.0 / iod, abs=0.01)
    assert left == pytest.approx(-right, abs=0.01)
    assert (
        abs(right) >= perturbations.TURNED_YAW
        and abs(perturbations.yaw_proxy(_moved_nose(2.0))) < perturbations.FRONTAL_YAW
    )


def test_yaw_proxy_ignores_position_scale_and_roll_and_flips_with_a_mirror():
    lmk = _moved_nose(7.0)
    ref = perturbations.yaw_proxy(lmk)
    a = np.deg2rad(25.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = 2.5 * lmk @ rot.T + np.array([300.0, -40.0])
    assert perturbations.yaw_proxy(moved) == pytest.approx(ref, rel=1e-9)
    mirrored = lmk.copy()
    mirrored[:, 0] = 112 - mirrored[:, 0]
    mirrored = mirrored[[1, 0, 2, 4, 3]]  # keep ArcFace order: image-left eye first
    assert perturbations.yaw_proxy(mirrored) == pytest.approx(-ref, rel=1e-9)


# ----------------------------------------------------------------- verification
@NEEDS_BBT
def test_verification_sanity_on_bbt(sface):
    from sklearn.metrics import roc_auc_score

    bset = benchmark_set.build_benchmark(config.bbt_dir(), seed=0, copies=0)
    emb = verification.embed_faces(sface, [s.image for s in bset.samples], n_passes=2)["emb"]
    scores = verification.cosine_scores(emb, bset.idx_a, bset.idx_b)
    gen = bset.is_genuine
    assert gen.sum() == 80 and (~gen).sum() == 700
    assert (scores[gen] > np.median(scores[~gen])).all()
    assert roc_auc_score(gen, scores) >= 0.99
    assert verification.roc_auc(scores, gen) == pytest.approx(roc_auc_score(gen, scores))


@NEEDS_BBT
def test_probe_copies_make_failures_and_cover_every_degradation():
    bset = benchmark_set.build_benchmark(config.bbt_dir(), seed=0, copies=3)
    kinds = {(s.kind, s.strength) for s in bset.samples[bset.n_originals :]}
    assert len(kinds) == len(perturbations.DEGRADATIONS) * len(perturbations.STRENGTHS)
    assert len(bset.idx_a) == 4 * 780 and bset.is_genuine.sum() == 4 * 80
    assert (bset.idx_a < bset.n_originals).all()


@pytest.fixture
def tiny_identity_folder(tmp_path):
    """tmp_path/faces/<identity>/<image>: 3, 2 and 2 bbt crops of three identities."""
    root = tmp_path / "faces"
    for name, count in (("amy", 3), ("raj", 2), ("penny", 2)):
        (root / name).mkdir(parents=True)
        for src in sorted((config.bbt_dir() / name).glob("*.png"))[:count]:
            (root / name / src.name).write_bytes(src.read_bytes())
    return root


@NEEDS_BBT
def test_verification_benchmark_counts_and_scores_on_a_tiny_folder(sface, tiny_identity_folder):
    from math import comb

    from pixelfiq_lib.data import to_tensor

    per_id = [len(list(d.iterdir())) for d in tiny_identity_folder.iterdir()]
    n, copies = sum(per_id), 1
    n_gen = sum(comb(k, 2) for k in per_id)
    n_imp = comb(n, 2) - n_gen
    bset = benchmark_set.build_benchmark(tiny_identity_folder, seed=0, copies=copies)
    assert bset.skipped == []  # so every file of the folder is a face below
    ver = verification.verification_benchmark(sface, bset, n_passes=4, seed=0)
    s = ver["summary"]
    assert (s["n_genuine"], s["n_impostor"]) == ((1 + copies) * n_gen, (1 + copies) * n_imp)
    assert s["n_comparisons"] == (1 + copies) * comb(n, 2)
    assert (s["n_images"], s["n_probe_copies"], s["n_identities"]) == (n, n * copies, 3)
    assert s["pairs_source"] == "all pairs" and s["n_skipped"] == 0

    scores = ver["scores"]
    assert scores.shape == (s["n_comparisons"],)
    assert np.isfinite(scores).all() and (np.abs(scores) <= 1 + 1e-6).all()
    with torch.no_grad():  # cosines of the model's own unit embeddings
        emb = sface(to_tensor([x.image for x in bset.samples])).numpy()
    np.testing.assert_allclose(scores, (emb[bset.idx_a] * emb[bset.idx_b]).sum(1), atol=1e-4)
    orig = bset.idx_b < bset.n_originals
    gen, imp = scores[bset.is_genuine & orig], scores[~bset.is_genuine & orig]
    assert gen.min() > imp.max() and s["roc_auc_originals"] == 1.0
    assert 0.0 <= s["roc_auc"] <= 1.0 and 0.0 <= s["fnmr_at_fmr_1e-3"] <= 1.0

    assert set(ver["quality"]) == set(verification.QUALITY_METHODS)
    assert all(
        v.shape == (len(bset.samples),) and np.isfinite(v).all() for v in ver["quality"].values()
    )
    assert len(ver["edc"]) == len(verification.EDC_SETTINGS) * len(verification.QUALITY_METHODS)
    assert set(ver["curves"]) == {
        (k, m) for k in range(len(verification.EDC_SETTINGS)) for m in verification.QUALITY_METHODS
    }
    probes = ver["probes"]
    assert sum(r["n_probes"] for r in probes) == len(bset.samples)
    assert sum(r["n_genuine"] for r in probes) == s["n_genuine"]
    assert probes[0]["kind"] == "none" and probes[0]["n_probes"] == n

    again = verification.verification_benchmark(sface, bset, n_passes=4, seed=0)
    np.testing.assert_array_equal(again["scores"], scores)
    for method in ("serfiq", "random"):
        np.testing.assert_array_equal(again["quality"][method], ver["quality"][method])
    other = verification.verification_benchmark(sface, bset, n_passes=4, seed=1)
    assert not np.array_equal(other["quality"]["random"], ver["quality"]["random"])


# ------------------------------------------------------------- evaluate_faces
def test_evaluate_faces_one_value_per_face_in_documented_ranges(sface, sample_images):
    faces = sample_images[:3]
    res = experiments.evaluate_faces(sface, faces, n_passes=6, seed=0)
    assert set(res) == {"q", "q_raw", "q_se", "plq"}
    for key in ("q", "q_raw", "q_se"):
        assert isinstance(res[key], np.ndarray) and res[key].shape == (3,)
        assert np.isfinite(res[key]).all()
    assert ((res["q"] > 0) & (res["q"] < 1)).all() and (res["q_se"] >= 0).all()
    assert res["plq"].shape == (3, 112, 112)
    assert res["plq"].min() >= 0 and res["plq"].max() < 1
    assert not np.allclose(res["plq"][0], res["plq"][0].mean())  # a map, not a constant

    fast = experiments.evaluate_faces(sface, faces, n_passes=6, seed=0, maps=False)
    assert set(fast) == {"q", "q_raw", "q_se"}
    for key in fast:  # the map path and the quality-only path agree
        np.testing.assert_allclose(fast[key], res[key], rtol=1e-4, atol=1e-6)


def test_evaluate_faces_is_seeded_and_independent_of_the_batch(sface, sample_images):
    kw = dict(n_passes=6, maps=False)
    faces = sample_images * 2  # more faces than one chunk of 8
    n = len(sample_images)
    first = experiments.evaluate_faces(sface, faces, seed=3, **kw)
    again = experiments.evaluate_faces(sface, faces, seed=3, **kw)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    np.testing.assert_allclose(first["q"][:n], first["q"][n:], rtol=1e-5)
    alone = experiments.evaluate_faces(sface, [sample_images[1]], seed=3, **kw)
    assert alone["q"][0] == pytest.approx(first["q"][1], rel=1e-5)
    other = experiments.evaluate_faces(sface, faces[:n], seed=4, **kw)
    assert not np.allclose(other["q"], first["q"][:n])
    maps = experiments.evaluate_faces(sface, sample_images[:2], n_passes=6, seed=3)
    maps2 = experiments.evaluate_faces(sface, sample_images[:2], n_passes=6, seed=3)
    np.testing.assert_array_equal(maps["plq"], maps2["plq"])


# ------------------------------------------------------------ paper experiments
def test_black_square_lowers_quality_for_most_faces(sface, good_faces):
    res = experiments.square_experiment(sface, good_faces, sides=(40,), seed=0, maps=False)
    row = res["by_side"][0]
    assert row["n"] == len(good_faces) and row["frac_q_drop"] >= 0.8, row


def test_paper_experiment_functions_return_documented_keys(sface, good_faces):
    faces, kw = good_faces[:2], dict(seed=0, n_passes=8)
    sq = experiments.square_experiment(sface, faces, sides=(20,), **kw)
    assert set(sq) == {"n_faces", "seed", "n_passes", "base", "by_side"}
    for key in (
        "side",
        "q_mean",
        "q_std",
        "delta_q_mean",
        "frac_q_drop",
        "frac_lower_than_rest_image",
        "frac_lower_than_rest_face",
        "frac_lower_than_unmodified",
    ):
        assert key in sq["by_side"][0]
    inp = experiments.inpainting_experiment(
        sface, faces, known_regions=[perturbations.sunglasses_region()] * 2, **kw
    )
    assert {
        "before",
        "lowest",
        "random",
        "frac_lowest_beats_random",
        "window_on_occluder_mean",
        "oracle",
    } <= set(inp)
    dist = experiments.disturbance_experiment(sface, faces, turned=None, **kw)
    assert (
        set(dist) == {"clean", *perturbations.DISTURBANCES, "head_turn"}
        and "skipped" in dist["head_turn"]
    )
    assert set(dist["sunglasses"]["regions"]) >= {"left_eye", "mouth", "background"}
    json.dumps(report._plain({"sq": sq, "inp": inp, "dist": dist}), allow_nan=False)


def test_disturbances_change_their_region_only(face):
    for kind in ("sunglasses", "drawn_mask"):
        out = perturbations.disturb(face, kind)
        changed = (out != face).any(axis=2)
        assert changed.any() and not changed[~perturbations.disturbance_region(kind)].any()
    tex = perturbations.mask_textures()["mask_blue"]
    assert (perturbations.disturb(face, "real_mask", tex) != face).any()
    box = experiments.lowest_window(np.random.default_rng(0).random((112, 112)), 24)
    assert (
        box[2] - box[0] == 24
        and perturbations.FACE_BOX[0] <= box[0]
        and box[3] <= perturbations.FACE_BOX[3]
    )


# ---------------------------------------------------------------- faithfulness
FAITH_STEPS, FAITH_METHODS = 3, ("plq", "random")


@pytest.fixture(scope="module")
def faith(sface, sample_images):
    """faithfulness_curves of PLQ and the random map on two faces, tiny settings."""
    faces = sample_images[:2]
    return faces, faithfulness.faithfulness_curves(
        sface, faces, methods=FAITH_METHODS, steps=FAITH_STEPS, n_passes=4, seed=0, fast=True
    )


def test_faithfulness_curves_shapes_ranges_and_records(sface, faith):
    faces, (records, curves, seconds) = faith
    steps, n = FAITH_STEPS, len(faces)
    assert set(curves) == set(FAITH_METHODS) and set(seconds) == set(FAITH_METHODS)
    assert all(v > 0 for v in seconds.values())
    for trio in curves.values():
        assert [(c.kind, c.order) for c in trio] == [
            ("deletion", "low_first"),
            ("deletion", "high_first"),
            ("insertion", "high_first"),
        ]
        for c in trio:
            frac = c.fractions.cpu().numpy()
            assert frac.shape == (steps + 1,) and frac[0] == 0 and frac[-1] == pytest.approx(1)
            assert (np.diff(frac) > 0).all()
            assert c.quality.shape == c.cosine.shape == (n, steps + 1)
            assert c.auc_quality.shape == c.auc_cosine.shape == (n,)
            assert ((c.quality > 0) & (c.quality < 1)).all()
            assert ((c.auc_quality >= 0) & (c.auc_quality <= 1)).all()
            assert ((c.auc_cosine >= 0) & (c.auc_cosine <= 1 + 1e-6)).all()
        low, high, ins = trio
        # deletion starts at the unmodified face, insertion ends there
        torch.testing.assert_close(low.cosine[:, 0], torch.ones(n), atol=1e-4, rtol=0)
        torch.testing.assert_close(ins.cosine[:, -1], torch.ones(n), atol=1e-4, rtol=0)
        assert (ins.cosine[:, 0] < 0.9).all()  # the blurred canvas is not the face
        # both deletion orders share their first and last images
        torch.testing.assert_close(low.cosine[:, [0, -1]], high.cosine[:, [0, -1]])
        torch.testing.assert_close(low.quality[:, [0, -1]], high.quality[:, [0, -1]])

    assert len(records) == len(FAITH_METHODS) * 3 * 2
    assert {r["metric"] for r in records} == {
        f"{stem}_{t}"
        for stem in ("deletion_auc_low_first", "deletion_auc_high_first", "insertion_auc")
        for t in ("quality", "cosine")
    }
    assert all(r["n"] == n and r["model"] == sface.name for r in records)
    by_key = {(r["map_method"], r["metric"]): r["mean"] for r in records}
    for name, (low, high, ins) in curves.items():
        for metric, auc in (
            ("deletion_auc_low_first_cosine", low.auc_cosine),
            ("deletion_auc_high_first_quality", high.auc_quality),
            ("insertion_auc_cosine", ins.auc_cosine),
        ):
            assert by_key[(name, metric)] == pytest.approx(float(auc.mean()), rel=1e-5)


def test_faithfulness_curves_plq_beats_chance_on_cosine(faith):
    _, (records, _, _) = faith
    auc = {(r["map_method"], r["metric"]): r["mean"] for r in records}
    low, high, ins = (
        "deletion_auc_low_first_cosine",
        "deletion_auc_high_first_cosine",
        "insertion_auc_cosine",
    )
    assert auc[("plq", low)] > auc[("random", low)]
    assert auc[("plq", high)] < auc[("random", high)]
    assert auc[("plq", ins)] > auc[("random", ins)]


# ------------------------------------------------------------------------ CLI
@NEEDS_BBT
def test_evaluate_cli_end_to_end(tmp_path, capsys):
    from pixelfiq_lib.cli import main

    data = tmp_path / "faces"
    for name in ("amy", "raj"):
        (data / name).mkdir(parents=True)
        for src in sorted((config.bbt_dir() / name).glob("*.png"))[:3]:
            (data / name / src.name).write_bytes(src.read_bytes())
    out = tmp_path / "out"
    argv = [
        "evaluate",
        "--data",
        str(data),
        "--out",
        str(out),
        "--fast",
        "--model",
        "sface",
        "--passes",
        "8",
        "--paper-faces",
        "2",
        "--faith-faces",
        "1",
        "--faith-steps",
        "2",
        "--quiet",
    ]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert {"meta", "verification", "probes", "edc", "faithfulness", "paper_experiments"} <= set(
        res
    )
    assert res["meta"]["n_images"] == 6 and res["meta"]["n_identities"] == 2
    edc_keys = {
        "quality_method",
        "model",
        "variant",
        "fmr",
        "starting_fnmr",
        "pauc_0.2",
        "pauc_0.3",
        "pauc_0.2_minus_best",
        "pauc_0.3_minus_best",
    }
    assert all(edc_keys <= set(r) for r in res["edc"])
    assert {r["quality_method"] for r in res["edc"]} == set(verification.QUALITY_METHODS)
    assert {r["variant"] for r in res["edc"]} == {"fixed", "recalibrated"}
    methods = {r["quality_method"] for r in res["quality_methods"]}
    assert methods == {"serfiq", "grafiqs", "faceqan", "embedding_norm", "random"}
    assert "| quality method | sface |" in (out / "quality_methods_pauc.md").read_text()
    assert all(
        {"map_method", "model", "metric", "mean", "std", "n"} <= set(r) for r in res["faithfulness"]
    )
    every_method = set(core_maps.MAP_METHODS)
    assert {r["map_method"] for r in res["faithfulness"]} == every_method
    assert {"squares", "inpainting", "disturbances"} <= set(res["paper_experiments"]["sface"])
    assert len(list(out.glob("edc_sface_*.png"))) == 3 and (out / "edc.md").is_file()
    assert res["meta"]["faces"] == "main", "evaluate scores the photo's subject by default"
    assert "embed and score" not in capsys.readouterr().err, "--quiet: no progress bars"
    for name in ("images", "comparisons"):
        assert (out / f"{name}.parquet").is_file() and (out / f"{name}.csv").is_file()
    # occluder localisation on the non-FIT identity (raj), with bootstrap CIs
    loc_keys = {
        "map_method",
        "model",
        "occluder",
        "size",
        "metric",
        "mean",
        "ci_low",
        "ci_high",
        "n",
    }
    assert res["localisation"] and all(set(r) == loc_keys for r in res["localisation"])
    assert {r["metric"] for r in res["localisation"]} == {
        "loc_auroc",
        "loc_auroc_delta",
        "pointing",
        "delta_q",
    }
    assert {r["map_method"] for r in res["localisation"]} == every_method | {None}  # None: delta_q
    assert {r["map_method"] for r in res["map_costs"]} == every_method
    assert res["meta"]["localisation_faces"]["sface"] == ["raj"]
    assert all(r["ci_low"] <= r["mean"] + 1e-9 <= r["ci_high"] + 2e-9 for r in res["localisation"])
    assert {"fwd_bwd_equivalents"} <= set(res["map_costs"][0]) and res["region_verdicts"]
    assert all({"ci_low", "ci_high"} <= set(r) for r in res["faithfulness"])
    assert not (out / "results.partial.json").exists(), "a finished run leaves no partial file"


def test_a_stopped_run_keeps_its_finished_stages(tmp_path, monkeypatch):
    """results.partial.json is rewritten after every stage; a run stopped later keeps it."""
    from pixelfiq_lib.evaluation import run as run_module

    data = tmp_path / "faces"
    for name in ("amy", "raj"):
        (data / name).mkdir(parents=True)
        for src in sorted((config.bbt_dir() / name).glob("*.png"))[:2]:
            (data / name / src.name).write_bytes(src.read_bytes())

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "paper_experiments", stop)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_module.run_evaluation(
            data, out, models=["sface"], fast=True, passes=4, copies=0, faceqan_starts=1
        )
    partial = json.loads((out / "results.partial.json").read_text())
    assert partial["verification"] and partial["quality_methods"], "the edc stage is kept"
    assert partial["paper_experiments"] == {} and not (out / "results.json").exists()


def _edc_key(rec: dict) -> tuple:
    return (rec["quality_method"], rec["variant"], rec["fmr"], rec["starting_fnmr"])


@NEEDS_BBT
@pytest.mark.slow
def test_evaluation_tables_reproduce_the_edc_numbers_on_bbt(tmp_path, capsys):
    """images/comparisons tables of a bbt run: documented columns, and results.json's
    EDC pAUCs recomputed from comparisons.csv and .parquet alone."""
    import pandas as pd

    from pixelfiq_lib.evaluation import tables
    from pixelfiq_lib.evaluation.run import run_evaluation

    out = tmp_path / "out"
    res = run_evaluation(
        config.bbt_dir(),
        out,
        models=["sface"],
        passes=4,
        copies=1,
        fast=True,
        paper_faces=1,
        faith_faces=1,
        faith_steps=2,
        progress=True,
    )
    bars = capsys.readouterr().err
    for stage in ("detect and align", "embed and score", "paper experiments", "deletion/insertion"):
        assert stage in bars, f"no progress bar for {stage}"
    images = pd.read_parquet(out / "images.parquet")
    assert list(images.columns[: len(tables.IMAGE_COLUMNS)]) == list(tables.IMAGE_COLUMNS)
    originals = images[images["kind"] == "none"]
    assert len(originals) == 40 and (originals["status"] == "ok").all()
    assert (originals["face_index"] == 0).all() and (originals["detection_score"] > 0.6).all()
    assert images["quality_100"].between(0, 100).all()
    assert len(images) == 80 and images["identity"].nunique() == 8
    comp = pd.read_parquet(out / "comparisons.parquet")
    assert len(comp) == res["meta"]["n_comparisons"] == 2 * 780
    assert {f"pair_quality_{m}" for m in verification.QUALITY_METHODS} <= set(comp.columns)
    a_id = images.set_index("sample").loc[comp["a"], "identity"].to_numpy()
    b_id = images.set_index("sample").loc[comp["b"], "identity"].to_numpy()
    assert np.array_equal(a_id == b_id, comp["genuine"].to_numpy())
    want = {_edc_key(r): r for r in res["edc"]}
    for frame in (comp, pd.read_csv(out / "comparisons.csv")):
        got = tables.edc_from_comparisons(frame.to_dict("records"), "sface")
        assert len(got) == len(want)
        for rec in got:
            for key in ("pauc_0.2", "pauc_0.3", "start_fnmr"):
                assert rec[key] == pytest.approx(want[_edc_key(rec)][key], abs=1e-9), key
    saved = json.loads((out / "results.json").read_text())
    assert {_edc_key(r): r["pauc_0.2"] for r in saved["edc"]} == {
        k: v["pauc_0.2"] for k, v in want.items()
    }


@NEEDS_BBT
def test_face_table_of_a_folder(sface, tiny_identity_folder):
    from pixelfiq_lib.evaluation import tables

    (tiny_identity_folder / "notes.txt").write_text("not an image")
    (tiny_identity_folder / "amy" / "broken.png").write_bytes(b"not a png")
    rows = tables.face_table(sface, tiny_identity_folder, n_passes=4, seed=0)
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 7 and {r["identity"] for r in ok} == {"amy", "raj", "penny"}
    bad = [r for r in rows if r["status"] != "ok"]
    assert [r["status"] for r in bad] == ["unreadable"] and bad[0]["quality"] is None
    for r in ok:
        assert set(tables.IMAGE_COLUMNS) <= set(r) and 0 <= r["quality_100"] <= 100
        assert r["quality_100"] == int(sface.quality_100(r["quality_raw"]))
        assert r["embedding_norm"] > 0 and r["sharpness"] > 0 and r["face_size"] > 40
    frame = tables.face_table(sface, tiny_identity_folder / "raj", n_passes=4, as_frame=True)
    assert list(frame.columns) == list(tables.IMAGE_COLUMNS) and len(frame) == 2
    assert (frame["identity"] == "").all()
    same = [r for r in ok if r["identity"] == "raj"]
    assert frame["quality_raw"].tolist() == [r["quality_raw"] for r in same]


def test_boxes_starting_outside_the_image_are_clipped_not_wrapped():
    assert perturbations.box_mask((-5, -5, 10, 10)).sum() == 100
    m = perturbations.box_mask((-5, 0, 200, 10))
    assert m.sum() == 112 * 10 and m[:10].all()
    face = np.full((112, 112, 3), 200, np.uint8)
    painted = perturbations.fill_box(face, (-5, -5, 10, 10))
    assert (painted[:10, :10] == 0).all() and (painted[10:] == 200).all()


@NEEDS_BBT
def test_progress_bars_only_when_switched_on(tiny_identity_folder, capsys):
    from pixelfiq_lib.evaluation import progress

    files = benchmark_set.image_files(tiny_identity_folder)
    benchmark_set.load_originals(files)
    assert "detect and align" not in capsys.readouterr().err, "library calls stay silent"
    with progress.show_progress():
        assert progress.progress_enabled()
        benchmark_set.load_originals(files)
    assert not progress.progress_enabled()
    assert "detect and align" in capsys.readouterr().err
