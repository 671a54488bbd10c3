"""Face recognition networks as torch modules, split into a body and a head.

Every network in pixelfiq is an :class:`FRModel`:

* ``body``: ``(B, 3, H, W)`` float32 **RGB in 0..255**, NCHW -> ``(B, D)`` float32 features,
  the flattened activation right *before* the network's dropout site. The body holds
  the network's own input normalisation, so gradients are taken w.r.t. 0..255 pixels.
* ``head``: ``(B, D)`` -> ``(B, E)`` raw (not L2-normalised) embedding: the layers after
  the dropout site (for SFace: ``pre_fc1`` Linear then the ``fc1`` BatchNorm).
* SER-FIQ applies dropout to the body's output and runs the head T times; the
  deterministic embedding is ``l2norm(head(body(x)))``.

Taught in: 01_quality_model.ipynb, 06_bring_your_own_model.ipynb
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

PAPER_ALPHA = 130.0
PAPER_R = 0.88
PAPER_A = 10**7.5
PAPER_B = 2.0


class FRModel(nn.Module):
    """A face recognition network split at its dropout site.

    Args:
        body: module mapping ``(B, 3, H, W)`` RGB 0..255 to ``(B, D)`` features.
        head: module mapping ``(B, D)`` features to ``(B, E)`` raw embeddings.
        name: short name (``"sface"``, ``"mobilefacenet"``, a file stem, ...).
        input_size: ``(H, W)`` the network expects (112, 112 for every shipped net).
        dropout_p: dropout rate used for SER-FIQ (the paper's 0.5 by default).
        alpha, r: quality scaling constants for this network (Q̂ = sigmoid(alpha (Q - r))).
        plq_a: the PLQ value-mapping constant ``a`` calibrated for this network.
    """

    def __init__(
        self,
        body: nn.Module,
        head: nn.Module,
        *,
        name: str,
        input_size: tuple[int, int] = (112, 112),
        dropout_p: float = 0.5,
        alpha: float = PAPER_ALPHA,
        r: float = PAPER_R,
        plq_a: float = PAPER_A,
    ) -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.name = name
        self.input_size = tuple(input_size)
        self.dropout_p = float(dropout_p)
        self.alpha = float(alpha)
        self.r = float(r)
        self.plq_a = float(plq_a)
        # Explanations differentiate w.r.t. pixels only: no parameter gradients.
        self.requires_grad_(False)
        self.eval()

    @property
    def device(self) -> torch.device:
        """Device of the first parameter or buffer (CPU for a parameterless net)."""
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the parameters (float32 for every shipped network)."""
        for t in self.parameters():
            return t.dtype
        return torch.float32

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB 0..255 -> ``(B, D)`` pre-dropout features."""
        return self.body(x).flatten(1)

    def embed_features(self, feat: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` features -> ``(B, E)`` unit-norm embeddings (no dropout)."""
        return F.normalize(self.head(feat), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB 0..255 -> ``(B, E)`` unit-norm embeddings."""
        return self.embed_features(self.features(x))

    def official_variant(self) -> "FRModel":
        """A copy whose head BatchNorm layers are *untrained* (mean 0, var 1, affine 1/0).

        This reproduces the official XFIQ / SER-FIQ gen-1 code, which rebuilds the
        head's ``fc1`` BatchNorm without its trained statistics (method-spec §1.3),
        so that layer is ~identity. The paper's network (the default) keeps them.
        """
        twin = copy.deepcopy(self)
        for mod in twin.head.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.reset_running_stats()
                if mod.affine:
                    nn.init.ones_(mod.weight)
                    nn.init.zeros_(mod.bias)
        twin.name = f"{self.name}-official"
        return twin.eval()
