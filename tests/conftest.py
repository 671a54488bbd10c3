"""Shared fixtures: the real default network, real aligned faces, and a tiny random
network used only for float64 gradient checks."""

from __future__ import annotations

import logging
import os

import pytest
import torch
from torch import nn

os.environ.setdefault("MPLBACKEND", "Agg")

from pixelfiq_lib.models.base import FRModel


def make_tiny_model(dtype: torch.dtype = torch.float64, seed: int = 0, size: int = 112) -> FRModel:
    """A small random conv net with the FRModel split, for exact gradient checks only.

    Its body normalises 0..255 input like the real networks do: (x - 127.5) / 128.
    """
    torch.manual_seed(seed)

    class Body(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv2d(3, 4, 3, stride=2, padding=1),
                nn.BatchNorm2d(4),
                nn.PReLU(4),
                nn.Conv2d(4, 8, 3, stride=2, padding=1),
                nn.BatchNorm2d(8),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv((x - 127.5) / 128.0).flatten(1)

    body = Body().eval()
    feat_dim = body(torch.zeros(1, 3, size, size)).shape[1]
    head = nn.Sequential(nn.Linear(feat_dim, 16), nn.BatchNorm1d(16))
    model = FRModel(body, head, name="tiny", input_size=(size, size))
    for bn in model.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    return model.to(dtype).eval()


@pytest.fixture(params=[1, 2], ids=lambda n: f"{n}-thread")
def threads(request) -> int:
    """Run a numerically sensitive test with 1 and with 2 torch threads.

    The reduction order of float32 kernels depends on the thread count (and on the
    CPU: Intel and AMD differ in the last bits), so the tolerances of such tests are
    scaled to the magnitude compared and must hold for both.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.fixture
def tiny_model() -> FRModel:
    return make_tiny_model()


@pytest.fixture
def device_list() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="session")
def sface():
    from pixelfiq_lib.models.registry import load_model

    return load_model("sface", device="cpu")


@pytest.fixture(scope="session")
def real_faces() -> torch.Tensor:
    """(B, 3, 112, 112) float32 RGB 0..255: aligned faces from insightface's sample photos."""
    from pixelfiq_lib.data import sample_faces, to_tensor

    return to_tensor(sample_faces())


@pytest.fixture
def in_process(monkeypatch, tmp_path):
    """Run ``cli.main`` in this process (in tmp_path), restoring the logging set-up after.

    Uses one torch thread, like the subprocess runs it is compared with: the thread
    count changes the order of floating-point reductions, hence the last digits.
    """
    from pixelfiq_lib import cli

    root = logging.getLogger()
    saved = (root.level, root.handlers[:], torch.get_num_threads())
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    yield cli.main
    torch.set_num_threads(saved[2])
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])
    logging.captureWarnings(False)
