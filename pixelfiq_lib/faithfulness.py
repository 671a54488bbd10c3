"""Are pixel maps faithful? Map methods, deletion/insertion curves and a summary table.

Every map method has the same interface, ``map_fn(model, images, **kw) -> (B, H, W)``
float32 with **higher = more useful for recognition / more important**, and lives in
:data:`MAP_METHODS`:

* ``plq`` — the paper's map P(I); ``plq_quality_gradient`` — gradient of Q̂ itself;
* ``random`` — seeded uniform noise, the chance level of every curve;
* ``perturbation`` — black-box pixel quality: a sliding patch is filled and the drop
  of SER-FIQ's Q̂ is averaged over the patches covering a pixel (no gradients);
* library baselines: Captum ``Saliency``, ``IntegratedGradients``, ``Occlusion`` and
  pytorch-grad-cam ``GradCAM``, all explaining an *embedding similarity* to the
  unmodified image's unit embedding e0 (captum#1254, pytorch-grad-cam#218).

Similarity targets. ``"cosine"`` is cos(e(x), e0). At x = x0 it is at its maximum 1,
so its gradient vanishes identically (measured on SFace: mean |d cos/dx| ~ 1e-12 in
float32, 1e-21 in float64, pure rounding). Local-gradient methods (Saliency,
Grad-CAM) therefore default to ``"dot"``: the *raw* (pre-normalisation) embedding
h(x) dotted with e0, the ``torch.dot(model_output, target)`` form of
pytorch-grad-cam#218; at x0 its gradient is that of the embedding's length along e0.
Path and perturbation methods (Integrated Gradients, Occlusion) move away from x0 and
use ``"cosine"``.

Deletion/insertion curves (DEC/IEC, Terhörst et al., EUSIPCO 2022): pixels are
replaced in the order of a map by a fill image (by default the mean colour for
deletion and a Gaussian blur, sigma 8, as the canvas for insertion), and SER-FIQ Q̂
(fixed seed) and the cosine to e0 are tracked; the areas under the curves (trapezoid
over the fraction 0..1) summarise them. For a faithful usefulness map: deleting
**low-first** keeps quality/cosine high (large AUC), deleting **high-first** drops
them fast (small AUC), inserting high-first into the blurred image restores them fast
(large AUC). ``random`` gives the chance level in between.

Taught in: 04_evaluation.ipynb
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backprop import pixel_quality_map, quality_gradient_map
from .errors import InvalidArgumentError
from .models import FRModel
from .quality import check_images, serfiq_from_features

MapFn = Callable[..., torch.Tensor]
FILLS = ("blur", "mean", "black")
TRACKS = ("quality", "cosine")
ORDERS = ("low_first", "high_first")


# ----------------------------------------------------------------------------- fills
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


def fill_images(
    images: torch.Tensor, fill: str = "blur", sigma: float = 8.0
) -> torch.Tensor:
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


# ------------------------------------------------------------------- scoring in chunks
def default_chunk(images: torch.Tensor, chunk_size: int | None = None) -> int:
    """Images per forward pass: ``chunk_size``, else 8 on CPU (larger batches run
    slower per image there) and 64 on an accelerator."""
    if chunk_size is not None:
        return max(1, int(chunk_size))
    return 8 if images.device.type == "cpu" else 64


def unit_embeddings(
    model: FRModel, images: torch.Tensor, chunk_size: int | None = None
) -> torch.Tensor:
    """(N, 3, H, W) RGB 0..255 -> (N, E) unit embeddings, no gradients, in chunks."""
    size = default_chunk(images, chunk_size)
    with torch.no_grad():
        return torch.cat([model(c) for c in images.split(size)])


def score_images(
    model: FRModel, images: torch.Tensor, ref: torch.Tensor | None, *,
    n_passes: int = 100, seed: int = 0, chunk_size: int | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """SER-FIQ Q̂ and cosine to reference embeddings, one body pass per image.

    Args:
        model: the network; images: (N, 3, H, W) RGB 0..255 on its device.
        ref: (N, E) unit reference embeddings, or ``None`` to skip the cosine.
        n_passes: SER-FIQ passes T; 0 skips the quality. seed: dropout-mask seed.
        chunk_size: images per forward pass (see :func:`default_chunk`).
    Returns:
        ``(q, cos)``: (N,) tensors (``None`` where skipped).
    """
    qs, coss = [], []
    size = default_chunk(images, chunk_size)
    with torch.inference_mode():
        for i, chunk in enumerate(images.split(size)):
            feat = model.features(chunk)
            if n_passes:
                qs.append(serfiq_from_features(model, feat, n_passes=n_passes,
                                               seed=seed).q)
            if ref is not None:
                emb = model.embed_features(feat)
                coss.append((emb * ref[i * size: i * size + len(chunk)]).sum(1))
    return (torch.cat(qs) if qs else None), (torch.cat(coss) if coss else None)


# ------------------------------------------------------------------- the paper's maps
def plq_map(model: FRModel, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """The paper's map P(I), ``pixel_quality_map(...).plq``: (B, H, W) in [0, 1)."""
    return pixel_quality_map(model, images, **kwargs).plq


