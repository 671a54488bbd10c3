"""Output files of a batch run: safe names, atomic writes, per-face map and figure."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError
from ..files import atomic_write
from .inputs import MAX_STEM

#: Values of ``--figures``: a PNG per face, or the ``.npy`` maps only.
FIGURE_FORMATS = ("png", "none")


# ------------------------------------------------------------------------ output files
def output_stem(path: str | bytes | os.PathLike) -> str:
    """Safe, unique file-name stem for the outputs of one input (see the module doc).

    Example:
        >>> output_stem("../photos/Jürgen 1.jpg")  # 'Jurgen_1-<8 hex digits>'
    """
    raw = os.fsencode(path)
    stem = os.path.splitext(os.path.basename(raw.rstrip(b"/")))[0]
    text = unicodedata.normalize("NFKD", stem.decode("utf-8", "replace"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip("._-")[:MAX_STEM].rstrip("._-")
    digest = hashlib.sha256(os.path.abspath(raw)).hexdigest()[:8]
    return f"{safe or 'image'}-{digest}"


def safe_join(folder: str | os.PathLike, name: str) -> Path:
    """``folder / name`` after checking that ``name`` is one plain file name.

    Raises:
        InvalidArgumentError: ``name`` is empty, hidden, ``..``, holds a separator or
            NUL, or is longer than 255 bytes.
    """
    bad = (
        not name
        or name.startswith(".")
        or any(c in name for c in ("/", "\\", "\0"))
        or len(os.fsencode(name)) > 255
        or os.path.isabs(name)
    )
    if bad:
        raise InvalidArgumentError(f"unsafe output file name {name!r}")
    return Path(folder) / name


def write_face_files(
    folder: Path,
    stem: str,
    face_img: np.ndarray,
    plq: np.ndarray,
    quality: float,
    q_se: float,
    figures: str = "png",
    verdict: str | None = None,
) -> None:
    """Write ``<stem>.npy`` (float32 (112, 112) map in [0, 1]) and, with ``figures="png"``,
    ``<stem>.png``.

    The figure (aligned face | map | overlay, Q̂ on top) is composed with numpy and PIL
    (:mod:`pixelfiq_lib.batch.figures`): no matplotlib state, safe in threads.

    Args:
        folder: the output folder.
        stem: file stem from :func:`output_stem` plus ``_<k>``.
        face_img: (112, 112, 3) uint8 RGB aligned face.
        plq: (112, 112) map in [0, 1].
        quality, q_se: Q̂ and its Monte-Carlo error, printed on the figure.
        figures: ``"png"`` or ``"none"`` (the map alone).
        verdict: the region verdict sentence, printed under the panels when given.
    """
    from .figures import save_explanation_png

    if figures not in FIGURE_FORMATS:
        raise InvalidArgumentError(f"figures must be one of {FIGURE_FORMATS}, got {figures!r}")
    arr = np.clip(np.asarray(plq, dtype=np.float32), 0.0, 1.0)
    atomic_write(safe_join(folder, f"{stem}.npy"), lambda fh: np.save(fh, arr))
    if figures == "png":
        atomic_write(
            safe_join(folder, f"{stem}.png"),
            lambda fh: save_explanation_png(fh, face_img, arr, quality, q_se, verdict),
        )
