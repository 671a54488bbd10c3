"""The same results on every device, and the GPU-ready paths (no per-chunk host sync).

Parametrised over ``cpu`` and ``cuda``; the ``cuda`` cases carry the ``cuda`` marker and
are skipped, with the reason, when no CUDA device is present
(``benchmarks/gpu_check.sh`` runs ``pytest -m cuda`` on a GPU machine).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_tiny_model

from pixelfiq_lib.core import batching
from pixelfiq_lib.core.backprop import pixel_quality_map
from pixelfiq_lib.core.quality import serfiq_quality
from pixelfiq_lib.core.regression import QualityNode
from pixelfiq_lib.data.checks import check_images
from pixelfiq_lib.errors import InvalidImageError, QualityNodeError

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, CUDA])]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


def test_chunk_sizes_come_from_the_one_policy(device):
    on_cpu = device.type == "cpu"
    assert batching.chunk_size(device) == (batching.CPU_CHUNK if on_cpu else batching.DEVICE_CHUNK)
    heavy = batching.HEAVY_CPU_CHUNK if on_cpu else batching.HEAVY_DEVICE_CHUNK
    assert batching.chunk_size(device, heavy=True) == heavy
    assert batching.chunk_size(device, 5) == 5


def test_tiny_model_maps_agree_with_the_cpu(device):
    model = make_tiny_model(torch.float32)
    x = torch.rand(5, 3, 112, 112, generator=torch.Generator().manual_seed(0)) * 255
    want = pixel_quality_map(model, x, n_passes=8, chunk_size=2)
    got = pixel_quality_map(model.to(device), x.to(device), n_passes=8, chunk_size=2)
    assert got.plq.device.type == device.type
    torch.testing.assert_close(got.quality.q.cpu(), want.quality.q, atol=1e-5, rtol=0)
    torch.testing.assert_close(got.plq.cpu(), want.plq, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "fill, message",
    [(float("nan"), "NaN or infinite"), (300.0, "0..255"), (0.5, "scale [0, 1]")],
)
def test_bad_images_give_the_same_error_on_every_device(device, fill, message):
    model = make_tiny_model(torch.float32).to(device)
    x = torch.full((3, 3, 112, 112), 100.0, device=device)
    x[1] = fill if message != "scale [0, 1]" else x[1]
    if message == "scale [0, 1]":
        x = torch.full_like(x, fill)
    with pytest.raises(InvalidImageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_images(x, model)
    with pytest.raises(InvalidImageError):
        pixel_quality_map(model, x, n_passes=4)


def test_degenerate_node_is_checked_once_at_the_end(device):
    emb = torch.tensor([[0.6, -0.6], [0.6, 0.8]], device=device)
    node, tiny = QualityNode.fit_deferred(emb, torch.tensor([0.5, 0.5], device=device))
    assert tiny.tolist() == [True, False] and torch.isfinite(node.weight).all()
    with pytest.raises(QualityNodeError, match=r"image\(s\) \[0\]"):
        QualityNode.check_degenerate(tiny)
    QualityNode.check_degenerate(tiny, "clamp")  # warns, does not raise
    with pytest.raises(QualityNodeError):
        QualityNode.fit(emb, torch.tensor([0.5, 0.5], device=device))


@pytest.mark.slow
def test_sface_quality_and_maps_on_the_device(device, sface, real_faces):
    x = real_faces[:4]
    want = pixel_quality_map(sface, x, n_passes=8)
    model = sface.to(device)
    try:
        got = pixel_quality_map(model, x.to(device), n_passes=8)
        q = serfiq_quality(model, x.to(device), n_passes=8)
    finally:
        sface.to("cpu")
    np.testing.assert_allclose(got.quality.q.cpu().numpy(), want.quality.q.numpy(), atol=2e-3)
    np.testing.assert_allclose(q.q.cpu().numpy(), want.quality.q.numpy(), atol=2e-3)
    assert (got.plq.cpu() - want.plq).abs().mean() < 1e-2
