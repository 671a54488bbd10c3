"""Decoding images from files, bytes, PIL images and arrays into (H, W, 3) uint8 RGB."""

from __future__ import annotations

import io
import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .. import errors
from .types import _ALPHA_MODES, MAX_PIXELS, ImageSource

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- loading
def load_image(source: ImageSource) -> np.ndarray:
    """Read an image from a path, bytes, a PIL image or a numpy array.

    Decoding uses Pillow and applies the EXIF orientation. Conversions: palette,
    grey (L, 1), CMYK, YCbCr -> RGB; 16-bit ("I;16", "I") -> 8 bit by /257; images
    with alpha (RGBA, LA, PA, palette transparency) are **composited on black**
    (``rgb * alpha / 255``; fully opaque images are unchanged).

    Arrays: (H, W), (H, W, 1), (H, W, 3) taken as **RGB** (not BGR), or (H, W, 4)
    RGBA, channels last. dtypes: uint8 as is; bool -> 0/255; uint16 -> /257;
    other integers must lie in 0..255; floats must be finite and either in [0, 1]
    (used when max <= 1, scaled by 255) or in [0, 255] (rounded).

    Args:
        source: file path (str or PathLike), encoded bytes, ``PIL.Image`` or array.
    Returns:
        (H, W, 3) uint8 RGB array in 0..255 (a new, writable array).
    Raises:
        errors.ImageLoadError: missing, empty, truncated or non-image file, more than
            :data:`MAX_PIXELS` pixels, or an array of unsupported shape, dtype or
            values.
    Example:
        >>> img = load_image(sample_image_paths()["t1"])  # (886, 1280, 3) uint8 RGB
    """
    label = _label(source)
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source, label)
    if isinstance(source, Image.Image):
        return _decode_pil(source, label)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise errors.ImageLoadError(f"cannot read {label}: no bytes")
        return _decode_file(io.BytesIO(bytes(source)), label)
    if isinstance(source, (str, os.PathLike)):
        return _decode_file(_checked_path(source, label), label)
    raise errors.ImageLoadError(
        f"cannot read {label}: expected a path, bytes, a PIL image or a numpy array "
        f"(for a model tensor use to_image)"
    )


def _label(source: object) -> str:
    """A short human-readable name of an image source, for messages."""
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)!s}'"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<bytes, {len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape} {source.dtype}>"
    if isinstance(source, Image.Image):
        name = getattr(source, "filename", "") or ""
        return repr(name) if name else f"<PIL image {source.mode} {source.size}>"
    return f"<{type(source).__name__}>"


def _checked_path(source: str | os.PathLike, label: str) -> Path:
    """The path as a Path, after checking it names a non-empty regular file."""
    try:
        path = Path(os.fspath(source))
        if not path.exists():
            raise errors.ImageLoadError(f"cannot read {label}: no such file")
        if path.is_dir():
            raise errors.ImageLoadError(f"cannot read {label}: it is a directory")
        if path.stat().st_size == 0:
            raise errors.ImageLoadError(f"cannot read {label}: the file is empty (0 bytes)")
    except errors.ImageLoadError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise errors.ImageLoadError(f"cannot read {label}: {exc}") from exc
    return path


