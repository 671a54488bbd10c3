"""Fill images that stand in for removed pixels: a Gaussian blur, the mean colour, black.

Used by the perturbation map, the Captum baselines and the deletion/insertion curves.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import InvalidArgumentError

FILLS = ("blur", "mean", "black")


def gaussian_blur(images: torch.Tensor, sigma: float = 8.0) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders (kernel radius ceil(3 sigma)).

    Args:
        images: (B, C, H, W) float tensor (any range, any device).
        sigma: standard deviation in pixels.
    Returns:
        (B, C, H, W) blurred tensor, same dtype and device.
    """
    radius = min(math.ceil(3 * sigma), min(images.shape[-2:]) - 1)
    t = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).repeat(images.shape[1], 1, 1, 1)
    x = F.pad(images, (radius,) * 4, mode="reflect")
    x = F.conv2d(x, k.view(-1, 1, 1, k.shape[-1]), groups=images.shape[1])
    return F.conv2d(x, k.view(-1, 1, k.shape[-1], 1), groups=images.shape[1])


def fill_images(images: torch.Tensor, fill: str = "blur", sigma: float = 8.0) -> torch.Tensor:
    """What removed pixels are replaced with.

    Args:
        images: (B, 3, H, W) float32 RGB 0..255.
        fill: ``"blur"`` (Gaussian, ``sigma``), ``"mean"`` (each image's mean
            colour) or ``"black"`` (zeros).
    Returns:
        (B, 3, H, W) float32 RGB 0..255 on the images' device.
    """
    if fill == "blur":
        return gaussian_blur(images, sigma)
    if fill == "mean":
        return images.mean(dim=(2, 3), keepdim=True).expand_as(images).clone()
    if fill == "black":
        return torch.zeros_like(images)
    raise InvalidArgumentError(f"fill must be one of {FILLS}, got {fill!r}")
