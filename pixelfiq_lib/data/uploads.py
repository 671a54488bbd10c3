"""Uploaded files -> aligned faces, for the explorer's upload button (no Jupyter needed).

Taught in: 06_interactive_explorer.ipynb
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import ImageLoadError, NoFaceError, PixelfiqError
from .alignment import extract_faces
from .io import load_image


def uploaded_files(value) -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` of every file in an ipywidgets ``FileUpload`` value.

    Args:
        value: the ``value`` of a ``FileUpload`` (ipywidgets 8: a tuple of dicts with
            ``"name"`` and ``"content"``; ipywidgets 7: a dict name -> dict), or bytes.
    Returns:
        A list in upload order; empty when nothing was uploaded (or the widget was
        cleared). Bare bytes get the name ``"<N bytes>"``.

    Taught in: 06_interactive_explorer.ipynb
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [(f"<{len(value)} bytes>", bytes(value))]
    items = list(value.values()) if isinstance(value, Mapping) else list(value or ())
    return [
        (
            str(item.get("name") or item.get("metadata", {}).get("name") or "upload"),
            bytes(item["content"]),
        )
        for item in items
    ]


def face_from_upload(upload, name: str | None = None) -> np.ndarray:
    """The largest face of an uploaded image, aligned to (112, 112, 3) uint8 RGB.

    Args:
        upload: the ``value`` of an ipywidgets ``FileUpload`` (the last file is used,
            and its name is used in messages), or the file's bytes.
        name: the file name used in error messages (default: the upload's own name,
            or ``"<N bytes>"`` for bare bytes).
    Returns:
        The aligned face. When no face is detected and the image is a square crop,
        it is taken as already aligned and resized to 112x112.
    Raises:
        ImageLoadError: nothing was uploaded or the file cannot be decoded.
        NoFaceError: no face in a non-square image.
        Every message starts with the file name.

    Taught in: 06_interactive_explorer.ipynb
    """
    files = uploaded_files(upload)
    if not files:
        raise ImageLoadError("no file was uploaded")
    own_name, blob = files[-1]
    name = name or own_name
    try:
        return _aligned_from_bytes(blob)
    except PixelfiqError as exc:
        text = str(exc).replace(f"<bytes, {len(blob)} bytes>", repr(name))
        raise type(exc)(text if repr(name) in text else f"{name!r}: {text}") from exc


def _aligned_from_bytes(blob: bytes) -> np.ndarray:
    try:
        return extract_faces(blob, faces="largest")[0].image
    except NoFaceError:
        h, w = load_image(blob).shape[:2]
        if max(h, w) > 1.1 * min(h, w):
            raise
        return extract_faces(blob, aligned=True)[0].image
