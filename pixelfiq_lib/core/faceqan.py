"""FaceQAN (Babnik, Peer, Štruc, ICPR 2022, arXiv 2212.02127), written from the paper.

A face the network reads well keeps its identity under small adversarial noise; a poor
face is pushed away easily. For each face:

1. make ``k`` copies with uniform noise in [-eps, eps] (the random starts);
2. run ``l`` steps of the basic iterative method (BIM: a step of ``eps`` along the sign of
   the gradient) that lowers the cosine similarity of each copy's embedding to the clean
   face's; record the similarity after every step, ``S`` (k * l values);
3. symmetry: the cosine similarity ``s_flip`` of the face and its horizontal mirror, which
   falls with head pose;
4. quality ``q = ((1 + mean S) / 2 * clip(1 - std S, 0, 1) * s_flip) ** p``.

Defaults are the paper's: eps = 0.001 of the [0, 1] pixel range (0.255 grey levels here,
where pixels are 0..255), l = 5, k = 10, p = 5. The k random starts are drawn once per call
from ``seed`` and shared by every face (common random numbers): a face gets the same score
alone or in any batch, and the same seed gives the same scores.

Pixel map: the magnitude of the mean adversarial noise over the k starts (mean over RGB),
in grey levels. The attack spends its budget where the embedding is most sensitive and
pushes there in one direction from every start: a high value marks a pixel the network
relies on (higher = more useful pixel, the library's map convention).

Taught in: 09_compare_quality_methods.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..data.checks import check_images
from ..errors import InvalidArgumentError
from .validation import check_seed, positive

if TYPE_CHECKING:
    from ..models.base import FRModel

#: The paper's settings: eps in grey levels (0.001 of the 0..1 range), BIM steps l,
#: random starts k, exponent p.
PAPER_EPS = 0.255
PAPER_STEPS = 5
PAPER_STARTS = 10
PAPER_EXPONENT = 5.0


@dataclass
class FaceQANResult:
    """FaceQAN scores of a batch of faces.

    Attributes:
        q: (B,) float64 quality, higher = better (``q_base ** p``, sign kept).
        mean_similarity, std_similarity: (B,) mean and spread of the k * l adversarial
            cosine similarities.
        flip_similarity: (B,) cosine similarity of the face and its mirror image.
        noise_map: (B, H, W) float32 magnitude of the mean adversarial noise (grey levels).
        eps, steps, starts, exponent, seed: the settings that produced it.
    """

    q: torch.Tensor
    mean_similarity: torch.Tensor
    std_similarity: torch.Tensor
    flip_similarity: torch.Tensor
    noise_map: torch.Tensor
    eps: float
    steps: int
    starts: int
    exponent: float
    seed: int


def _whole(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidArgumentError(f"{name} must be a whole number >= {low}, got {value!r}")
    return value


def random_starts(starts: int, shape: tuple[int, ...], eps: float, seed: int) -> torch.Tensor:
    """(k, *shape) float32 uniform noise in [-eps, eps], drawn on the CPU from ``seed``."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return (torch.rand(starts, *shape, generator=gen) * 2.0 - 1.0) * eps


def _attack_one(
    model: FRModel, face: torch.Tensor, noise: torch.Tensor, eps: float, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """BIM from k noisy copies of one face: ((steps, k) similarities, (k, 3, H, W) noise)."""
    with torch.no_grad():
        clean = model(face[None])
    x = (face[None] + noise).clamp(0.0, 255.0)
    sims = []
    for step in range(steps + 1):
        x = x.detach().requires_grad_(step < steps)
        with torch.set_grad_enabled(step < steps):
            cos = F.cosine_similarity(model(x), clean, dim=1)
        if step:
            sims.append(cos.detach())
        if step < steps:
            (grad,) = torch.autograd.grad(cos.sum(), x)
            x = (x - eps * grad.sign()).clamp(0.0, 255.0)  # lower the similarity
    return torch.stack(sims), (x.detach() - face[None])


def faceqan_scores(
    model: FRModel,
    images: torch.Tensor,
    *,
    eps: float = PAPER_EPS,
    steps: int = PAPER_STEPS,
    starts: int = PAPER_STARTS,
    exponent: float = PAPER_EXPONENT,
    seed: int = 0,
) -> FaceQANResult:
    """FaceQAN quality, its parts and its noise map for a batch of aligned faces.

    Args:
        model: an :class:`FRModel` (any network: FaceQAN needs gradients only).
        images: (B, 3, 112, 112) float32 RGB 0..255.
        eps: step size and random-start radius in grey levels (paper: 0.255).
        steps: BIM iterations l (paper: 5). starts: random starts k (paper: 10).
        exponent: p (paper: 5; monotone, so it does not change rankings).
        seed: seed of the random starts (shared by every face of the call).
    Returns:
        A :class:`FaceQANResult` with tensors on the CPU.
    Raises:
        InvalidImageError: images of the wrong shape, type or range.
        InvalidArgumentError: a setting out of range.
    Taught in: 09_compare_quality_methods.ipynb
    """
    eps, exponent = positive("eps", eps), positive("exponent", exponent)
    steps, starts = _whole("steps", steps, 1), _whole("starts", starts, 1)
    seed = check_seed(seed)
    images = check_images(images, model)
    noise = random_starts(starts, tuple(images.shape[1:]), eps, seed)
    noise = noise.to(images.device, images.dtype)
    sims, maps = [], []
    with torch.inference_mode(False):
        for face in images.detach().clone():
            s, delta = _attack_one(model, face, noise, eps, steps)
            sims.append(s.flatten().double().cpu())
            maps.append(delta.mean(0).abs().mean(0).float().cpu())
        with torch.no_grad():
            emb = model(torch.cat([images, images.flip(3)]))
    flip = F.cosine_similarity(emb[: len(images)], emb[len(images) :], dim=1).double().cpu()
    s = torch.stack(sims)
    mean, std = s.mean(1), s.std(1, unbiased=False)
    base = (1.0 + mean) / 2.0 * (1.0 - std).clamp(0.0, 1.0) * flip
    q = base.sign() * base.abs().pow(exponent)
    return FaceQANResult(q, mean, std, flip, torch.stack(maps), eps, steps, starts, exponent, seed)


def faceqan_quality(model: FRModel, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """FaceQAN quality, (B,) float64 on the CPU, higher = better (:func:`faceqan_scores`)."""
    return faceqan_scores(model, images, **kwargs).q


def faceqan_map(model: FRModel, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """FaceQAN's pixel map, (B, H, W) float32 grey levels, higher = a pixel the network
    relies on (the magnitude of the mean adversarial noise, :func:`faceqan_scores`)."""
    return faceqan_scores(model, images, **kwargs).noise_map
