"""Issue 14.5/14.6: bad numbers and choices are refused up front by the library with a
documented exception (an ``InvalidArgumentError`` or ``InvalidImageError``, both also
``ValueError``), never a raw torch error, an overflow or a silent NaN."""

from __future__ import annotations

import math

import pytest
import torch

from pixelfiq_lib.config import get_device
from pixelfiq_lib.core.backprop import pixel_quality_map, value_map
from pixelfiq_lib.core.quality import SerfiqSettings, dropout_masks, serfiq_quality
from pixelfiq_lib.errors import InvalidArgumentError, InvalidImageError, ModelError
from pixelfiq_lib.models import load_model

FACES = torch.full((1, 3, 112, 112), 128.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seed": 2**70},
        {"seed": -1},
        {"seed": "abc"},
        {"seed": 2.5},
        {"n_passes": 2.5},
        {"n_passes": 1},
        {"n_passes": 10**20},
        {"n_passes": True},
        {"alpha": math.nan},
        {"alpha": math.inf},
        {"r": math.nan},
        {"dropout_p": 1.0},
        {"dropout_p": "x"},
    ],
    ids=str,
)
def test_serfiq_settings_refuse_bad_values(tiny_model, kwargs) -> None:
    with pytest.raises(InvalidArgumentError):
        SerfiqSettings(**kwargs).resolved(tiny_model)
    with pytest.raises(InvalidArgumentError):
        serfiq_quality(tiny_model, FACES.double(), **kwargs)


def test_good_settings_resolve(tiny_model) -> None:
    s = SerfiqSettings(n_passes=1000, seed=2**63 - 1).resolved(tiny_model)
    assert (s.n_passes, s.seed) == (1000, 2**63 - 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"a": "nosuch"},
        {"a": math.nan},
        {"a": -1.0},
        {"b": math.inf},
        {"chunk_size": -1},
        {"chunk_size": 0},
        {"on_degenerate": "x"},
        {"seed": 2**70},
    ],
    ids=str,
)
def test_pixel_quality_map_refuses_bad_values(tiny_model, kwargs) -> None:
    with pytest.raises(InvalidArgumentError):
        pixel_quality_map(tiny_model, FACES.double(), n_passes=4, **kwargs)


def test_value_map_refuses_nan() -> None:
    with pytest.raises(InvalidArgumentError):
        value_map(torch.ones(2), a=math.nan)


def test_dropout_masks_refuse_bad_values() -> None:
    with pytest.raises(InvalidArgumentError):
        dropout_masks(2, 4, 0.5, seed=2**70, device=torch.device("cpu"))
    with pytest.raises(InvalidArgumentError):
        dropout_masks(1, 4, 0.5, seed=0, device=torch.device("cpu"))


def test_empty_batch_raises_the_documented_error(tiny_model) -> None:
    empty = torch.zeros(0, 3, 112, 112, dtype=torch.float64)
    for call in (serfiq_quality, pixel_quality_map):
        with pytest.raises(InvalidImageError, match="empty"):
            call(tiny_model, empty)
    assert issubclass(InvalidImageError, ValueError)


@pytest.mark.parametrize("device", ["mps", "meta", "nosuch", "cuda:99"])
def test_get_device_refuses_devices_that_do_not_exist(device: str) -> None:
    with pytest.raises(InvalidArgumentError):
        get_device(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_load_model_on_missing_gpu_raises_a_library_error() -> None:
    with pytest.raises((InvalidArgumentError, ModelError), match="no CUDA GPU"):
        load_model("sface", device="cuda")


def test_other_public_functions_refuse_bad_choices_and_numbers(tiny_model) -> None:
    from pixelfiq_lib import build_quality_regression, extract_faces, scale_quality
    from pixelfiq_lib.data import sample_image_paths

    with pytest.raises(InvalidArgumentError):
        extract_faces(sample_image_paths()["t1"], min_face_size=math.nan)
    with pytest.raises(InvalidArgumentError):
        build_quality_regression(tiny_model, FACES.double(), torch.ones(1), on_degenerate="x")
    with pytest.raises(InvalidArgumentError):
        scale_quality(0.8, math.nan, 0.88)
