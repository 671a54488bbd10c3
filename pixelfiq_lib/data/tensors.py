"""Aligned faces to model tensors and back."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .. import errors
from .checks import check_face
from .types import AlignedFace


# ----------------------------------------------------------------------------- tensors
def to_tensor(
    faces: Sequence[np.ndarray | AlignedFace] | np.ndarray | AlignedFace,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Stack aligned faces into a model input batch.

    Args:
        faces: one or a sequence of (112, 112, 3) uint8 RGB arrays or AlignedFace.
        device: where to put the batch (default: CPU).
    Returns:
        (B, 3, 112, 112) float32 RGB tensor in 0..255, NCHW.
    Raises:
        errors.InvalidImageError: an item is not a (112, 112, 3) uint8 array.
        errors.InvalidArgumentError: the sequence is empty.
    Example:
        >>> x = to_tensor(sample_faces(2))  # torch.Size([2, 3, 112, 112])
    """
    faces = [faces] if isinstance(faces, (np.ndarray, AlignedFace)) else list(faces)
    if len(faces) == 0:
        raise errors.InvalidArgumentError("to_tensor needs at least one face")
    imgs = [
        check_face(f.image if isinstance(f, AlignedFace) else f, f"face {i}")
        for i, f in enumerate(faces)
    ]
    batch = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().contiguous()
    return batch.to(device) if device is not None else batch


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """Turn one model input back into an image (inverse of :func:`to_tensor`).

    Args:
        tensor: (3, H, W) or (1, 3, H, W) float RGB in 0..255 (any device; detached).
    Returns:
        (H, W, 3) uint8 RGB in 0..255 (rounded).
    Raises:
        errors.ImageLoadError: wrong shape, NaN/inf, or values outside [-1, 256].
    """
    if not isinstance(tensor, torch.Tensor):
        raise errors.ImageLoadError(f"to_image expects a torch.Tensor, got {type(tensor).__name__}")
    t = tensor.detach().to("cpu", torch.float64)
    t = t[0] if t.ndim == 4 and t.shape[0] == 1 else t
    if t.ndim != 3 or t.shape[0] != 3 or t.numel() == 0:
        raise errors.ImageLoadError(
            f"to_image expects (3, H, W) or (1, 3, H, W), got {tuple(tensor.shape)}"
        )
    if not torch.isfinite(t).all() or t.min() < -1.0 or t.max() > 256.0:
        raise errors.ImageLoadError("to_image expects finite RGB values in 0..255")
    return t.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
