"""Baselines from Captum and pytorch-grad-cam, explaining an embedding similarity."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..data.checks import check_images
from ..errors import InvalidArgumentError
from .batching import chunk_size as chunk_size_for
from .fills import fill_images
from .scoring import unit_embeddings

if TYPE_CHECKING:
    from ..models.base import FRModel


# ------------------------------------------------------- Captum / Grad-CAM baselines
class RawEmbedding(nn.Module):
    """``(B, 3, H, W)`` RGB 0..255 -> ``(B, E)`` raw (not normalised) embedding h(x)."""

    def __init__(self, model: FRModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.head(self.model.features(x))


def similarity(raw: torch.Tensor, ref: torch.Tensor, target: str = "cosine") -> torch.Tensor:
    """Similarity of raw embeddings to unit references, along the last dimension.

    Args:
        raw: (..., E) raw embeddings h(x). ref: (..., E) unit reference embeddings e0.
        target: ``"cosine"`` = cos(h, e0); ``"dot"`` = h . e0 (see the module
            docstring for why both exist).
    Returns:
        (...) similarities.
    """
    if target == "cosine":
        return (F.normalize(raw, dim=-1) * ref).sum(-1)
    if target == "dot":
        return (raw * ref).sum(-1)
    raise InvalidArgumentError(f"target must be 'cosine' or 'dot', got {target!r}")


def similarity_forward(
    model: FRModel, target: str = "cosine"
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Captum forward function ``f(x, ref) -> (B,)``, one scalar similarity per image.

    ``ref`` travels as ``additional_forward_args``, so Captum expands it together
    with the inputs (IG steps, occluded copies).
    """
    raw = RawEmbedding(model)
    return lambda x, ref: similarity(raw(x), ref, target)


def _attribute(
    method: type, model: FRModel, images: torch.Tensor, target: str, **kwargs
) -> torch.Tensor:
    """A Captum attribution of the similarity to e0: (B, 3, H, W).

    Inputs require gradients for gradient methods only (Occlusion runs forwards).
    """
    from captum.attr import Occlusion

    images = check_images(images, model)
    ref = unit_embeddings(model, images)
    x = images.clone().requires_grad_(method is not Occlusion)
    algo = method(similarity_forward(model, target))
    return algo.attribute(x, additional_forward_args=(ref,), **kwargs).detach()


def saliency_map(model: FRModel, images: torch.Tensor, *, target: str = "dot") -> torch.Tensor:
    """Captum ``Saliency``: mean over RGB of |d similarity / d pixel|, (B, H, W) >= 0.

    ``target="dot"`` by default: the cosine's gradient is zero at the image itself.
    """
    from captum.attr import Saliency

    return _attribute(Saliency, model, images, target, abs=True).mean(dim=1)


def integrated_gradients_map(
    model: FRModel,
    images: torch.Tensor,
    *,
    n_steps: int = 50,
    baseline: str = "black",
    target: str = "cosine",
    internal_batch_size: int | None = None,
) -> torch.Tensor:
    """Captum ``IntegratedGradients`` of cos(e(x), e0), mean over RGB of |attribution|.

    Args:
        n_steps: Gauss-Legendre steps along the straight path.
        baseline: the path's start: ``"black"`` (zeros, the usual choice), ``"blur"``
            (sigma 8, the insertion canvas) or ``"mean"`` (the deletion fill).
        internal_batch_size: images per forward/backward (default: the device's, see
            :func:`~.batching.chunk_size`).
    Returns:
        (B, H, W) float32 >= 0; the signed attributions sum to ~1 - cos(baseline).
    """
    from captum.attr import IntegratedGradients

    base = fill_images(check_images(images, model), baseline)
    attr = _attribute(
        IntegratedGradients,
        model,
        images,
        target,
        baselines=base,
        n_steps=n_steps,
        internal_batch_size=chunk_size_for(base.device, internal_batch_size),
    )
    return attr.abs().mean(dim=1)


