"""The library's own quality signals behind the common interface: SER-FIQ and the embedding norm.

* ``serfiq`` is the raw SER-FIQ quality Q = 2 / (1 + exp(D̄)) of
  :func:`~pixelfiq_lib.core.quality.serfiq_quality`, not the scaled Q̂ = sigmoid(alpha (Q - r)).
  Q̂ is a monotone function of Q, so both rank faces alike, but Q̂ saturates in float32 for a
  network whose alpha and r do not fit it, which would tie faces; ``pixelfiq evaluate``
  ranks by Q for the same reason.
* ``embedding_norm`` is the L2 norm of the raw embedding (the head's output before L2
  normalisation): the quality signal of MagFace (Meng et al., CVPR 2021) on MagFace-trained
  networks. On SFace and MobileFaceNet, which were not trained with MagFace's loss, it is a
  baseline, not MagFace.

Taught in: 09_compare_quality_methods.ipynb
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..core.quality import body_features, serfiq_quality

if TYPE_CHECKING:
    from ..models.base import FRModel


def serfiq_raw_quality(model: FRModel, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """Raw SER-FIQ Q in (0, 1], (B,) float64 on the CPU; ``kwargs``: ``n_passes``, ``seed``,
    ``dropout_p`` as in :func:`~pixelfiq_lib.core.quality.serfiq_quality`."""
    return serfiq_quality(model, images, **kwargs).q_raw.double().cpu()


def embedding_norm(model: FRModel, images: torch.Tensor) -> torch.Tensor:
    """L2 norm of the raw embedding (before normalisation), (B,) float64 on the CPU."""
    feat = body_features(model, images)
    with torch.no_grad():
        return model.head(feat).norm(dim=1).double().cpu()
