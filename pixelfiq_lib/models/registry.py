"""The shipped networks as data (:data:`MODELS`); ``load_model``, ``fetch_model``,
``list_models``.

Each network's file (:mod:`.sface`, :mod:`.mobilefacenet`) declares its
:class:`~.base.ModelInfo`: where it comes from, its licence, its fitted constants, how
to load it and how to fetch it. Adding a network touches its own file and one line here.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import torch

from ..config import get_device
from ..errors import ModelError
from .base import FRModel, ModelInfo
from .mobilefacenet import MOBILEFACENET
from .sface import SFACE

logger = logging.getLogger(__name__)

#: Shipped networks by name; the first is the default.
MODELS: dict[str, ModelInfo] = {info.name: info for info in (SFACE, MOBILEFACENET)}

_LOADED: dict[tuple[str, str], FRModel] = {}
_LOAD_LOCK = threading.Lock()


def _info(name: str) -> ModelInfo:
    info = MODELS.get(str(name).lower())
    if info is None:
        raise ModelError(
            f"unknown model {name!r}; known: {', '.join(MODELS)}. "
            "For your own network use models.from_onnx(...) or models.from_torch(...)"
        )
    return info


def load_model(name: str = "sface", device: str | torch.device | None = None) -> FRModel:
    """Load a shipped network by name, once per ``(name, device)`` in this process.

    Args:
        name: a key of :data:`MODELS` (``"sface"``, ``"mobilefacenet"``).
        device: ``None``/``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:0"`` ...
    Returns:
        A shared :class:`FRModel` in eval mode: do not modify it in place; use
        ``copy.deepcopy`` or :meth:`FRModel.official_variant` for a private copy.
    Raises:
        ModelError: unknown name, weights not fetched (the message gives the command),
            or damaged weights.
        InvalidArgumentError: a device that does not exist or is not supported
            (``"cuda"`` without a GPU, ``"mps"``; see :func:`config.get_device`).
    Taught in: 01_quality_model.ipynb
    """
    info = _info(name)
    dev = get_device(None if device is None else str(device))
    key = (info.name, str(dev))
    with _LOAD_LOCK:
        if key not in _LOADED:
            start = time.perf_counter()
            _LOADED[key] = info.loader(dev)
            logger.info("loaded %s on %s in %.2f s", info.name, dev, time.perf_counter() - start)
        return _LOADED[key]


def fetch_model(name: str) -> Path:
    """Make a shipped network available offline (``pixelfiq models fetch NAME``).

    Returns:
        Path of the verified weight file.
    Raises:
        ModelError: unknown name, no network, or failed checksums.
    """
    return _info(name).fetch()


def list_models() -> list[dict[str, object]]:
    """One plain dict per shipped network (:meth:`ModelInfo.as_dict`), for the CLI."""
    return [info.as_dict() for info in MODELS.values()]
