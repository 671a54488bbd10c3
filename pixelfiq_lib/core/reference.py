"""The naive, official-style PLQ path: body once, head T times one image at a time, one backward per image. The benchmark's reference.
"""
from __future__ import annotations

import torch

from ..core.backprop import PLQResult, aggregate_gradients, resolve_a, value_map
from ..core.quality import (
    QualityResult,
    check_images,
    draw_seed,
    dropout_masks,
    mean_pairwise_distance,
    quality_from_distance,
)
from ..core.regression import QualityNode
from ..models.base import FRModel
from .constants import PAPER_B


# ------------------------------------------------------------------------- naive path
def naive_pixel_quality_map(
    model: FRModel,
    images: torch.Tensor,
    *,
    n_passes: int = 100,
    seed: int | None = 0,
    dropout_p: float | None = None,
    alpha: float | None = None,
    r: float | None = None,
    a: float | str | None = None,
    b: float = PAPER_B,
    on_degenerate: str = "raise",
) -> PLQResult:
    """PLQ maps computed the way the official code does: slow, for reference only.

    For each image in a Python loop: the image is repeated T times and sent through
    the *whole* network (body T times, then the dropout masks of
    :func:`~pixelfiq_lib.quality.dropout_masks` with ``seed``, then the head); then a
    separate gradient pass runs the body again, fits the quality node and back-propagates.
    Same arguments and result as :func:`~pixelfiq_lib.backprop.pixel_quality_map`, whose
    outputs it reproduces (same masks, hence the same Q̂).
    """
    images = check_images(images, model)
    seed = draw_seed() if seed is None else int(seed)
    p = model.dropout_p if dropout_p is None else float(dropout_p)
    alpha = model.alpha if alpha is None else float(alpha)
    r = model.r if r is None else float(r)
    parts = [_naive_one(model, img[None], n_passes, p, seed, alpha, r, on_degenerate) for img in images]
    grads = torch.cat([g for g, _, _ in parts])
    fields = [torch.cat(f) for f in zip(*(stats for _, stats, _ in parts))]
    quality = QualityResult(*fields, n_passes=n_passes, dropout_p=p, alpha=alpha, r=r, seed=seed)
    saliency = aggregate_gradients(grads)
    a = resolve_a(model, a)
    return PLQResult(value_map(saliency, a, b), saliency, grads, quality,
                     torch.cat([s for _, _, s in parts]), a, b)


def _naive_one(model: FRModel, image: torch.Tensor, n_passes: int, p: float, seed: int,
               alpha: float, r: float, on_degenerate: str):
    """One image: T whole-network passes for Q̂, then one gradient pass for its node."""
    with torch.inference_mode():
        feat = model.features(image.repeat(n_passes, 1, 1, 1))
        masks = dropout_masks(n_passes, feat.shape[1], p, seed=seed, device=feat.device)
        emb = model.embed_features(feat * masks.to(feat.dtype))
        mean, se = mean_pairwise_distance(emb[None])
        q_raw, q, q_se = quality_from_distance(mean, se, alpha, r)
    x = image.detach().clone().requires_grad_(True)
    emb0 = model(x)
    node = QualityNode.fit(emb0, q.clone(), on_degenerate=on_degenerate)
    (grads,) = torch.autograd.grad(node(emb0).sum(), x)
    return grads, (q.clone(), q_raw.clone(), q_se.clone(), mean.clone()), node.scale.detach()