def plq_quality_gradient_map(
    model: FRModel, images: torch.Tensor, **kwargs
) -> torch.Tensor:
    """P from the gradient of Q̂ itself, ``quality_gradient_map(...).plq``."""
    return quality_gradient_map(model, images, **kwargs).plq


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
            f"got window={window}, stride={stride}")
    starts = [list(range(0, n - window + 1, stride)) for n in size]
    starts = [s if s[-1] == n - window else s + [n - window]
              for s, n in zip(starts, size)]
    masks = torch.zeros(len(starts[0]) * len(starts[1]), *size, dtype=torch.bool,
                        device=device)
    for k, (y, x) in enumerate((y, x) for y in starts[0] for x in starts[1]):
        masks[k, y: y + window, x: x + window] = True
    return masks


def inpaint_patches(
    image: torch.Tensor, masks: torch.Tensor, radius: int = 3
) -> torch.Tensor:
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
    model: FRModel, images: torch.Tensor, *, window: int = 16, stride: int = 8,
    fill: str = "blur", n_passes: int = 100, seed: int = 0,
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
    Taught in: 04_evaluation.ipynb
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
        q, _ = score_images(model, torch.cat([img[None], patched]), None,
                            n_passes=n_passes, seed=seed, chunk_size=chunk_size)
        out.append(((q[0] - q[1:])[:, None, None] * masks).sum(0) / masks.sum(0))
    return torch.stack(out).float()


