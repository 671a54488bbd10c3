"""The library's one owner of image checks: arrays, aligned faces and model batches.

Every function that takes an image validates it here, and every failed check raises
:class:`~pixelfiq_lib.errors.InvalidImageError` (an ``ImageLoadError`` and a
``ValueError``) with a message that says what was expected and what came.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InvalidImageError
from .template import ALIGNED_SIZE
from .types import MAX_PIXELS

#: Tensor dtypes accepted as image batches: real floats and integers (every other
#: dtype, e.g. complex64, bool, quantised or float8, raises InvalidImageError).
REAL_DTYPES = (
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
)


def _describe(obj: object) -> str:
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return f"{tuple(obj.shape)} {obj.dtype}"
    return type(obj).__name__


def check_rgb(img: object, what: str = "img_rgb") -> np.ndarray:
    """An (H, W, 3) uint8 RGB array with at least one pixel and at most ``MAX_PIXELS``.

    Raises:
        InvalidImageError: anything else.
    """
    if (
        not isinstance(img, np.ndarray)
        or img.dtype != np.uint8
        or img.ndim != 3
        or img.shape[2] != 3
        or img.shape[0] == 0
        or img.shape[1] == 0
    ):
        raise InvalidImageError(
            f"{what} must be an (H, W, 3) uint8 RGB array, got {_describe(img)}; "
            "use load_image() first"
        )
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise InvalidImageError(f"{what} has more than MAX_PIXELS={MAX_PIXELS} pixels")
    return img


def check_face(face: object, what: str = "face") -> np.ndarray:
    """A (112, 112, 3) uint8 RGB aligned face.

    Raises:
        InvalidImageError: anything else.
    """
    size = (ALIGNED_SIZE, ALIGNED_SIZE, 3)
    if not isinstance(face, np.ndarray) or face.shape != size or face.dtype != np.uint8:
        raise InvalidImageError(
            f"{what} must be a (112, 112, 3) uint8 RGB aligned face, got {_describe(face)}; "
            "align it first (extract_faces)"
        )
    return face


def check_images(images: object, model) -> torch.Tensor:
    """A (B, 3, H, W) float RGB 0..255 batch for ``model``, moved to its device and dtype.

    Args:
        images: (B, 3, H, W) or (3, H, W) tensor, H x W = ``model.input_size``.
        model: an :class:`~pixelfiq_lib.models.FRModel` (its ``input_size``, ``name``,
            ``device``, ``dtype`` are used).
    Raises:
        InvalidImageError: not a tensor, wrong shape, an empty batch, a dtype not in
            :data:`REAL_DTYPES` (complex, bool, quantised, float8), non-finite values,
            or values outside 0..255 (or a batch that looks scaled to [0, 1]).
    """
    if not isinstance(images, torch.Tensor):
        raise InvalidImageError(
            f"images must be a torch.Tensor (B, 3, H, W), got {type(images).__name__}"
        )
    if images.ndim == 3:
        images = images.unsqueeze(0)
    h, w = model.input_size
    if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != (h, w):
        raise InvalidImageError(
            f"images must have shape (B, 3, {h}, {w}) RGB 0..255 for {model.name}, "
            f"got {tuple(images.shape)}"
        )
    if len(images) == 0:
        raise InvalidImageError("the batch is empty (B = 0): give at least one face")
    if images.dtype not in REAL_DTYPES:
        raise InvalidImageError(
            f"images must hold real numbers (float or integer RGB 0..255), got {images.dtype}"
        )
    # one host sync for the three checks (finite, min, max), once per call
    finite, lo, hi = torch.stack(
        [torch.isfinite(images).all().to(images.dtype), images.min(), images.max()]
    ).tolist()
    if not finite:
        raise InvalidImageError("images contain NaN or infinite values")
    if lo < -1e-3 or hi > 255.001 or 0.0 < hi <= 1.0:
        raise InvalidImageError(
            f"images must be RGB in 0..255 (got values in [{lo:.3g}, {hi:.3g}]); "
            "scale [0, 1] images by 255 first"
        )
    return images.to(model.device, model.dtype)