def occlusion_map(
    model: FRModel,
    images: torch.Tensor,
    *,
    window: int = 16,
    stride: int = 8,
    baseline: str = "blur",
    target: str = "cosine",
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Captum ``Occlusion`` of cos(e(x), e0): mean over covering windows of 1 - cos.

    The signed attribution itself is the map (the 3 channels are occluded together,
    so their mean is exact): high = occluding it moves the embedding most. The
    ``"blur"`` baseline is the insertion curves' canvas; ``"mean"`` is the deletion
    fill (a choice aligned with that metric); ``"black"`` is neither.
    """
    from captum.attr import Occlusion

    base = fill_images(check_images(images, model), baseline)
    per_eval = max(1, chunk_size_for(base.device, chunk_size) // len(base))
    attr = _attribute(
        Occlusion,
        model,
        images,
        target,
        baselines=base,
        sliding_window_shapes=(3, window, window),
        strides=(3, stride, stride),
        perturbations_per_eval=per_eval,
    )
    return attr.mean(dim=1)


def cam_layer(model: FRModel) -> nn.Module:
    """The body's last non-BatchNorm leaf module with a spatial (H, W > 1) output.

    That is the last convolutional block's output after its activation, the usual
    Grad-CAM layer. SFace: ``conv_14_relu`` (PReLU, 1024 x 7 x 7, just before
    ``bn1``); the pointwise conv before it gives an all-negative CAM, i.e. an all-zero
    map after Grad-CAM's ReLU. MobileFaceNet: the last block before its global
    depthwise (7x7 -> 1x1) conv.
    """
    found: list[nn.Module] = []
    leaves = [
        m
        for m in model.body.modules()
        if not list(m.children()) and not isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    hooks = [
        m.register_forward_hook(lambda mod, i, o: _note_spatial(found, mod, o)) for m in leaves
    ]
    grey = torch.full((1, 3, *model.input_size), 127.5, device=model.device)
    try:
        with torch.no_grad():
            model.features(grey)
    finally:
        for h in hooks:
            h.remove()
    if not found:
        raise InvalidArgumentError(f"{model.name}'s body has no spatial layer; pass target_layer")
    return found[-1]


def _note_spatial(found: list[nn.Module], module: nn.Module, output: object) -> None:
    spatial = isinstance(output, torch.Tensor) and output.ndim == 4
    if spatial and min(output.shape[-2:]) > 1:
        found.append(module)


class SimilarityTarget:
    """pytorch-grad-cam target: similarity of one image's raw output to its e0."""

    def __init__(self, ref: torch.Tensor, target: str = "dot") -> None:
        self.ref, self.target = ref, target

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return similarity(model_output, self.ref, self.target)


def gradcam_map(
    model: FRModel,
    images: torch.Tensor,
    *,
    target_layer: nn.Module | None = None,
    target: str = "dot",
) -> torch.Tensor:
    """pytorch-grad-cam ``GradCAM`` of the embedding similarity to e0.

    Args:
        target_layer: a module of the body; :func:`cam_layer` by default.
        target: ``"dot"`` (default; the cosine's gradient is zero at the image) or
            ``"cosine"``.
    Returns:
        (B, H, W) float32 in [0, 1]: the ReLU'd CAM, min-max scaled per image and
        resized to the input by the library.
    """
    from pytorch_grad_cam import GradCAM

    images = check_images(images, model)
    targets = [SimilarityTarget(r, target) for r in unit_embeddings(model, images)]
    layer = target_layer if target_layer is not None else cam_layer(model)
    with GradCAM(RawEmbedding(model), [layer]) as cam:
        # The weights are frozen: only an input that requires gradients gives the
        # target layer's activations a gradient.
        maps = cam(images.clone().requires_grad_(True), targets=targets)
    return torch.from_numpy(maps).float().to(images.device)
