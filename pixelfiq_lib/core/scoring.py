"""The one loop that runs the body once per chunk and scores the features.
"""
from __future__ import annotations

import torch

from ..core.quality import serfiq_from_features
from ..models.base import FRModel


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
