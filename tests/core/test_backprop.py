"""Gradient back-propagation to pixels and the PLQ value mapping (step 3)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from helpers.models import make_tiny_model

from pixelfiq_lib.core.backprop import (
    aggregate_gradients,
    calibrate_a,
    pixel_quality_map,
    quality_gradient_map,
    value_map,
)
from pixelfiq_lib.core.constants import PAPER_A
from pixelfiq_lib.core.quality import serfiq_quality
from pixelfiq_lib.core.regression import build_quality_regression


def test_node_gradient_matches_finite_differences_float64():
    """torch.autograd.gradcheck of the quality node w.r.t. the 0..255 pixels, tiny net."""
    model = make_tiny_model(torch.float64, size=16)
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 255
    q = serfiq_quality(model, x, n_passes=8, seed=0).q
    mq = build_quality_regression(model, x, q)
    assert torch.autograd.gradcheck(
        mq, (x.clone().requires_grad_(True),), eps=1e-4, atol=1e-8, rtol=1e-4
    )


def test_plq_gradients_equal_those_of_the_regression_model():
    model = make_tiny_model(torch.float64, size=16)
    x = torch.rand(3, 3, 16, 16, dtype=torch.float64) * 255
    res = pixel_quality_map(model, x, n_passes=8, seed=0, a="paper")
    mq = build_quality_regression(model, x, res.quality.q)
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(mq(xr).sum(), xr)
    torch.testing.assert_close(res.grads, g, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(res.saliency, g.abs().mean(1))


def test_directional_derivative_on_sface_within_two_percent(sface, real_faces, threads):
    """Central finite differences along smooth directions agree with autograd on SFace.

    Run on a float64 copy with a small step (0.01 grey level along a unit direction):
    the network is piecewise linear (PReLU), so large steps cross kinks.
    """
    model = copy.deepcopy(sface).double()
    for i in range(3):
        x = real_faces[i : i + 1].double()
        res = pixel_quality_map(model, x, n_passes=16, seed=0)
        mq = build_quality_regression(model, x, res.quality.q)
        gen = torch.Generator().manual_seed(i)
        v = torch.nn.functional.interpolate(
            torch.randn(1, 3, 14, 14, generator=gen), size=(112, 112), mode="bilinear"
        )
        v = (v / v.norm()).double()
        analytic = float((res.grads * v).sum())
        h = 0.01
        with torch.no_grad():
            numeric = float((mq(x + h * v) - mq(x - h * v)) / (2 * h))
        assert abs(analytic - numeric) <= 0.02 * abs(analytic), (i, analytic, numeric)


def test_batch_maps_equal_per_image_maps_on_sface(sface, real_faces, threads):
    """A face's map does not depend on the faces batched with it, up to float32 rounding.

    A convolution's rounding depends on the batch size, the thread count and the CPU's
    kernels. Through SFace's depth the gradients then differ by up to about 4e-6 of
    their largest element (measured on AMD EPYC, 1 and 2 threads; one element of 5e-7
    differed by 1.9e-9, 0.4 % of itself), so gradients are compared with a tolerance of
    1e-4 x that largest element, and the maps (values in [0, 1], measured differences
    up to 7e-6) with 1e-4. Q̂, unlike the maps, is bit-identical by construction
    (tested in test_quality).
    """
    x = real_faces[:5]
    batch = pixel_quality_map(sface, x, n_passes=16, seed=3, chunk_size=5)
    for i in range(len(x)):
        one = pixel_quality_map(sface, x[i : i + 1], n_passes=16, seed=3)
        assert torch.equal(batch.quality.q[i : i + 1], one.quality.q)
        torch.testing.assert_close(batch.plq[i], one.plq[0], rtol=0, atol=1e-4)
        scale = float(one.grads[0].abs().max())
        torch.testing.assert_close(batch.grads[i], one.grads[0], rtol=0, atol=1e-4 * scale)


def test_plq_result_shapes_and_ranges(sface, real_faces):
    res = pixel_quality_map(sface, real_faces[:2], n_passes=8, seed=0)
    assert res.plq.shape == (2, 112, 112) and res.grads.shape == (2, 3, 112, 112)
    assert float(res.plq.min()) >= 0 and float(res.plq.max()) < 1
    assert res.a == sface.plq_a and res.b == 2.0
    paper = pixel_quality_map(sface, real_faces[:2], n_passes=8, seed=0, a="paper")
    assert paper.a == PAPER_A
    torch.testing.assert_close(paper.saliency, res.saliency)


def test_value_map_is_the_papers_mapping():
    s = torch.tensor([0.0, 1e-5, 1e-4, 10 ** (-3.75), 1e-3])
    expected = 1 - 1 / (1 + PAPER_A * s**2)
    torch.testing.assert_close(value_map(s, PAPER_A, 2.0), expected, rtol=1e-6, atol=1e-12)
    assert float(value_map(torch.tensor(10 ** (-3.75)), PAPER_A, 2.0)) == pytest.approx(0.5)
    assert torch.all(torch.diff(value_map(s)) > 0)


def test_calibrate_a_sends_the_median_to_one_half():
    sal = torch.from_numpy(np.random.default_rng(0).lognormal(-9, 1.5, size=(4, 112, 112)))
    a = calibrate_a(sal)
    p = value_map(sal, a, 2.0)
    assert float(p.median()) == pytest.approx(0.5, abs=1e-3)


def test_aggregation_is_mean_absolute_over_channels():
    g = torch.tensor([[[[1.0]], [[-2.0]], [[3.0]]]])
    assert float(aggregate_gradients(g)) == pytest.approx(2.0)


def test_quality_gradient_map_matches_finite_differences_float64():
    model = make_tiny_model(torch.float64, size=16)
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64) * 255
    res = quality_gradient_map(model, x, n_passes=6, seed=2, alpha=10.0, r=0.5, a="paper")
    v = torch.randn(1, 3, 16, 16, dtype=torch.float64)
    h = 1e-3
    qp = serfiq_quality(model, x + h * v, n_passes=6, seed=2, alpha=10.0, r=0.5).q
    qm = serfiq_quality(model, x - h * v, n_passes=6, seed=2, alpha=10.0, r=0.5).q
    numeric = float((qp - qm) / (2 * h))
    assert float((res.grads * v).sum()) == pytest.approx(numeric, rel=1e-5)


def test_quality_gradient_map_after_an_inference_mode_quality_call(sface, real_faces):
    """Cached dropout masks drawn under inference mode must still allow backward."""
    x = real_faces[:1]
    serfiq_quality(sface, x, n_passes=8, seed=0)
    res = quality_gradient_map(sface, x, n_passes=8, seed=0)
    assert torch.isfinite(res.grads).all() and float(res.grads.abs().sum()) > 0
