"""Every image batch that is not real numbers raises the documented InvalidImageError
(issue case 7: a complex64 tensor raised a raw NotImplementedError)."""

from __future__ import annotations

import pytest
import torch

from pixelfiq_lib.core.backprop import pixel_quality_map
from pixelfiq_lib.data import check_images
from pixelfiq_lib.errors import InvalidImageError

OTHER = [torch.complex64, torch.complex128, torch.bool, torch.float8_e4m3fn]
REAL = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int16]


def _batch(dtype: torch.dtype, size: tuple[int, int] = (112, 112)) -> torch.Tensor:
    return torch.full((1, 3, *size), 100.0).to(dtype)


@pytest.mark.parametrize("dtype", OTHER, ids=str)
def test_non_real_dtypes_are_refused(tiny_model, dtype):
    with pytest.raises(InvalidImageError, match="real numbers"):
        check_images(_batch(dtype, tiny_model.input_size), tiny_model)


def test_a_complex_batch_is_refused_by_the_public_map(sface):
    with pytest.raises(InvalidImageError, match="complex64"):
        pixel_quality_map(sface, _batch(torch.complex64), n_passes=2)


@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_real_dtypes_are_accepted(tiny_model, dtype):
    out = check_images(_batch(dtype, tiny_model.input_size), tiny_model)
    assert out.dtype == tiny_model.dtype and float(out.mean()) == pytest.approx(100.0)
