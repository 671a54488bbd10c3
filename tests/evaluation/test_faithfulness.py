"""Map methods, deletion/insertion curves and the faithfulness table, on SFace."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import make_tiny_model

from pixelfiq_lib.core import baselines, fills, map_methods, map_record, scoring
from pixelfiq_lib.core import maps as core_maps
from pixelfiq_lib.core.quality import serfiq_quality
from pixelfiq_lib.errors import InvalidArgumentError
from pixelfiq_lib.evaluation import faithfulness
from pixelfiq_lib.evaluation import localisation as loc

N_PASSES, STEPS = 8, 8
METHODS = core_maps.list_map_methods()
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def small(name: str) -> dict:
    """The registry's test settings of a method: the module stays well under 90 s on 2 cores."""
    return dict(core_maps.map_spec(name).test_kwargs)


@pytest.fixture(scope="module")
def faces(real_faces) -> torch.Tensor:
    return real_faces[:2]


@pytest.fixture(scope="module")
def maps(sface, faces) -> dict[str, torch.Tensor]:
    return {name: core_maps.quality_map(sface, faces, name, **small(name)) for name in METHODS}


@pytest.fixture(scope="module")
def ref(sface, faces) -> torch.Tensor:
    return scoring.unit_embeddings(sface, faces)


def curve(sface, faces, maps, kind="deletion", **kw):
    fn = faithfulness.deletion_curve if kind == "deletion" else faithfulness.insertion_curve
    return fn(sface, faces, maps, steps=STEPS, n_passes=N_PASSES, **kw)


def cosine_to(sface, images, ref) -> torch.Tensor:
    return scoring.score_images(sface, images, ref, n_passes=0)[1]


# ------------------------------------------------------------------ the registry
@pytest.mark.parametrize("name", METHODS)
def test_map_method_contract(sface, faces, maps, name):
    """Every registered method: (B, 112, 112) float32, finite, not constant, inside its
    documented range, the same map for the same seed; a method that needs no gradients
    runs with autograd off."""
    spec, m = core_maps.map_spec(name), maps[name]
    assert spec.name == name and spec.cost_class in map_record.COST_CLASSES
    assert m.shape == (len(faces), 112, 112) and m.dtype == torch.float32
    assert torch.isfinite(m).all() and m.flatten(1).std(1).min() > 0
    low, high = spec.value_range
    assert low is None or float(m.min()) >= low, float(m.min())
    assert high is None or float(m.max()) <= high, float(m.max())
    with torch.set_grad_enabled(spec.needs_gradients):
        again = core_maps.quality_map(sface, faces, name, **small(name))
    assert torch.equal(again, m), "same inputs and seed, different map"


@pytest.fixture(scope="module")
def sface_cuda():
    from pixelfiq_lib.models.registry import load_model

    return load_model("sface", device="cuda")


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("name", METHODS)
def test_map_method_agrees_between_cpu_and_cuda(sface_cuda, faces, maps, name):
    got = core_maps.quality_map(sface_cuda, faces.cuda(), name, **small(name))
    assert got.device.type == "cuda" and got.shape == maps[name].shape
    scale = float(maps[name].abs().max())
    # float32 kernels differ between devices; ranks of near-tied superpixels may swap
    assert float((got.cpu() - maps[name]).abs().mean()) <= 1e-2 * scale, name


def test_the_registry_holds_the_nineteen_methods():
    assert set(METHODS) == {
        "plq",
        "plq_smooth",
        "plq_quality_gradient",
        "quality_gradient",
        "quality_gradient_smooth",
        "counterfactual",
        "counterfactual_prior",
        "counterfactual_gradient",
        "mean_face_deviation",
        "flatness",
        "random",
        "perturbation",
        "saliency",
        "integrated_gradients",
        "integrated_gradients_mean_face",
        "occlusion",
        "gradcam",
        "grafiqs",
        "faceqan",
    }
    assert core_maps.RECOMMENDED_MAP in METHODS and core_maps.DEFAULT_MAP == "plq"
    # explain writes raw maps only where they are already in [0, 1]
    raw = {n for n in METHODS if not core_maps.map_spec(n).shown_as_rank}
    assert raw == {"plq", "counterfactual_prior", "counterfactual_gradient"}
    assert "(recommended)" in core_maps.MAP_DESCRIPTIONS[core_maps.RECOMMENDED_MAP]
    settings = core_maps.map_settings(100, 7)
    assert set(settings) == set(METHODS) and settings["plq"] == {"n_passes": 100, "seed": 7}
    fast = core_maps.map_settings(100, 7, fast=True)
    assert fast["occlusion"]["window"] > settings["occlusion"]["window"]
    assert faithfulness.faithfulness_settings(100, 7, True) == fast  # the old name


