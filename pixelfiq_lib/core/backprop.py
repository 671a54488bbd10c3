"""Step 3 of the method: quality gradients -> pixel-level quality maps P(I).

For each face: S_I = dN/dI, the gradient of the quality node w.r.t. the RGB input in
0..255 (the network normalises inside its body); Ŝ = mean over RGB of |S_I|; and
P = v(Ŝ) = 1 - 1 / (1 + a Ŝ^b) in [0, 1), higher = pixel more useful for recognition
(the official code's mapping). The paper's a = 10^7.5, b = 2 were tuned to one ArcFace; each of
our networks carries its own calibrated ``plq_a`` (:func:`calibrate_a`), and
``a="paper"`` selects the paper's constant.

Fast path: the body runs once per face; its features feed the T dropout passes of the
quality (no gradient) and the quality node (with gradient); one backward pass per chunk
gives every face its own gradient.

Taught in: 03_gradient_backprop.ipynb
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..core.quality import (
    QualityResult,
    SerfiqSettings,
    serfiq_from_features,
)
from ..data.checks import check_images
from ..errors import InvalidArgumentError
from .batching import chunk_size as chunk_size_for
from .constants import PAPER_A, PAPER_B
from .regression import QualityNode, check_on_degenerate
from .validation import positive

if TYPE_CHECKING:
    from ..models.base import FRModel


@dataclass
class PLQResult:
    """Pixel-level quality maps of a batch of faces.

    Attributes:
        plq: (B, H, W) float32 maps P(I) in [0, 1); higher = more useful pixel.
        saliency: (B, H, W) float32 Ŝ, mean over RGB of |dN/dI|.
        grads: (B, 3, H, W) float32 raw gradients S_I w.r.t. RGB 0..255 pixels.
        quality: the SER-FIQ :class:`QualityResult` of the faces.
        node_scale: (B,) the quality node's common weight Q̂ / Σe(I_0), or None.
        a, b: the value-mapping constants used.
    """

    plq: torch.Tensor
    saliency: torch.Tensor
    grads: torch.Tensor
    quality: QualityResult
    node_scale: torch.Tensor | None
    a: float
    b: float


def aggregate_gradients(grads: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) gradients -> (B, H, W) Ŝ = mean over channels of |gradient|."""
    return grads.abs().mean(dim=1)


def value_map(saliency: torch.Tensor, a: float = PAPER_A, b: float = PAPER_B) -> torch.Tensor:
    """P = 1 - 1 / (1 + a Ŝ^b), computed stably as sigmoid(log a + b log Ŝ).

    Args:
        saliency: non-negative tensor of any shape.
        a, b: positive constants.
    Returns:
        Tensor of the same shape in [0, 1); 0 where Ŝ = 0.
    Raises:
        InvalidArgumentError: ``a`` or ``b`` not a finite positive number.
    """
    a, b = positive("a", a), positive("b", b)
    return torch.sigmoid(np.log(a) + b * torch.log(saliency))


def calibrate_a(
    saliency: torch.Tensor | np.ndarray, b: float = PAPER_B, quantile: float = 0.5
) -> float:
    """Per-network ``a``: the ``quantile`` of Ŝ over reference faces maps to P = 0.5.

    Solving a·m^b = 1 for the median m makes half of the reference pixels green and
    half red, whatever the scale of the network's gradients.

    Args:
        saliency: Ŝ maps of a set of typical faces, any shape.
        b: the exponent of the value mapping.
        quantile: which quantile of Ŝ maps to 0.5 (median by default).
    Returns:
        The constant ``a``.
    Raises:
        InvalidArgumentError: no positive saliency value.
    Taught in: 03_gradient_backprop.ipynb
    """
    vals = torch.as_tensor(saliency).detach().double().flatten()
    m = float(torch.quantile(vals[vals > 0], quantile)) if (vals > 0).any() else 0.0
    if m <= 0:
        raise InvalidArgumentError("calibrate_a needs saliency maps with positive values")
    return float(m ** (-b))


def resolve_a(model: FRModel, a: float | str | None) -> float:
    """``None`` -> the model's calibrated ``plq_a``; ``"paper"`` -> 10^7.5; else ``a``.

    Raises:
        InvalidArgumentError: any other string, or a number that is not finite and > 0.
    """
    if a is None:
        return model.plq_a
    if isinstance(a, str):
        if a != "paper":
            raise InvalidArgumentError(f"a must be None, 'paper' or a number > 0, got {a!r}")
        return PAPER_A
    return positive("a", a)


