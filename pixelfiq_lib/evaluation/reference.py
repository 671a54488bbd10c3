"""The naive, official-style PLQ path, the benchmark's reference.

Each image in turn: the whole network T times for Q̂, then one backward pass.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import torch

from ..core.backprop import PLQResult, aggregate_gradients, resolve_a, value_map
from ..core.constants import PAPER_B
from ..core.quality import (
    QualityResult,
    SerfiqSettings,
    dropout_masks,
    mean_pairwise_distance,
    quality_from_distance,
)
from ..core.regression import QualityNode
from ..data.checks import check_images

if TYPE_CHECKING:
    from ..models.base import FRModel


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
    :func:`~pixelfiq_lib.core.quality.dropout_masks` with ``seed``, then the head); then a
    separate gradient pass runs the body again, fits the quality node and back-propagates.
    Same arguments and result as :func:`~pixelfiq_lib.core.backprop.pixel_quality_map`, whose
    outputs it reproduces (same masks, hence the same Q̂).
    """
    images = check_images(images, model)
    s = SerfiqSettings(n_passes, dropout_p, alpha, r, seed).resolved(model)
    parts = [_naive_one(model, img[None], s, on_degenerate) for img in images]
    grads = torch.cat([g for g, _, _ in parts])
    fields = [torch.cat(f) for f in zip(*(stats for _, stats, _ in parts))]
    quality = QualityResult(*fields, **asdict(s))
    saliency = aggregate_gradients(grads)
    a = resolve_a(model, a)
    return PLQResult(
        value_map(saliency, a, b),
        saliency,
        grads,
        quality,
        torch.cat([s for _, _, s in parts]),
        a,
        b,
    )


def _naive_one(model: FRModel, image: torch.Tensor, s: SerfiqSettings, on_degenerate: str):
    """One image: T whole-network passes for Q̂, then one gradient pass for its node."""
    with torch.inference_mode():
        feat = model.features(image.repeat(s.n_passes, 1, 1, 1))
        masks = dropout_masks(
            s.n_passes, feat.shape[1], s.dropout_p, seed=s.seed, device=feat.device
        )
        emb = model.embed_features(feat * masks.to(feat.dtype))
        mean, se = mean_pairwise_distance(emb[None])
        q_raw, q, q_se = quality_from_distance(mean, se, s.alpha, s.r)
    x = image.detach().clone().requires_grad_(True)
    emb0 = model(x)
    node = QualityNode.fit(emb0, q.clone(), on_degenerate=on_degenerate)
    (grads,) = torch.autograd.grad(node(emb0).sum(), x)
    return grads, (q.clone(), q_raw.clone(), q_se.clone(), mean.clone()), node.scale.detach()
