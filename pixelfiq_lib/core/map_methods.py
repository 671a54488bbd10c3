"""The library's own map methods: the paper's map, its variants, the controls and the
black-box perturbation map; every one returns (B, H, W) with higher = more useful pixel.

The counterfactual maps are in :mod:`.counterfactual`, the Captum and pytorch-grad-cam
baselines in :mod:`.baselines`; :mod:`.maps` registers all of them behind one name each.

Taught in: 03_gradient_backprop.ipynb
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from ..data.checks import check_images
from ..errors import InvalidArgumentError
from .backprop import aggregate_gradients, pixel_quality_map, quality_gradient_map
from .counterfactual import deviation_map, smooth_maps
from .fills import fill_images
from .scoring import score_images

if TYPE_CHECKING:
    from ..models.base import FRModel


# ------------------------------------------------------------------- the paper's maps
def plq_map(model: FRModel, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """The paper's map P(I), ``pixel_quality_map(...).plq``: (B, H, W) in [0, 1)."""
    return pixel_quality_map(model, images, **kwargs).plq


def plq_quality_gradient_map(model: FRModel, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """P from the gradient of Q̂ itself, ``quality_gradient_map(...).plq``."""
    return quality_gradient_map(model, images, **kwargs).plq


#: Gaussian sigma (px) of the smoothed gradient maps, chosen on the FIT identities of
#: bbt (sigma 2 / 4 / 8 -> black 40 px square AUROC 0.67 / 0.68 / 0.64 for plq).
SMOOTH_SIGMA = 4.0


def plq_smooth_map(
    model: FRModel, images: torch.Tensor, *, sigma: float = SMOOTH_SIGMA, **kwargs
) -> torch.Tensor:
    """The paper's map blurred by a Gaussian of ``sigma`` px: (B, H, W) in [0, 1)."""
    return smooth_maps(plq_map(model, images, **kwargs), sigma)


def quality_gradient(model: FRModel, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """|∂Q̂/∂I| (mean over RGB) through fixed dropout masks: (B, H, W) >= 0.

    The gradient of SER-FIQ's Q̂ itself (``quality_gradient_map(...).saliency``), no
    value mapping; higher = a larger influence of the pixel on quality. ``kwargs``:
    ``n_passes``, ``seed``, ``chunk_size``, ... of :func:`quality_gradient_map`.
    """
    return aggregate_gradients(quality_gradient_map(model, images, **kwargs).grads)


def quality_gradient_smooth(
    model: FRModel, images: torch.Tensor, *, sigma: float = SMOOTH_SIGMA, **kwargs
) -> torch.Tensor:
    """The value-mapped quality gradient (``plq_quality_gradient``) blurred by a Gaussian
    of ``sigma`` px: (B, H, W) in [0, 1). The best measured map on noise patches.

    Smoothing after the value mapping (as measured in benchmarks/RESULTS.md) keeps a few
    extreme gradients from dominating the blur.
    """
    return smooth_maps(plq_quality_gradient_map(model, images, **kwargs), sigma)


def mean_face_deviation(model: FRModel, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """Model-free control (ignores ``model``): :func:`.counterfactual.deviation_map`."""
    return deviation_map(check_images(images, model), **kwargs)


def random_map(model: FRModel, images: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Uniform noise in [0, 1), one independent map per image, from ``seed``."""
    images = check_images(images, model)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    noise = torch.rand(images.shape[0], *images.shape[2:], generator=gen)
    return noise.to(images.device)


# ----------------------------------------------------------- black-box perturbation
def window_masks(
    size: tuple[int, int], window: int, stride: int, device: torch.device
) -> torch.Tensor:
    """(P, H, W) boolean masks of square sliding windows covering every pixel.

    Positions step by ``stride`` (at most ``window``, so there are no gaps); a last
    position flush with the border is added when the stride does not reach it.
    """
    if not 0 < window <= min(size) or not 1 <= stride <= window:
        raise InvalidArgumentError(
            f"need 0 < window <= {min(size)} and 1 <= stride <= window, "
            f"got window={window}, stride={stride}"
        )
    starts = [list(range(0, n - window + 1, stride)) for n in size]
    starts = [s if s[-1] == n - window else s + [n - window] for s, n in zip(starts, size)]
    masks = torch.zeros(len(starts[0]) * len(starts[1]), *size, dtype=torch.bool, device=device)
    for k, (y, x) in enumerate((y, x) for y in starts[0] for x in starts[1]):
        masks[k, y : y + window, x : x + window] = True
    return masks


def inpaint_patches(image: torch.Tensor, masks: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """Fill each mask of one image with OpenCV's Telea inpainting.

    Args:
        image: (3, H, W) float RGB 0..255. masks: (P, H, W) boolean.
    Returns:
        (P, 3, H, W) float32 RGB 0..255, each copy inpainted inside its own mask.
    """
    img = image.detach().round().clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy()
    masks_np = masks.cpu().numpy().astype(np.uint8)
    outs = [cv2.inpaint(img, m, radius, cv2.INPAINT_TELEA) for m in masks_np]
    return torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2).float().to(image.device)


def perturbation_map(
    model: FRModel,
    images: torch.Tensor,
    *,
    window: int = 16,
    stride: int = 8,
    fill: str = "blur",
    n_passes: int = 100,
    seed: int = 0,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Black-box pixel quality: how much Q̂ drops when the pixel's patch is removed.

    Every sliding ``window`` x ``window`` patch is replaced in turn (``fill``:
    ``"blur"``, ``"mean"``, ``"black"`` or ``"inpaint"`` with ``cv2.inpaint``) and
    Q̂(original) - Q̂(patched) is measured with a fixed ``seed`` (common dropout
    masks, so differences are not swamped by Monte-Carlo noise). A pixel gets the
    mean over the patches covering it: positive = removing it lowers quality =
    useful. Needs forward passes only, so it works for any network.

    Args:
        model: an :class:`FRModel`; images: (B, 3, 112, 112) float32 RGB 0..255.
        window, stride: patch side and step in pixels (stride <= window).
        n_passes, seed: SER-FIQ settings. chunk_size: patched images per forward pass.
    Returns:
        (B, H, W) float32 map in units of Q̂ (negative where a patch raises Q̂).
    Taught in: 05_evaluation_metrics.ipynb
    """
    images = check_images(images, model)
    masks = window_masks(images.shape[2:], window, stride, images.device)
    out = []
    for img in images:
        if fill == "inpaint":
            patched = inpaint_patches(img, masks)
        else:
            filled = fill_images(img[None], fill)
            patched = torch.where(masks[:, None], filled, img[None])
        q, _ = score_images(
            model,
            torch.cat([img[None], patched]),
            None,
            n_passes=n_passes,
            seed=seed,
            chunk_size=chunk_size,
        )
        out.append(((q[0] - q[1:])[:, None, None] * masks).sum(0) / masks.sum(0))
    return torch.stack(out).float()
