"""Map methods, deletion/insertion curves and the faithfulness table, on SFace."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pixelfiq_lib.core import baselines, fills, map_methods, scoring
from pixelfiq_lib.core import maps as core_maps
from pixelfiq_lib.core.quality import serfiq_quality
from pixelfiq_lib.errors import InvalidArgumentError
from pixelfiq_lib.evaluation import faithfulness

N_PASSES, STEPS = 8, 8
SMALL = {  # tiny settings per method: the module stays well under 90 s on 2 CPU cores
    "plq": dict(n_passes=N_PASSES),
    "plq_quality_gradient": dict(n_passes=N_PASSES),
    "perturbation": dict(window=56, stride=28, n_passes=N_PASSES),
    "integrated_gradients": dict(n_steps=8),
    "occlusion": dict(window=56, stride=28),
    "plq_smooth": dict(n_passes=N_PASSES),
    "quality_gradient": dict(n_passes=N_PASSES),
    "quality_gradient_smooth": dict(n_passes=N_PASSES),
    "counterfactual": dict(n_passes=4, n_segments=(8,)),
    "counterfactual_prior": dict(n_passes=4, n_segments=(8,)),
    "mean_face_deviation": dict(n_segments=(8,)),
}


@pytest.fixture(scope="module")
def faces(real_faces) -> torch.Tensor:
    return real_faces[:2]


@pytest.fixture(scope="module")
def maps(sface, faces) -> dict[str, torch.Tensor]:
    return {
        name: fn(sface, faces, **SMALL.get(name, {})) for name, fn in core_maps.MAP_METHODS.items()
    }


@pytest.fixture(scope="module")
def ref(sface, faces) -> torch.Tensor:
    return scoring.unit_embeddings(sface, faces)


def curve(sface, faces, maps, kind="deletion", **kw):
    fn = faithfulness.deletion_curve if kind == "deletion" else faithfulness.insertion_curve
    return fn(sface, faces, maps, steps=STEPS, n_passes=N_PASSES, **kw)


def cosine_to(sface, images, ref) -> torch.Tensor:
    return scoring.score_images(sface, images, ref, n_passes=0)[1]


def test_every_method_gives_finite_maps(maps, faces):
    assert set(maps) == {
        "plq",
        "plq_smooth",
        "plq_quality_gradient",
        "quality_gradient",
        "quality_gradient_smooth",
        "counterfactual",
        "counterfactual_prior",
        "mean_face_deviation",
        "random",
        "perturbation",
        "saliency",
        "integrated_gradients",
        "occlusion",
        "gradcam",
    }
    for name, m in maps.items():
        assert m.shape == (len(faces), 112, 112) and m.dtype == torch.float32, name
        assert torch.isfinite(m).all(), name
        assert m.flatten(1).std(1).min() > 0, f"{name} map is constant"


#: Documented value range of each map method, (low, high); None = unbounded.
RANGES = {
    "plq": (0.0, 1.0),
    "plq_smooth": (0.0, 1.0),
    "plq_quality_gradient": (0.0, 1.0),
    "quality_gradient": (0.0, None),
    "quality_gradient_smooth": (0.0, 1.0),
    "counterfactual": (-1.0, 1.0),  # raw Q units
    "counterfactual_prior": (0.0, 1.0),
    "mean_face_deviation": (-255.0, 0.0),
    "random": (0.0, 1.0),
    "perturbation": (-1.0, 1.0),  # Q̂ units
    "saliency": (0.0, None),
    "integrated_gradients": (0.0, None),
    "occlusion": (0.0, 2.0),  # 1 - cos
    "gradcam": (0.0, 1.0),
}


def test_every_method_stays_in_its_range_and_repeats_exactly(sface, faces, maps):
    assert set(RANGES) == set(core_maps.MAP_METHODS)
    for name, (low, high) in RANGES.items():
        m = maps[name]
        assert float(m.min()) >= low and (high is None or float(m.max()) <= high), name
        again = core_maps.quality_map(sface, faces, name, **SMALL.get(name, {}))
        assert torch.equal(again, m), f"{name}: same inputs and seed, different map"


def test_random_map_is_seeded(sface, faces, maps):
    assert torch.equal(map_methods.random_map(sface, faces, seed=0), maps["random"])
    assert not torch.equal(map_methods.random_map(sface, faces, seed=1), maps["random"])


@pytest.mark.parametrize("order", ["low_first", "high_first"])
def test_deletion_curve_structure(sface, faces, maps, ref, order):
    cur = curve(sface, faces, maps["plq"], order=order)
    end_cos = cosine_to(sface, fills.fill_images(faces, "mean"), ref)
    assert cur.kind == "deletion" and cur.fill == "mean"
    assert torch.allclose(cur.fractions, torch.linspace(0, 1, STEPS + 1))
    assert cur.quality.shape == cur.cosine.shape == (len(faces), STEPS + 1)
    assert torch.allclose(cur.cosine[:, 0], torch.ones(len(faces)), atol=1e-5)
    assert torch.allclose(cur.cosine[:, -1], end_cos, atol=1e-5)  # either order
    for values, auc in ((cur.quality, cur.auc_quality), (cur.cosine, cur.auc_cosine)):
        assert (values.min(1).values <= auc + 1e-6).all()
        assert (auc <= values.max(1).values + 1e-6).all()


def test_insertion_curve_ends_at_the_image(sface, faces, maps):
    cur = curve(sface, faces, maps["plq"], kind="insertion")
    assert cur.fill == "blur" and cur.order == "high_first"
    assert torch.allclose(cur.cosine[:, -1], torch.ones(len(faces)), atol=1e-5)
    q0 = serfiq_quality(sface, faces, n_passes=N_PASSES, seed=0).q
    assert torch.allclose(cur.quality[:, -1], q0, atol=1e-5)


def test_insertion_with_the_same_fill_mirrors_deletion_low_first(sface, faces, maps):
    kw = dict(fill="blur", track=("cosine",))
    ins = curve(sface, faces, maps["plq"], kind="insertion", **kw)
    dele = curve(sface, faces, maps["plq"], order="low_first", **kw)
    assert ins.quality is None and ins.auc_quality is None
    assert torch.allclose(ins.cosine, dele.cosine.flip(1), atol=1e-5)
    assert torch.allclose(ins.auc_cosine, dele.auc_cosine, atol=1e-5)


def test_plq_deletion_orders_bracket_random(sface, faces, maps):
    """Measured on SFace: deleting the PLQ map's most useful pixels first breaks the
    embedding much sooner than least-useful first; a random map lies in between
    (cosine AUCs, every face)."""

    def auc(name: str, order: str) -> torch.Tensor:
        cur = curve(sface, faces, maps[name], order=order, track=("cosine",))
        return cur.auc_cosine

    low, high = auc("plq", "low_first"), auc("plq", "high_first")
    rand = auc("random", "low_first")
    assert (high < rand).all() and (rand < low).all(), (high, rand, low)


def test_saliency_is_captum_gradient_of_the_similarity(sface, faces, maps, ref):
    x = faces.clone().requires_grad_(True)
    target = baselines.similarity(baselines.RawEmbedding(sface)(x), ref, "dot").sum()
    (grad,) = torch.autograd.grad(target, x)
    assert torch.allclose(maps["saliency"], grad.abs().mean(1), rtol=1e-4, atol=1e-9)


def test_cosine_gradient_vanishes_at_the_image(sface, faces, maps):
    """Why Saliency and Grad-CAM default to 'dot': cos(e(x), e0) is maximal at x0."""
    flat = baselines.saliency_map(sface, faces, target="cosine")
    assert flat.max() < 1e-5 * maps["saliency"].max()


def test_occlusion_is_one_minus_cosine_of_the_occluded_image(sface, faces, maps, ref):
    occluded = faces.clone()
    occluded[:, :, :56, :56] = fills.fill_images(faces, "blur")[:, :, :56, :56]
    # pixel (0, 0) is covered by the top-left window only (windows at 0, 28, 56)
    expected = 1 - cosine_to(sface, occluded, ref)
    assert torch.allclose(maps["occlusion"][:, 0, 0], expected, atol=1e-5)


def test_perturbation_map_is_the_quality_drop(sface, faces, maps):
    patched = faces.clone()
    patched[:, :, -56:, -56:] = fills.fill_images(faces, "blur")[:, :, -56:, -56:]
    q = serfiq_quality(sface, torch.cat([faces, patched]), n_passes=N_PASSES, seed=0).q
    assert torch.allclose(maps["perturbation"][:, -1, -1], q[:2] - q[2:], atol=1e-5)


def test_gradcam_matches_a_manual_grad_cam(sface, faces, maps, ref):
    layer = baselines.cam_layer(sface)
    assert layer is sface.body.net.conv_14_relu
    acts = []
    hook = layer.register_forward_hook(lambda m, i, o: acts.append(o))
    out = baselines.similarity(
        baselines.RawEmbedding(sface)(faces.clone().requires_grad_(True)), ref, "dot"
    )
    hook.remove()
    (grads,) = torch.autograd.grad(out.sum(), acts[0])
    cam = (grads.mean((2, 3), keepdim=True) * acts[0]).sum(1).clamp_min(0)

    def minmax(a: np.ndarray) -> np.ndarray:
        return (a - a.min()) / (a.max() - a.min() + 1e-7)

    for got, c in zip(maps["gradcam"], cam.detach().numpy()):
        # the library scales, resizes, then scales again
        expected = minmax(cv2.resize(minmax(c), (112, 112)))
        assert np.allclose(got.numpy(), expected, atol=1e-3)


def test_integrated_gradients_respects_completeness(sface, faces, maps, ref):
    """sum |attribution| >= |sum attribution| ~ 1 - cos(black image, e0)."""
    gap = 1 - cosine_to(sface, torch.zeros_like(faces), ref)
    assert (maps["integrated_gradients"].sum((1, 2)) * 3 >= 0.8 * gap).all()


def test_pixel_ranks_and_ties():
    m = torch.tensor([[[0.3, 0.1], [0.2, 0.9]]])
    assert faithfulness.pixel_ranks(m, "low_first").flatten().tolist() == [2, 0, 1, 3]
    assert faithfulness.pixel_ranks(m, "high_first").flatten().tolist() == [1, 3, 2, 0]
    flat = faithfulness.pixel_ranks(torch.zeros(1, 112, 112)).flatten()
    assert sorted(flat.tolist()) == list(range(112 * 112))
    assert flat[:112].float().mean() > 1000  # ties are not broken top rows first
    with pytest.raises(InvalidArgumentError):
        faithfulness.pixel_ranks(m, "sideways")


def test_helpers():
    x = torch.full((1, 3, 112, 112), 77.0)
    assert torch.allclose(fills.gaussian_blur(x), x, atol=1e-3)
    masks = map_methods.window_masks((112, 112), 16, 10, torch.device("cpu"))
    # starts 0, 10, ..., 90 and a flush 96
    assert masks.shape == (11 * 11, 112, 112) and masks.any(0).all()
    with pytest.raises(InvalidArgumentError):
        map_methods.window_masks((112, 112), 16, 24, torch.device("cpu"))  # gaps
    y = torch.rand(2, 3, 112, 112) * 255
    assert torch.allclose(fills.fill_images(y, "mean")[:, :, 5, 7], y.mean((2, 3)))
    with pytest.raises(InvalidArgumentError):
        fills.fill_images(y, "noise")
    ones = torch.ones(1, 3)
    assert faithfulness.trapezoid_auc(ones, torch.linspace(0, 1, 3)).item() == pytest.approx(1.0)


def test_bad_curve_arguments(sface, faces, maps):
    with pytest.raises(InvalidArgumentError):
        faithfulness.deletion_curve(sface, faces, maps["plq"][:1])
    with pytest.raises(InvalidArgumentError):
        faithfulness.deletion_curve(sface, faces, maps["plq"], track=("accuracy",))


def test_inpaint_fill(sface, faces):
    masks = map_methods.window_masks((112, 112), 56, 56, faces.device)
    out = map_methods.inpaint_patches(faces[0], masks)
    assert out.shape == (4, 3, 112, 112)
    # the first window is the top-left quarter; the rest is untouched
    assert torch.equal(out[0][:, 60:, 60:], faces[0][:, 60:, 60:])
    pm = map_methods.perturbation_map(
        sface, faces[:1], window=56, stride=56, fill="inpaint", n_passes=N_PASSES
    )
    assert pm.shape == (1, 112, 112) and torch.isfinite(pm).all()


def test_faithfulness_table(sface, faces):
    recs = faithfulness.faithfulness_table(sface, faces, ["random"], steps=4, n_passes=4)
    stems = ("deletion_auc_low_first", "deletion_auc_high_first", "insertion_auc")
    expected = {f"{s}_{t}" for s in stems for t in ("quality", "cosine")}
    assert {r["metric"] for r in recs} == expected and len(recs) == 6
    for r in recs:
        assert set(r) == {"map_method", "model", "metric", "mean", "std", "n", "ci_low", "ci_high"}
        assert (r["map_method"], r["model"], r["n"]) == ("random", "sface", 2)
        assert np.isfinite(r["mean"]) and r["std"] >= 0
    with pytest.raises(InvalidArgumentError):
        faithfulness.faithfulness_table(sface, faces, ["nope"])
