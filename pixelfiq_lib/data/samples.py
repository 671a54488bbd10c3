"""Sample faces for the course and the tests.

insightface's sample photos, and the ``bbt`` identity set of ``data/bbt``.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources
from pathlib import Path

import numpy as np

from .. import config, errors
from .alignment import extract_faces
from .types import AlignedFace

_IMAGE_FILES = (
    "t1.jpg",
    "Tom_Hanks_54745.png",
    "mask_black.jpg",
    "mask_blue.jpg",
    "mask_green.jpg",
    "mask_white.jpg",
)


# ------------------------------------------------------------------------- sample data
def sample_image_paths() -> dict[str, Path]:
    """The sample photos shipped in the insightface package.

    Returns:
        ``{"t1": group photo of 6 people, "Tom_Hanks_54745": aligned 112x112 face,
        "mask_black", "mask_blue", "mask_green", "mask_white": surgical-mask
        textures used by insightface's mask augmentation: photos **without** a face}``.
    Raises:
        errors.DataNotFoundError: insightface or its images are not installed.
    """
    try:
        root = Path(str(resources.files("insightface") / "data" / "images"))
    except ImportError as exc:
        raise errors.DataNotFoundError(f"insightface is not installed: {exc}") from exc
    paths = {Path(name).stem: root / name for name in _IMAGE_FILES}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise errors.DataNotFoundError(f"insightface sample images missing: {missing}")
    return paths


@functools.lru_cache(maxsize=1)
def _sample_faces_cached() -> tuple[AlignedFace, ...]:
    paths = sample_image_paths()
    group = sorted(extract_faces(paths["t1"]), key=lambda f: f.face.bbox[0])
    group = [dataclasses.replace(f, index=i) for i, f in enumerate(group)]
    return tuple(group) + tuple(extract_faces(paths["Tom_Hanks_54745"], aligned=True))


def sample_faces(n: int | None = None) -> list[AlignedFace]:
    """Seven aligned faces: the 6 people of t1.jpg (left to right), then Tom Hanks.

    Args:
        n: return only the first ``n`` (all 7 when ``None`` or larger).
    Returns:
        AlignedFace list; images are (112, 112, 3) uint8 RGB in 0..255. Cached.
    Raises:
        InvalidArgumentError: ``n`` is not ``None`` or a non-negative int.
    """
    if n is not None and (not isinstance(n, (int, np.integer)) or n < 0):
        raise errors.InvalidArgumentError(f"n must be None or a non-negative int, got {n!r}")
    faces = list(_sample_faces_cached())
    return faces if n is None else faces[:n]


@functools.lru_cache(maxsize=4)
def _bbt_cached(root: str) -> tuple[tuple[str, tuple[AlignedFace, ...]], ...]:
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir())
    return tuple((d.name, _largest_faces(sorted(d.glob("*.png")))) for d in folders)


def _largest_faces(files: list[Path]) -> tuple[AlignedFace, ...]:
    """The largest aligned face of each file."""
    return tuple(extract_faces(f, faces="largest")[0] for f in files)


def bbt_faces() -> dict[str, list[AlignedFace]]:
    """The bbt set: 8 identities x 5 faces, detected (with padding) and aligned.

    Returns:
        ``{identity: [AlignedFace, ...]}`` sorted by name; images (112, 112, 3) uint8
        RGB (the source crops are greyscale, so R = G = B). Cached per folder.
    Raises:
        errors.DataNotFoundError: ``config.bbt_dir()`` is None (``PIXELFIQ_DATA``
            points to a folder without ``bbt/``).
    """
    root = config.bbt_dir()
    if root is None:
        raise errors.DataNotFoundError(
            "the bbt face set was not found: it ships in the repository's data/bbt; "
            "unset PIXELFIQ_DATA or point it to a folder that holds bbt/"
        )
    return {name: list(faces) for name, faces in _bbt_cached(str(root))}
