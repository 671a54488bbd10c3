"""Quality methods behind one interface (pixelfiq_lib.fiqa): SER-FIQ's peers on real faces.

Degradation tests run on a few bbt FIT faces (the identities the methods' open choices were
made on) with small budgets; benchmarks/fiqa_fit.py measures all 20 FIT faces at the
papers' settings (numbers in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import pixelfiq_lib as pfl
from pixelfiq_lib.core.grafiqs import bn_layers, parameter_groups
from pixelfiq_lib.errors import InvalidArgumentError, MethodNotApplicableError
from pixelfiq_lib.evaluation.localisation import FIT_IDENTITIES
from pixelfiq_lib.evaluation.perturbations import degrade
from pixelfiq_lib.fiqa import (
    FIQA_MAPS,
    QUALITY_METHODS,
    bn_statistics_loss,
    face_quality,
    faceqan_scores,
    list_quality_methods,
    quality_spec,
)

#: Small budgets that keep this file quick on a CPU (the papers' are in QUALITY_METHODS).
FAST = {"faceqan": {"steps": 2, "starts": 2}, "serfiq": {"n_passes": 20}}


@pytest.fixture(scope="module")
def fit_faces() -> list[np.ndarray]:
    """Two faces of each FIT identity: 8 aligned (112, 112, 3) uint8 faces."""
    faces = pfl.bbt_faces()
    return [f.image for name in FIT_IDENTITIES for f in faces[name][:2]]


@pytest.fixture(scope="module")
def degraded(fit_faces) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    return {kind: [degrade(f, kind, 2, rng) for f in fit_faces] for kind in ("blur", "occluder")}


def test_registry_lists_every_method_with_its_contract():
    assert list_quality_methods() == ["serfiq", "grafiqs", "faceqan", "embedding_norm"]
    for name, spec in QUALITY_METHODS.items():
        assert spec.name == name and spec.description and spec.units and spec.reference
        assert spec.cost(**spec.defaults) > 0
    assert QUALITY_METHODS["faceqan"].cost(steps=5, starts=10) > 50  # the paper's budget
    assert QUALITY_METHODS["grafiqs"].higher_is_better is False  # returned negated
    assert set(FIQA_MAPS) == {"grafiqs", "faceqan"}


def test_unknown_method_or_setting_is_a_clear_error(sface, real_faces):
    with pytest.raises(InvalidArgumentError, match="known: serfiq"):
        quality_spec("magface")
    with pytest.raises(InvalidArgumentError, match="no setting n_passes"):
        face_quality(sface, real_faces[:1], "grafiqs", n_passes=3)
    with pytest.raises(InvalidArgumentError, match="unknown GraFIQs group"):
        face_quality(sface, real_faces[:1], "grafiqs", group="layer9")
    with pytest.raises(InvalidArgumentError, match="steps"):
        face_quality(sface, real_faces[:1], "faceqan", steps=0)


def test_public_entry_point_matches_the_registry(sface, real_faces):
    q = pfl.face_quality(sface, real_faces[:2], "embedding_norm")
    assert isinstance(q, np.ndarray) and q.shape == (2,) and q.dtype == np.float64
    with torch.no_grad():
        expected = sface.head(sface.features(real_faces[:2])).norm(dim=1).numpy()
    np.testing.assert_allclose(q, expected, rtol=1e-5)
    serfiq = pfl.face_quality(sface, real_faces[:2], "serfiq", n_passes=10)
    np.testing.assert_allclose(
        serfiq, pfl.serfiq_quality(sface, real_faces[:2], n_passes=10).q_raw.numpy(), rtol=1e-6
    )


@pytest.mark.parametrize("method", ["grafiqs", "faceqan", "serfiq", "embedding_norm"])
def test_score_falls_for_degraded_copies_of_most_fit_faces(sface, fit_faces, degraded, method):
    kwargs = FAST.get(method, {})
    clean = face_quality(sface, pfl.to_tensor(fit_faces), method, **kwargs)
    for kind, copies in degraded.items():
        worse = face_quality(sface, pfl.to_tensor(copies), method, **kwargs)
        falls = float(np.mean(worse < clean))
        assert falls > 0.5, f"{method}: score fell for only {falls:.2f} of the faces under {kind}"


def test_faceqan_same_seed_same_score_and_the_seed_matters(sface, fit_faces):
    x = pfl.to_tensor(fit_faces[:2])
    a = faceqan_scores(sface, x, seed=3, **FAST["faceqan"])
    b = faceqan_scores(sface, x, seed=3, **FAST["faceqan"])
    c = faceqan_scores(sface, x, seed=4, **FAST["faceqan"])
    assert torch.equal(a.q, b.q) and torch.equal(a.noise_map, b.noise_map)
    assert not torch.equal(a.noise_map, c.noise_map)
    # a face's score does not depend on the faces beside it (shared random starts)
    alone = faceqan_scores(sface, x[1:], seed=3, **FAST["faceqan"])
    torch.testing.assert_close(alone.q, a.q[1:], rtol=1e-4, atol=0.0)
    # its parts: similarities in [-1, 1], the flip term is the mirror's cosine
    assert bool(((a.mean_similarity <= 1) & (a.flip_similarity <= 1)).all())
    assert bool((a.q <= 1).all())


def test_grafiqs_is_repeatable_and_batch_independent(sface, fit_faces):
    x = pfl.to_tensor(fit_faces[:3])
    q = face_quality(sface, x, "grafiqs")
    np.testing.assert_array_equal(q, face_quality(sface, x, "grafiqs"))
    alone = face_quality(sface, x[2:], "grafiqs")
    np.testing.assert_allclose(alone, q[2:], rtol=1e-4)
    assert (q < 0).all()  # a negated gradient magnitude


def test_grafiqs_refuses_a_network_without_batchnorm_statistics():
    class NoBN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=4)
            self.fc = nn.Linear(4 * 28 * 28, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.conv(x)).flatten(1))

    model = pfl.from_torch(NoBN(), "conv", name="nobn")
    x = torch.full((1, 3, 112, 112), 100.0)
    with pytest.raises(MethodNotApplicableError, match="nobn has none"):
        face_quality(model, x, "grafiqs")
    with pytest.raises(MethodNotApplicableError):
        FIQA_MAPS["grafiqs"](model, x)
    assert face_quality(model, x, "faceqan", steps=1, starts=2).shape == (1,)


def test_grafiqs_refuses_mobilefacenet_whose_batchnorm_is_folded():
    if not pfl.models.MODELS["mobilefacenet"].is_ready():
        pytest.skip("mobilefacenet not fetched: run `pixelfiq models fetch mobilefacenet`")
    model = pfl.load_model("mobilefacenet", device="cpu")
    with pytest.raises(MethodNotApplicableError, match="folded"):
        face_quality(model, torch.full((1, 3, 112, 112), 100.0), "grafiqs")


def test_sface_has_28_batchnorm2d_layers_split_into_four_blocks(sface):
    assert len(bn_layers(sface)) == 28
    groups = parameter_groups(sface)
    blocks = [groups[f"block{k}"] for k in range(1, 5)]
    assert all(blocks) and sum(len(b) for b in blocks) == len(groups["weights"])
    assert len(groups["weights"]) == len(list(sface.body.parameters()))


def _own_statistics(model, x: torch.Tensor):
    """A copy of ``model`` whose BatchNorm running statistics are ``x``'s own."""
    twin = copy.deepcopy(model)

    def adopt(module, args):
        module.running_mean.copy_(args[0].mean((0, 2, 3)))
        module.running_var.copy_(args[0].var((0, 2, 3), unbiased=False))

    handles = [bn.register_forward_pre_hook(adopt) for bn in bn_layers(twin)]
    with torch.no_grad():
        twin(x)
    for h in handles:
        h.remove()
    return twin