def _decode_file(fp: Path | io.BytesIO, label: str) -> np.ndarray:
    """Open with Pillow (header only), check the pixel count, then decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as im:
                return _decode_pil(im, label)
    except errors.ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise errors.ImageLoadError(
            f"cannot read {label}: refused as a decompression bomb ({exc})"
        ) from exc
    except Exception as exc:  # Pillow raises many types for corrupt input
        raise errors.ImageLoadError(
            f"cannot read {label}: not a readable image ({type(exc).__name__}: {exc})"
        ) from exc


def _decode_pil(im: Image.Image, label: str) -> np.ndarray:
    """Check size, decode, apply EXIF orientation and convert to 8-bit RGB."""
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise errors.ImageLoadError(
            f"cannot read {label}: {w}x{h} = {w * h} pixels exceeds "
            f"MAX_PIXELS={MAX_PIXELS} "
            "(possible decompression bomb); downscale it first"
        )
    if w == 0 or h == 0:
        raise errors.ImageLoadError(f"cannot read {label}: empty image ({w}x{h})")
    try:
        im.load()
        im = _exif_upright(im, label)
        return _pil_to_rgb(im, label)
    except errors.ImageLoadError:
        raise
    except Exception as exc:  # truncated data, broken chunks, unsupported modes
        raise errors.ImageLoadError(
            f"cannot read {label}: decoding failed ({type(exc).__name__}: {exc})"
        ) from exc


def _exif_upright(im: Image.Image, label: str) -> Image.Image:
    """Apply the EXIF orientation tag; a broken EXIF block is logged and ignored."""
    try:
        return ImageOps.exif_transpose(im)
    # a broken EXIF block must not make a readable image fail
    except Exception as exc:  # noqa: BLE001
        log.warning("ignoring unreadable EXIF orientation of %s: %s", label, exc)
        return im


def _pil_to_rgb(im: Image.Image, label: str) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) uint8 RGB (alpha composited on black)."""
    mode = im.mode
    if mode.startswith("I"):  # 16-bit grey ("I;16*"; "I" is read as 16-bit too)
        arr = np.clip(np.asarray(im).astype(np.float64), 0, 65535)
        return _array_to_rgb(np.round(arr / 257.0).astype(np.uint8), label)
    if mode == "F":  # float grey: the float rule of load_image
        return _array_to_rgb(np.asarray(im), label)
    has_alpha = mode in _ALPHA_MODES or "transparency" in im.info
    arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    return _array_to_rgb(arr, label)


def _array_to_rgb(arr: np.ndarray, label: str) -> np.ndarray:
    """Validate an image array and return it as (H, W, 3) uint8 RGB (see load_image)."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        hint = (
            " (channels first? use arr.transpose(1, 2, 0))"
            if (arr.ndim == 3 and arr.shape[0] in (1, 3, 4))
            else ""
        )
        raise errors.ImageLoadError(
            f"cannot read {label}: expected shape (H, W), (H, W, 1), (H, W, 3) RGB or "
            f"(H, W, 4) RGBA, got {arr.shape}{hint}"
        )
    h, w = arr.shape[:2]
    if h == 0 or w == 0 or h * w > MAX_PIXELS:
        raise errors.ImageLoadError(
            f"cannot read {label}: {h}x{w} pixels is empty or exceeds MAX_PIXELS={MAX_PIXELS}"
        )
    arr8 = _to_uint8(arr, label)
    if arr8.shape[2] == 1:
        return np.repeat(arr8, 3, axis=2)
    if arr8.shape[2] == 4:
        alpha = arr8[:, :, 3:].astype(np.uint16)
        return ((arr8[:, :, :3].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    return np.array(arr8, dtype=np.uint8, order="C", copy=True)


def _to_uint8(arr: np.ndarray, label: str) -> np.ndarray:
    """Map an array's values to uint8 0..255 by the dtype rule of load_image."""
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return arr
    if kind == "b":
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        return np.round(arr / 257.0).astype(np.uint8)
    if kind in "ui":
        if arr.min() < 0 or arr.max() > 255:
            raise errors.ImageLoadError(
                f"cannot read {label}: {arr.dtype} values must lie in 0..255, got "
                f"{arr.min()}..{arr.max()}"
            )
        return arr.astype(np.uint8)
    if kind == "f":
        return _float_to_uint8(arr, label)
    raise errors.ImageLoadError(
        f"cannot read {label}: unsupported dtype {arr.dtype} (use uint8, uint16, bool, "
        "an integer type in 0..255 or a float type in [0, 1] or [0, 255])"
    )


def _float_to_uint8(arr: np.ndarray, label: str) -> np.ndarray:
    """Floats in [0, 1] (when max <= 1) or [0, 255] -> uint8; NaN, inf refused."""
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise errors.ImageLoadError(f"cannot read {label}: the array holds NaN or inf")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 255.0:
        raise errors.ImageLoadError(
            f"cannot read {label}: float values must lie in [0, 1] or [0, 255], got "
            f"[{lo:.4g}, {hi:.4g}] (undo any normalisation first)"
        )
    scale = 255.0 if hi <= 1.0 else 1.0
    return np.clip(np.round(arr * scale), 0, 255).astype(np.uint8)