def test_recommended_names_the_recommended_map(sface, faces, maps):
    best = core_maps.RECOMMENDED_MAP
    assert core_maps.resolve_map_method("recommended") == best
    assert core_maps.resolve_map_method("plq") == "plq"
    assert core_maps.map_spec("recommended") is core_maps.map_spec(best)
    got = core_maps.quality_map(sface, faces, "recommended", **small(best))
    assert torch.equal(got, maps[best])
    with pytest.raises(InvalidArgumentError, match="recommended"):  # lists the known names
        core_maps.resolve_map_method("best")


def test_model_free_maps_ignore_the_network(faces, maps):
    other = make_tiny_model(torch.float32)
    free = [n for n in METHODS if core_maps.map_spec(n).model_free]
    assert free == ["mean_face_deviation", "flatness", "random"]
    for name in free:
        assert torch.equal(core_maps.quality_map(other, faces, name, **small(name)), maps[name])


@pytest.mark.parametrize(
    "name",
    [
        "plq_smooth",
        "quality_gradient_smooth",
        pytest.param(
            "counterfactual_prior",
            marks=pytest.mark.xfail(
                strict=True,
                reason="the derived prior's deviation half uses the default superpixels, "
                "counterfactual_prior_map the given n_segments (equal at the defaults)",
            ),
        ),
    ],
)
def test_a_derived_method_is_its_base_through_the_transform(faces, maps, name):
    """What the benchmarks compute from the base's maps is what the method computes."""
    derived = core_maps.map_spec(name).derived_from
    got = derived.transform(maps[derived.base], faces)
    torch.testing.assert_close(got, maps[name], rtol=0, atol=1e-6 * float(maps[name].abs().max()))


def _brightness(model, images, *, seed: int = 0) -> torch.Tensor:
    return images.mean(1) / 255


def test_registering_a_spec_is_all_a_new_method_needs(monkeypatch, sface, faces):
    keep = {"random": core_maps.MAP_SPECS["random"]}  # one cheap method beside the new ones
    monkeypatch.setattr(core_maps, "MAP_SPECS", keep)
    spec = core_maps.MapSpec(
        name="brightness",
        fn=_brightness,
        description="mean brightness",
        value_range=(0.0, 1.0),
        cost_class="control",
        needs_gradients=False,
        defaults=lambda n_passes, seed, fast: {"seed": seed},
    )
    core_maps.register_map(spec)
    core_maps.register_map(
        core_maps.MapSpec(
            name="darkness",
            fn=lambda model, images, **kw: 1 - _brightness(model, images, **kw),
            description="inverted brightness",
            value_range=(0.0, 1.0),
            cost_class="control",
            needs_gradients=False,
            derived_from=core_maps.DerivedFrom("brightness", lambda m, x: 1 - m, "inverted"),
        )
    )
    with pytest.raises(InvalidArgumentError, match="already registered"):
        core_maps.register_map(spec)
    names = ["random", "brightness", "darkness"]
    assert core_maps.list_map_methods() == list(core_maps.MAP_METHODS) == names
    assert core_maps.map_settings(8, 3) == {
        "random": {"seed": 3},
        "brightness": {"seed": 3},
        "darkness": {},
    }
    assert torch.equal(core_maps.quality_map(sface, faces, "brightness"), faces.mean(1) / 255)
    got, _ = loc.compute_maps(sface, faces, ["darkness", "brightness"])
    assert np.allclose(got["darkness"], 1 - got["brightness"])
    imgs = [f.permute(1, 2, 0).round().byte().numpy() for f in faces]
    out = loc.localisation_benchmark(
        sface, imgs, occluders=("black",), sizes=(30,), n_passes=2, verdicts=False
    )
    assert [c["map_method"] for c in out["costs"]] == names
    recs, _, _ = faithfulness.faithfulness_curves(sface, imgs, steps=1, n_passes=2)
    assert {r["map_method"] for r in recs} == set(names)


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
    assert small("occlusion") == {"window": 56, "stride": 28}  # the windows used below
    occluded = faces.clone()
    occluded[:, :, :56, :56] = fills.fill_images(faces, "blur")[:, :, :56, :56]
    # pixel (0, 0) is covered by the top-left window only (windows at 0, 28, 56)
    expected = 1 - cosine_to(sface, occluded, ref)
    assert torch.allclose(maps["occlusion"][:, 0, 0], expected, atol=1e-5)


def test_perturbation_map_is_the_quality_drop(sface, faces, maps):
    assert small("perturbation") == {"window": 56, "stride": 28, "n_passes": N_PASSES}
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