def pixel_quality_map(
    model: FRModel,
    images: torch.Tensor,
    *,
    n_passes: int = 100,
    dropout_p: float | None = None,
    alpha: float | None = None,
    r: float | None = None,
    a: float | str | None = None,
    b: float = PAPER_B,
    seed: int | None = 0,
    chunk_size: int | None = None,
    on_degenerate: str = "raise",
) -> PLQResult:
    """Pixel-level quality (PLQ) maps for a batch of aligned faces.

    Args:
        model: an :class:`FRModel` in eval mode; its device is used.
        images: (B, 3, 112, 112) float32 RGB in 0..255 (``data.to_tensor``).
        n_passes, dropout_p, alpha, r, seed: SER-FIQ settings (see ``quality``).
        a: value-mapping constant: ``None`` (the model's calibrated one), ``"paper"``,
            or a number. b: its exponent (paper: 2).
        chunk_size: faces per forward+backward pass; ``None`` = the device's
            (:func:`~pixelfiq_lib.core.batching.chunk_size`: 8 on a CPU, 64 on a GPU).
        on_degenerate: quality-node guard, see ``QualityNode.fit``.
    Returns:
        A :class:`PLQResult`; ``plq[i]`` is the map of ``images[i]``.
    Raises:
        InvalidImageError: images of the wrong type, shape or range, or an empty batch.
        InvalidArgumentError: a SER-FIQ setting out of range
            (:meth:`~pixelfiq_lib.core.quality.SerfiqSettings.resolved`), ``a``/``b``
            not finite and positive, ``chunk_size`` < 1, ``on_degenerate`` not
            ``"raise"``/``"clamp"``.
        QualityNodeError: an embedding's component sum is ~0 and ``on_degenerate`` is
            ``"raise"``.
    Example:
        >>> res = pixel_quality_map(load_model("sface"), to_tensor(faces))
        >>> res.plq.shape  # (B, 112, 112)

    Taught in: 03_gradient_backprop.ipynb
    """
    images = check_images(images, model)
    settings = SerfiqSettings(n_passes, dropout_p, alpha, r, seed).resolved(model)
    check_on_degenerate(on_degenerate)
    a, b = resolve_a(model, a), positive("b", b)
    size = chunk_size_for(images.device, chunk_size)
    parts = [_plq_chunk(model, chunk, settings) for chunk in images.split(size)]
    # the degenerate-node check: one host sync for the call, not one per chunk
    QualityNode.check_degenerate(torch.cat([t for *_, t in parts]), on_degenerate)
    grads = torch.cat([g for g, *_ in parts])
    quality = _cat_quality([q for _, q, *_ in parts])
    saliency = aggregate_gradients(grads)
    return PLQResult(
        value_map(saliency, a, b),
        saliency,
        grads,
        quality,
        torch.cat([s for _, _, s, _ in parts]),
        a,
        b,
    )


def _plq_chunk(model: FRModel, x: torch.Tensor, settings: SerfiqSettings):
    x = x.detach().clone().requires_grad_(True)
    feat = model.features(x)
    with torch.no_grad():
        quality = serfiq_from_features(model, feat.detach(), **asdict(settings))
    emb = model.embed_features(feat)
    node, tiny = QualityNode.fit_deferred(emb, quality.q)
    (grads,) = torch.autograd.grad(node(emb).sum(), x)
    return grads, quality, node.scale, tiny


def _cat_quality(parts: list[QualityResult]) -> QualityResult:
    """Concatenate (and detach) the qualities of consecutive chunks."""
    first = parts[0]
    fields = ("q", "q_raw", "q_se", "mean_distance")
    cat = {f: torch.cat([getattr(p, f).detach() for p in parts]) for f in fields}
    return QualityResult(
        **cat,
        n_passes=first.n_passes,
        dropout_p=first.dropout_p,
        alpha=first.alpha,
        r=first.r,
        seed=first.seed,
    )


def quality_gradient_map(
    model: FRModel,
    images: torch.Tensor,
    *,
    a: float | str | None = None,
    b: float = PAPER_B,
    chunk_size: int | None = None,
    **qkw,
) -> PLQResult:
    """Beyond the paper: differentiate SER-FIQ's Q̂ itself w.r.t. the pixels.

    The T dropout masks are held fixed (``seed``), so Q̂(I) is a differentiable function
    of the image; its gradient, aggregated and mapped exactly like the paper's map,
    shows which pixels make the stochastic embeddings agree. Unlike the paper's node,
    whose spatial pattern does not depend on Q̂ at all, this one does. About T times
    more expensive in the head than :func:`pixel_quality_map`.

    Args:
        model, images, a, b: as in :func:`pixel_quality_map`.
        chunk_size: faces per backward pass (memory grows with chunk x T x D);
            ``None`` = the device's heavy chunk (2 on a CPU, 8 on a GPU).
        **qkw: ``n_passes``, ``dropout_p``, ``alpha``, ``r``, ``seed``.
    Returns:
        A :class:`PLQResult` with ``node_scale=None``.
    Raises:
        InvalidImageError, InvalidArgumentError: as :func:`pixel_quality_map`.
    Taught in: 05_evaluation_metrics.ipynb
    """
    images = check_images(images, model)
    settings = asdict(SerfiqSettings(**qkw).resolved(model))
    a, b = resolve_a(model, a), positive("b", b)
    grads, qualities = [], []
    for chunk in images.split(chunk_size_for(images.device, chunk_size, heavy=True)):
        x = chunk.detach().clone().requires_grad_(True)
        quality = serfiq_from_features(model, model.features(x), **settings)
        grads.append(torch.autograd.grad(quality.q.sum(), x)[0])
        qualities.append(_cat_quality([quality]))
    grads = torch.cat(grads)
    saliency = aggregate_gradients(grads)
    return PLQResult(
        value_map(saliency, a, b), saliency, grads, _cat_quality(qualities), None, a, b
    )
