"""Shared fixtures: the real default network, real aligned faces, and a tiny random
network used only for float64 gradient checks (:mod:`helpers.models`).

The test folders mirror the package: ``core/``, ``models/``, ``data/``, ``evaluation/``,
``batch/``, ``cli/``, ``notebooks/``; package-wide tests stay here."""

from __future__ import annotations

import logging
import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")

from helpers.models import make_tiny_model

from pixelfiq_lib.models.base import FRModel


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
