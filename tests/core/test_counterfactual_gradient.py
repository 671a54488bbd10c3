"""The counterfactual-gradient map, the flatness control and IG from the mean face."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import make_tiny_model

from pixelfiq_lib.core import baselines
from pixelfiq_lib.core import counterfactual as cf
from pixelfiq_lib.core import counterfactual_gradient as cg
from pixelfiq_lib.core.quality import serfiq_quality
from pixelfiq_lib.evaluation import localisation as loc


def test_raw_quality_gradient_matches_finite_differences_of_raw_q():
    model = make_tiny_model(torch.float64, size=16)
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64) * 255
    g = cg.raw_quality_gradient(model, x, n_passes=6, seed=2)
    h = 1e-3
    for c, i, j in ((0, 3, 4), (1, 8, 8), (2, 12, 1)):
        e = torch.zeros_like(x)
        e[0, c, i, j] = h
        qp = serfiq_quality(model, x + e, n_passes=6, seed=2).q_raw
        qm = serfiq_quality(model, x - e, n_passes=6, seed=2).q_raw
        fd = float((qp - qm) / (2 * h))
        assert float(g[0, c, i, j]) == pytest.approx(fd, rel=1e-4, abs=1e-12)


def test_flatness_is_low_on_a_flat_square_and_ignores_the_network():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(0, 255, (1, 3, 112, 112))).float()
    x[:, :, 40:80, 40:80] = 90.0
    f = cf.flatness_map(x)
    assert f.shape == (1, 112, 112) and float(f.min()) >= 0
    assert float(f[0, 55:65, 55:65].max()) < 0.1 * float(f[0, 5:20, 5:20].min())
    occ = np.zeros((112, 112), bool)
    occ[40:80, 40:80] = True
    assert loc.loc_auroc(f[0], occ) > 0.9


def test_counterfactual_gradient_map_range_determinism_and_a_black_eye_square(sface, real_faces):
    face = real_faces[0].permute(1, 2, 0).round().byte().numpy()
    imgs, masks = loc.occluded_faces([face], "eye_square", 40)
    x = torch.from_numpy(imgs[0]).permute(2, 0, 1).float()[None]
    kw = dict(n_passes=10, seed=0)
    m = cg.counterfactual_gradient_map(sface, x, **kw)
    assert m.shape == (1, 112, 112) and float(m.min()) > 0 and float(m.max()) <= 1.0
    assert torch.equal(m, cg.counterfactual_gradient_map(sface, x, **kw))
    assert loc.loc_auroc(m[0], masks[0]) > 0.6
    only_cf = cg.counterfactual_gradient_map(sface, x, gradient_weight=0.0, **kw)
    ref = cf.counterfactual_map(sface, x, n_segments=cg.FAST_SEGMENTS, **kw)
    assert torch.allclose(only_cf, cf.rank_map(ref))


def test_integrated_gradients_from_the_mean_face_attributes_black_pixels(sface, real_faces):
    """With a black baseline a black patch gets exactly 0; from the mean face it does not."""
    x = real_faces[:1].clone()
    x[:, :, 40:70, 30:60] = 0.0
    black = baselines.integrated_gradients_map(sface, x, n_steps=2)
    face = baselines.integrated_gradients_mean_face_map(sface, x, n_steps=2)
    assert float(black[0, 40:70, 30:60].abs().max()) == 0.0
    assert float(face[0, 40:70, 30:60].abs().mean()) > 0.0
