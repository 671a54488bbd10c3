"""The registry's per-network constants follow the documented calibration rule."""

from __future__ import annotations

import pytest

from pixelfiq_lib import config
from pixelfiq_lib.core.calibration import calibrate_model
from pixelfiq_lib.core.constants import PAPER_A, PAPER_ALPHA, PAPER_R
from pixelfiq_lib.data import bbt_faces, sample_faces, to_tensor
from pixelfiq_lib.models.registry import MODELS, load_model


@pytest.fixture(scope="module")
def reference_images():
    if config.bbt_dir() is None:
        pytest.skip("needs data/bbt (PIXELFIQ_DATA points elsewhere?) for the 47 reference faces")
    return to_tensor(sample_faces() + [f for g in bbt_faces().values() for f in g])


@pytest.mark.bbt
def test_sface_a_reproduces_from_reference_faces(reference_images):
    info = MODELS["sface"]
    assert (info.alpha, info.r) == (PAPER_ALPHA, PAPER_R)
    const = calibrate_model(load_model("sface"), reference_images, fit_alpha_r=False, n_passes=30)
    assert const["plq_a"] == pytest.approx(info.plq_a, rel=0.3)
    # SFace's gradients sit on the same scale as the paper's ArcFace: a within 10x.
    assert PAPER_A / 10 < info.plq_a < PAPER_A * 10


@pytest.mark.bbt
def test_mobilefacenet_constants_reproduce_from_reference_faces(reference_images):
    info = MODELS["mobilefacenet"]
    if not info.is_ready():
        pytest.skip("mobilefacenet not fetched: run `pixelfiq models fetch mobilefacenet`")
    # T = 100 as in the registry: with fewer passes the Monte-Carlo noise widens the
    # spread of raw Q, and the fitted alpha shrinks (about 340 at T = 30).
    const = calibrate_model(load_model("mobilefacenet"), reference_images, n_passes=100)
    assert const["r"] == pytest.approx(info.r, abs=0.003)
    assert const["alpha"] == pytest.approx(info.alpha, rel=0.3)
    assert const["plq_a"] == pytest.approx(info.plq_a, rel=0.5)
