"""Step 2 of the method: the sample-specific quality regression model M_Q(I).

The network is extended by one *quality node* N on top of the unit-norm embedding e:

    N(I) = sum_k w_k e_k(I),   w_k = Q̂_I / sum_j e_j(I_0)   for every k

Its weights are set in closed form (no training) so that at the explained image I_0 the
node outputs that image's own quality Q̂. Because all weights are
equal, N(I) = Q̂ · Σe(I) / Σe(I_0): the node's gradient is the gradient of the
embedding's component sum, scaled by Q̂ / Σe(I_0). Q̂ only scales the map.

A batch of B images gets one node per image (a (B, E) weight buffer), so one backward
pass through ``sum_i N_i`` yields every image's own gradient.

Taught in: 02_regression_construction.ipynb
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import InvalidArgumentError, QualityNodeError

if TYPE_CHECKING:
    from ..models.base import FRModel

log = logging.getLogger(__name__)

#: Smallest |Σe| accepted for the node's denominator (unit-norm e, so |Σe| <= sqrt(E)).
MIN_EMBEDDING_SUM = 1e-6


def check_on_degenerate(on_degenerate: str) -> None:
    """Raise :class:`InvalidArgumentError` unless ``on_degenerate`` is "raise" or "clamp"."""
    if on_degenerate not in ("raise", "clamp"):
        raise InvalidArgumentError(
            f"on_degenerate must be 'raise' or 'clamp', got {on_degenerate!r}"
        )


class QualityNode(nn.Module):
    """The paper's quality node: a bias-free linear unit per image on the embedding.

    Attributes:
        weight: (B, E) buffer; row i holds image i's weights, all equal to Q̂_i / Σe(I_i).
    """

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight)

    @classmethod
    def fit(
        cls, emb0: torch.Tensor, q: torch.Tensor, *, on_degenerate: str = "raise"
    ) -> QualityNode:
        """Closed-form weights so that the node outputs ``q`` at ``emb0``.

        Args:
            emb0: (B, E) unit-norm embeddings of the explained images.
            q: (B,) target outputs, the scaled qualities Q̂.
            on_degenerate: what to do when |Σe| < ``MIN_EMBEDDING_SUM`` (the weight
                Q̂/Σe would explode): ``"raise"`` a :class:`QualityNodeError`, or
                ``"clamp"`` the sum to ±MIN_EMBEDDING_SUM (sign kept) with a warning;
                the node output then differs from Q̂ for that image.
        Returns:
            A :class:`QualityNode` on ``emb0``'s device.
        Raises:
            QualityNodeError: a sum below the floor with ``on_degenerate="raise"``.
            InvalidArgumentError: ``on_degenerate`` is neither ``"raise"`` nor ``"clamp"``.
        """
        node, tiny = cls.fit_deferred(emb0, q)
        cls.check_degenerate(tiny, on_degenerate)
        return node

    @classmethod
    def fit_deferred(cls, emb0: torch.Tensor, q: torch.Tensor) -> tuple[QualityNode, torch.Tensor]:
        """:meth:`fit` without its check: no host sync, for the per-chunk path.

        The weights use |Σe| clamped to ``MIN_EMBEDDING_SUM`` (sign kept) where it is
        smaller; the caller passes the returned (B,) bool mask of those images to
        :meth:`check_degenerate` once, at the end of its call.
        """
        total = emb0.detach().sum(dim=1)
        tiny = total.abs() < MIN_EMBEDDING_SUM
        sign = torch.where(total >= 0, 1.0, -1.0).to(total)
        total = torch.where(tiny, sign * MIN_EMBEDDING_SUM, total)
        w = (q.detach().to(total) / total).unsqueeze(1).expand_as(emb0).contiguous()
        return cls(w), tiny

    @staticmethod
    def check_degenerate(tiny: torch.Tensor, on_degenerate: str = "raise") -> None:
        """Raise (or warn, with ``"clamp"``) for the images flagged by :meth:`fit_deferred`.

        One host sync for a whole call.

        Raises:
            QualityNodeError: some image's |Σe| < ``MIN_EMBEDDING_SUM`` and
                ``on_degenerate="raise"``.
            InvalidArgumentError: ``on_degenerate`` is neither ``"raise"`` nor ``"clamp"``.
        """
        check_on_degenerate(on_degenerate)
        if not tiny.any():
            return
        bad = tiny.nonzero().flatten().tolist()
        msg = (
            f"embedding component sum ~0 for image(s) {bad}: "
            "the quality node's weight Q̂/Σe is undefined"
        )
        if on_degenerate == "raise":
            raise QualityNodeError(msg + "; pass on_degenerate='clamp' to accept a clamped weight")
        log.warning("%s; clamping |Σe| to %g", msg, MIN_EMBEDDING_SUM)

    @property
    def scale(self) -> torch.Tensor:
        """(B,) the common weight Q̂ / Σe(I_0) of each image's node."""
        return self.weight[:, 0]

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        """(B, E) unit-norm embeddings -> (B,) node outputs."""
        return (self.weight * emb).sum(dim=1)


class QualityRegressionModel(nn.Module):
    """M_Q(I): the face recognition network with the quality node appended.

    ``forward`` maps (B, 3, H, W) RGB 0..255 to (B,) node outputs; at the images the
    node was fitted on, the output equals their Q̂.
    """

    def __init__(self, model: FRModel, node: QualityNode) -> None:
        super().__init__()
        self.model = model
        self.node = node

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.node(self.model(images))


def build_quality_regression(
    model: FRModel, images: torch.Tensor, q: torch.Tensor, *, on_degenerate: str = "raise"
) -> QualityRegressionModel:
    """Append a quality node fitted to ``images`` and their qualities ``q``.

    Args:
        model: the network (eval mode).
        images: (B, 3, H, W) float32 RGB 0..255 on the model's device.
        q: (B,) scaled qualities Q̂ (e.g. ``serfiq_quality(...).q``).
        on_degenerate: see :meth:`QualityNode.fit`.
    Returns:
        The :class:`QualityRegressionModel` M_Q(I).
    Raises:
        QualityNodeError: an embedding's component sum is ~0 (``on_degenerate="raise"``).
    Taught in: 02_regression_construction.ipynb
    """
    with torch.inference_mode():
        emb0 = model(images)
    return QualityRegressionModel(
        model, QualityNode.fit(emb0.clone(), q, on_degenerate=on_degenerate)
    )
