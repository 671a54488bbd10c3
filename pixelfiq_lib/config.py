"""Paths, FAST mode, seeds and the device: the one place that reads the environment.

Environment variables:
    PIXELFIQ_FAST=1      small settings for CI and quick runs (notebooks read ``cfg.fast``)
    PIXELFIQ_HOME        cache folder for converted models (default ``~/.cache/pixelfiq``)
    PIXELFIQ_DATA        folder holding ``bbt/`` (default: the repository's ``data/``)
    PIXELFIQ_DEVICE      force a device (``cpu``, ``cuda``, ``cuda:1``) wherever a notebook
                         or function asks for ``None``/``"auto"``; a notebook's ``DEVICE``
                         parameter, when not ``"auto"``, wins over it

Taught in: 00_quickstart.ipynb
"""

from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def is_fast() -> bool:
    """True when ``PIXELFIQ_FAST`` is set to a true value (``1``, ``true``, ``yes``)."""
    return os.environ.get("PIXELFIQ_FAST", "").strip().lower() in {"1", "true", "yes", "on"}


def cache_dir() -> Path:
    """Folder for converted models and downloads; created on first use.

    Raises:
        InvalidArgumentError: ``PIXELFIQ_HOME`` (or a folder above it) is a file, or the
            folder cannot be created.
    """
    from .errors import InvalidArgumentError

    root = Path(os.environ.get("PIXELFIQ_HOME", Path.home() / ".cache" / "pixelfiq"))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = "PIXELFIQ_HOME" if "PIXELFIQ_HOME" in os.environ else "the cache folder"
        raise InvalidArgumentError(
            f"{where} {str(root)!r} cannot be used as pixelfiq's cache folder "
            f"({exc.strerror or exc}); point PIXELFIQ_HOME to a folder"
        ) from exc
    return root


def data_dir() -> Path:
    """The repository's ``data/`` folder (``PIXELFIQ_DATA`` overrides it)."""
    return Path(os.environ.get("PIXELFIQ_DATA", REPO_ROOT / "data"))


def bbt_dir() -> Path | None:
    """The identity-labelled face set ``data/bbt`` (8 identities x 5 crops) or ``None``."""
    path = data_dir() / "bbt"
    return path if path.is_dir() else None


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """Choose the compute device; the only function that looks at CUDA.

    Args:
        prefer: ``None`` or ``"auto"`` (CUDA when available, else CPU), or an explicit
            device such as ``"cpu"``, ``"cuda"`` or ``"cuda:0"``. ``PIXELFIQ_DEVICE``
            overrides ``None``/``"auto"``.
    Returns:
        A ``torch.device``.
    Raises:
        InvalidArgumentError: not a device name torch knows, a device type pixelfiq does
            not run on (only ``cpu`` and ``cuda``: not ``mps``, ``meta`` ...), a CUDA
            device while torch sees no GPU, or a GPU index that does not exist. (Also a
            ``ValueError``.)
    """
    from .errors import InvalidArgumentError

    choice = prefer if prefer not in (None, "auto") else os.environ.get("PIXELFIQ_DEVICE", "auto")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(choice)
    except (RuntimeError, TypeError, ValueError):
        raise InvalidArgumentError(
            f"unknown device {choice!r}; use 'cpu', 'cuda', 'cuda:N' or 'auto'"
        ) from None
    if dev.type not in ("cpu", "cuda"):
        raise InvalidArgumentError(
            f"device {choice!r} is not supported: pixelfiq runs on 'cpu' or 'cuda' ('auto')"
        )
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidArgumentError(
            f"device {choice!r} was asked for, but torch sees no CUDA GPU; use 'cpu' or 'auto'"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InvalidArgumentError(
            f"device {choice!r} does not exist: torch sees {torch.cuda.device_count()} GPU(s)"
        )
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CUDA too, when present)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@dataclass(frozen=True)
class NotebookConfig:
    """What a notebook's setup cell gets back."""

    fast: bool
    device: torch.device
    seed: int


def setup_notebook(seed: int = 0, device: str | None = None) -> NotebookConfig:
    """Seed everything, set the plot style and print versions, device and FAST mode.

    Warns (never fails) when no GPU is present. Taught in: 00_quickstart.ipynb
    """
    import matplotlib

    seed_everything(seed)
    dev = get_device(device)
    matplotlib.rcParams.update({"figure.dpi": 100, "image.interpolation": "nearest"})
    print(
        f"python {platform.python_version()} | torch {torch.__version__} | numpy {np.__version__}"
        f" | device {dev} | FAST={is_fast()} | seed {seed}"
    )
    if dev.type == "cpu":
        print("note: running on the CPU (no GPU found); every notebook is sized for that.")
    return NotebookConfig(fast=is_fast(), device=dev, seed=seed)