# ------------------------------------------------------- Captum / Grad-CAM baselines
class RawEmbedding(nn.Module):
    """``(B, 3, H, W)`` RGB 0..255 -> ``(B, E)`` raw (not normalised) embedding h(x)."""

    def __init__(self, model: FRModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.head(self.model.features(x))


def similarity(
    raw: torch.Tensor, ref: torch.Tensor, target: str = "cosine"
) -> torch.Tensor:
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


def saliency_map(
    model: FRModel, images: torch.Tensor, *, target: str = "dot"
) -> torch.Tensor:
    """Captum ``Saliency``: mean over RGB of |d similarity / d pixel|, (B, H, W) >= 0.

    ``target="dot"`` by default: the cosine's gradient is zero at the image itself.
    """
    from captum.attr import Saliency

    return _attribute(Saliency, model, images, target, abs=True).mean(dim=1)


def integrated_gradients_map(
    model: FRModel, images: torch.Tensor, *, n_steps: int = 50,
    baseline: str = "black", target: str = "cosine",
    internal_batch_size: int | None = None,
) -> torch.Tensor:
    """Captum ``IntegratedGradients`` of cos(e(x), e0), mean over RGB of |attribution|.

    Args:
        n_steps: Gauss-Legendre steps along the straight path.
        baseline: the path's start: ``"black"`` (zeros, the usual choice), ``"blur"``
            (sigma 8, the insertion canvas) or ``"mean"`` (the deletion fill).
        internal_batch_size: images per forward/backward (see :func:`default_chunk`).
    Returns:
        (B, H, W) float32 >= 0; the signed attributions sum to ~1 - cos(baseline).
    """
    from captum.attr import IntegratedGradients

    base = fill_images(check_images(images, model), baseline)
    attr = _attribute(IntegratedGradients, model, images, target, baselines=base,
                      n_steps=n_steps,
                      internal_batch_size=default_chunk(base, internal_batch_size))
    return attr.abs().mean(dim=1)


def occlusion_map(
    model: FRModel, images: torch.Tensor, *, window: int = 16, stride: int = 8,
    baseline: str = "blur", target: str = "cosine", chunk_size: int | None = None,
) -> torch.Tensor:
    """Captum ``Occlusion`` of cos(e(x), e0): mean over covering windows of 1 - cos.

    The signed attribution itself is the map (the 3 channels are occluded together,
    so their mean is exact): high = occluding it moves the embedding most. The
    ``"blur"`` baseline is the insertion curves' canvas; ``"mean"`` is the deletion
    fill (a choice aligned with that metric); ``"black"`` is neither.
    """
    from captum.attr import Occlusion

    base = fill_images(check_images(images, model), baseline)
    per_eval = max(1, default_chunk(base, chunk_size) // len(base))
    attr = _attribute(Occlusion, model, images, target, baselines=base,
                      sliding_window_shapes=(3, window, window),
                      strides=(3, stride, stride), perturbations_per_eval=per_eval)
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
    leaves = [m for m in model.body.modules() if not list(m.children())
              and not isinstance(m, nn.modules.batchnorm._BatchNorm)]
    hooks = [m.register_forward_hook(lambda mod, i, o: _note_spatial(found, mod, o))
             for m in leaves]
    grey = torch.full((1, 3, *model.input_size), 127.5, device=model.device)
    try:
        with torch.no_grad():
            model.features(grey)
    finally:
        for h in hooks:
            h.remove()
    if not found:
        raise InvalidArgumentError(
            f"{model.name}'s body has no spatial layer; pass target_layer")
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
    model: FRModel, images: torch.Tensor, *, target_layer: nn.Module | None = None,
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


#: Registry of map methods: ``MAP_METHODS[name](model, images, **kw) -> (B, H, W)``.
MAP_METHODS: dict[str, MapFn] = {
    "plq": plq_map,
    "plq_quality_gradient": plq_quality_gradient_map,
    "random": random_map,
    "perturbation": perturbation_map,
    "saliency": saliency_map,
    "integrated_gradients": integrated_gradients_map,
    "occlusion": occlusion_map,
    "gradcam": gradcam_map,
}


# ------------------------------------------------------------- deletion / insertion
@dataclass
class FaithfulnessCurve:
    """Deletion or insertion curves of a batch of faces.

    Attributes:
        kind: ``"deletion"`` or ``"insertion"``; order: ``"low_first"`` or
            ``"high_first"``; fill: what removed (not yet inserted) pixels show.
        fractions: (S+1,) fraction of pixels deleted (inserted), 0 .. 1.
        quality: (B, S+1) SER-FIQ Q̂ after each step, or ``None`` if not tracked.
        cosine: (B, S+1) cosine to the unmodified image's embedding, or ``None``.
        auc_quality, auc_cosine: (B,) trapezoid areas over the fractions, or ``None``.
    """

    kind: str
    order: str
    fill: str
    fractions: torch.Tensor
    quality: torch.Tensor | None
    cosine: torch.Tensor | None
    auc_quality: torch.Tensor | None
    auc_cosine: torch.Tensor | None


def pixel_ranks(
    maps: torch.Tensor, order: str = "low_first", seed: int = 0
) -> torch.Tensor:
    """Position of every pixel in the removal order; ties are broken at random.

    Args:
        maps: (B, H, W) maps, higher = more useful.
        order: ``"low_first"`` (least useful first) or ``"high_first"``.
        seed: seed of the tie-breaking permutation (a tie must not mean "top rows
            first").
    Returns:
        (B, H, W) long tensor; rank 0 goes first.
    """
    if order not in ORDERS:
        raise InvalidArgumentError(f"order must be one of {ORDERS}, got {order!r}")
    flat = maps.detach().flatten(1).float()
    flat = flat if order == "low_first" else -flat
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    perm = torch.randperm(flat.shape[1], generator=gen).to(flat.device)
    sequence = perm[torch.argsort(flat[:, perm], dim=1, stable=True)]
    positions = torch.arange(flat.shape[1], device=flat.device).expand_as(sequence)
    return torch.empty_like(sequence).scatter_(1, sequence, positions).view_as(maps)


def step_images(
    image: torch.Tensor, fill: torch.Tensor, ranks: torch.Tensor, steps: int, kind: str
) -> torch.Tensor:
    """All S+1 images of one face's curve at once.

    Args:
        image, fill: (3, H, W) the face and its fill image.
        ranks: (H, W) from :func:`pixel_ranks`.
        steps: S. kind: ``"deletion"`` (step k shows ``fill`` on the first k/S of
            the pixels) or ``"insertion"`` (step k shows ``image`` there, ``fill``
            elsewhere).
    Returns:
        (S+1, 3, H, W).
    """
    counts = torch.linspace(0, ranks.numel(), steps + 1, device=ranks.device).round()
    chosen = (ranks[None] < counts[:, None, None])[:, None]
    new, old = (fill, image) if kind == "deletion" else (image, fill)
    return torch.where(chosen, new[None], old[None])


def trapezoid_auc(values: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """(B, S+1) curve values over fractions 0..1 -> (B,) trapezoid area (x-range 1)."""
    return torch.trapezoid(values, fractions, dim=-1) / (fractions[-1] - fractions[0])


def _curve(
    model: FRModel, images: torch.Tensor, maps: torch.Tensor, *, kind: str, order: str,
    steps: int, fill: str, track: Sequence[str], n_passes: int, seed: int,
    chunk_size: int | None,
) -> FaithfulnessCurve:
    images = check_images(images, model)
    if maps.shape != (images.shape[0], *images.shape[2:]) or steps < 1:
        raise InvalidArgumentError(
            f"need (B, H, W) maps matching the images and steps >= 1, got maps "
            f"{tuple(maps.shape)} for images {tuple(images.shape)}, steps={steps}")
    if not set(track) <= set(TRACKS):
        raise InvalidArgumentError(f"track must be a subset of {TRACKS}, got {track!r}")
    ranks = pixel_ranks(maps.to(images.device), order, seed)
    fills = fill_images(images, fill)
    seq = torch.cat([step_images(*a, steps, kind) for a in zip(images, fills, ranks)])
    ref = unit_embeddings(model, images, chunk_size).repeat_interleave(steps + 1, 0)
    q, cos = score_images(model, seq, ref if "cosine" in track else None, seed=seed,
                          n_passes=n_passes if "quality" in track else 0,
                          chunk_size=chunk_size)
    frac = torch.linspace(0, 1, steps + 1, device=images.device)
    q, cos = (None if v is None else v.view(len(images), -1) for v in (q, cos))
    auc = [None if v is None else trapezoid_auc(v, frac) for v in (q, cos)]
    return FaithfulnessCurve(kind, order, fill, frac, q, cos, *auc)


def deletion_curve(
    model: FRModel, images: torch.Tensor, maps: torch.Tensor, *,
    order: str = "low_first", steps: int = 20, fill: str = "mean",
    track: Sequence[str] = TRACKS, n_passes: int = 100, seed: int = 0,
    chunk_size: int | None = None,
) -> FaithfulnessCurve:
    """Delete pixels in the order of a map; track Q̂ and the cosine to e0 (DEC).

    Expected for a faithful usefulness map: ``order="low_first"`` keeps Q̂ and the
    cosine high for long (large AUC); ``"high_first"`` drops them fast (small AUC);
    a random map lies in between. Both orders start at the unmodified image (cosine
    1) and end at the fully filled image.

    Args:
        model: an :class:`FRModel`; its device is used.
        images: (B, 3, 112, 112) float32 RGB 0..255.
        maps: (B, 112, 112), higher = more useful (any method of :data:`MAP_METHODS`).
        order: ``"low_first"`` or ``"high_first"``.
        steps: S; the curve has S+1 points at fractions k/S of the pixels.
        fill: ``"mean"`` (each image's mean colour; default), ``"blur"`` (Gaussian,
            sigma 8) or ``"black"``. Deletion and insertion default to different
            fills (mean / blur, the RISE pairing): with one fill for both, inserting
            high-first is deleting low-first played backwards, with the same AUC.
        track: any of ``"quality"`` (SER-FIQ Q̂) and ``"cosine"``.
        n_passes, seed: SER-FIQ settings (the seed also breaks ties in the map).
        chunk_size: images per forward pass; all S+1 images of every face are built
            at once and scored in chunks.
    Returns:
        A :class:`FaithfulnessCurve`.
    Example:
        >>> cur = deletion_curve(model, x, plq_map(model, x), order="high_first")
        >>> cur.auc_cosine  # (B,), small = the map found the important pixels
    Taught in: 04_evaluation.ipynb
    """
    return _curve(model, images, maps, kind="deletion", order=order, steps=steps,
                  fill=fill, track=track, n_passes=n_passes, seed=seed,
                  chunk_size=chunk_size)


def insertion_curve(
    model: FRModel, images: torch.Tensor, maps: torch.Tensor, *,
    order: str = "high_first", steps: int = 20, fill: str = "blur",
    track: Sequence[str] = TRACKS, n_passes: int = 100, seed: int = 0,
    chunk_size: int | None = None,
) -> FaithfulnessCurve:
    """Insert pixels, most useful first, into the fill; track Q̂ and cosine (IEC).

    Step 0 is the fill image (blurred by default), step S the unmodified image
    (cosine 1). Expected for a faithful usefulness map: Q̂ and the cosine come back
    fast (large AUC), faster than with a random map. Arguments as in
    :func:`deletion_curve`.

    Returns:
        A :class:`FaithfulnessCurve` (``fractions`` = fraction inserted).
    Taught in: 04_evaluation.ipynb
    """
    return _curve(model, images, maps, kind="insertion", order=order, steps=steps,
                  fill=fill, track=track, n_passes=n_passes, seed=seed,
                  chunk_size=chunk_size)


# ---------------------------------------------------------------------------- table
def curve_records(curve: FaithfulnessCurve, method: str, model_name: str) -> list[dict]:
    """One record per tracked quantity of a curve (mean, sample std, n over faces).

    Returns:
        ``{map_method, model, metric, mean, std, n}`` dicts, metric names as in
        :func:`faithfulness_table`.
    """
    is_del = curve.kind == "deletion"
    stem = f"deletion_auc_{curve.order}" if is_del else "insertion_auc"
    out = []
    for track, auc in (("quality", curve.auc_quality), ("cosine", curve.auc_cosine)):
        if auc is not None:
            std = float(auc.std()) if len(auc) > 1 else 0.0
            out.append({"map_method": method, "model": model_name,
                        "metric": f"{stem}_{track}", "mean": float(auc.mean()),
                        "std": std, "n": len(auc)})
    return out


def faithfulness_table(
    model: FRModel, images: torch.Tensor, methods: Sequence[str] | None = None, *,
    method_kwargs: dict[str, dict] | None = None, steps: int = 20,
    deletion_fill: str = "mean", insertion_fill: str = "blur",
    track: Sequence[str] = TRACKS, n_passes: int = 100, seed: int = 0,
    chunk_size: int | None = None,
) -> list[dict]:
    """Deletion (low- and high-first) and insertion AUCs of several map methods.

    Args:
        model: an :class:`FRModel`; images: (B, 3, 112, 112) float32 RGB 0..255.
        methods: names in :data:`MAP_METHODS` (all by default).
        method_kwargs: extra keyword arguments per method, e.g.
            ``{"integrated_gradients": {"n_steps": 16}}``.
        deletion_fill, insertion_fill: the ``fill`` of each kind of curve.
        steps, track, n_passes, seed, chunk_size: as in :func:`deletion_curve`.
    Returns:
        Records ``{map_method, model, metric, mean, std, n}``; the metrics are
        ``deletion_auc_low_first_<t>`` (higher = better),
        ``deletion_auc_high_first_<t>`` (lower = better) and ``insertion_auc_<t>``
        (higher = better), t in ``track``; ``std`` is the sample standard deviation
        over the faces (0 for one face).
    Example:
        >>> pd.DataFrame(faithfulness_table(model, x, ["plq", "random"]))
    Taught in: 04_evaluation.ipynb
    """
    methods = list(MAP_METHODS) if methods is None else list(methods)
    unknown = [m for m in methods if m not in MAP_METHODS]
    if unknown:
        raise InvalidArgumentError(
            f"unknown map methods {unknown}; known: {list(MAP_METHODS)}")
    kw = dict(steps=steps, track=track, n_passes=n_passes, seed=seed,
              chunk_size=chunk_size)
    records = []
    for name in methods:
        maps = MAP_METHODS[name](model, images, **(method_kwargs or {}).get(name, {}))
        for curve in (
            deletion_curve(model, images, maps, order="low_first", fill=deletion_fill,
                           **kw),
            deletion_curve(model, images, maps, order="high_first", fill=deletion_fill,
                           **kw),
            insertion_curve(model, images, maps, fill=insertion_fill, **kw),
        ):
            records.extend(curve_records(curve, name, model.name))
    return records

