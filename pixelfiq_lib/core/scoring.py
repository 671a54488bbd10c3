"""Scores of image batches built on :func:`~.quality.body_features`: unit embeddings,
and Q̂ with the cosine to reference embeddings (what the deletion curves track).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .quality import body_features, serfiq_from_features

if TYPE_CHECKING:
    from ..models.base import FRModel


def unit_embeddings(
    model: FRModel, images: torch.Tensor, chunk_size: int | None = None
) -> torch.Tensor:
    """(N, 3, H, W) RGB 0..255 -> (N, E) unit embeddings, no gradients, in chunks."""
    with torch.no_grad():
        return model.embed_features(body_features(model, images, chunk_size))


def score_images(
    model: FRModel,
    images: torch.Tensor,
    ref: torch.Tensor | None,
    *,
    n_passes: int = 100,
    seed: int = 0,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """SER-FIQ Q̂ and cosine to reference embeddings, one body pass per image.

    Args:
        model: the network; images: (N, 3, H, W) RGB 0..255 on its device.
        ref: (N, E) unit reference embeddings, or ``None`` to skip the cosine.
        n_passes: SER-FIQ passes T; 0 skips the quality. seed: dropout-mask seed.
        chunk_size: images per forward pass (default: the device's, see
            :func:`~pixelfiq_lib.core.batching.chunk_size`).
    Returns:
        ``(q, cos)``: (N,) tensors (``None`` where skipped).
    """
    with torch.inference_mode():
        feat = body_features(model, images, chunk_size)
        q = serfiq_from_features(model, feat, n_passes=n_passes, seed=seed).q if n_passes else None
        cos = (model.embed_features(feat) * ref).sum(1) if ref is not None else None
    return q, cos