def test_grafiqs_loss_vanishes_when_the_statistics_are_the_faces_own(sface, fit_faces):
    x = pfl.to_tensor(fit_faces[:1])
    before = bn_statistics_loss(sface, x)
    after = bn_statistics_loss(_own_statistics(sface, x), x)
    assert float(before) > 1e-3
    assert float(after) < 1e-9 * float(before) + 1e-12, (float(before), float(after))
    for group in ("image", "block2"):
        own = face_quality(_own_statistics(sface, x), x, "grafiqs", group=group)
        usual = face_quality(sface, x, "grafiqs", group=group)
        assert abs(float(own[0])) < 1e-4 * abs(float(usual[0])), (group, own, usual)


def test_maps_have_the_map_shape_and_direction(sface, fit_faces):
    x = pfl.to_tensor(fit_faces[:2])
    gmap = FIQA_MAPS["grafiqs"](sface, x)
    assert gmap.shape == (2, 112, 112) and gmap.dtype == torch.float32
    assert bool((gmap <= 0).all()) and float(gmap.min()) < 0
    qmap = FIQA_MAPS["faceqan"](sface, x, **FAST["faceqan"])
    assert qmap.shape == (2, 112, 112) and bool((qmap >= 0).all())
    # at most steps * eps + eps grey levels: the attack's budget
    assert float(qmap.max()) <= (FAST["faceqan"]["steps"] + 1) * 0.255 + 1e-4


def test_the_maps_are_registered_and_refused_where_the_method_cannot_run():
    from pixelfiq_lib.core.maps import map_spec, refused_maps

    class NoBN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 8, stride=8)
            self.fc = nn.Linear(4 * 14 * 14, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(x).flatten(1))

    model = pfl.from_torch(NoBN(), "conv", name="nobn")
    assert map_spec("grafiqs").fn is FIQA_MAPS["grafiqs"]
    assert map_spec("faceqan").fn is FIQA_MAPS["faceqan"]
    refused = refused_maps(model, ["plq", "grafiqs", "faceqan"])
    assert list(refused) == ["grafiqs"] and "BatchNorm" in refused["grafiqs"]


def test_localisation_leaves_out_a_refused_map_and_says_why():
    from pixelfiq_lib.evaluation.localisation import localisation_benchmark

    net = nn.Sequential(nn.Conv2d(3, 4, 8, stride=8), nn.Flatten(), nn.Linear(4 * 14 * 14, 8))
    model = pfl.from_torch(net, "1", name="nobn")
    faces = [f.image for f in pfl.bbt_faces()["amy"][:2]]
    out = localisation_benchmark(
        model,
        faces,
        methods=["grafiqs", "random"],
        occluders=("black",),
        sizes=(40,),
        n_passes=4,
        verdicts=False,
    )
    assert set(out["refused"]) == {"grafiqs"}
    assert {r["map_method"] for r in out["records"]} == {None, "random"}
