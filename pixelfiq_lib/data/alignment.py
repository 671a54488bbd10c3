"""ArcFace 5-point alignment and face extraction (detect + align)."""

from __future__ import annotations

import logging
import warnings
from typing import Literal

import cv2
import numpy as np

from .. import errors
from .checks import check_rgb
from .detection import detect_faces, main_face
from .io import _label, load_image
from .template import ALIGNED_SIZE
from .types import MIN_FACE_SIZE, AlignedFace, ImageSource

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- alignment
def align_face(img_rgb: np.ndarray, landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
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

    img = check_rgb(img_rgb)
    if not isinstance(size, (int, np.integer)) or size <= 0 or size % ALIGNED_SIZE:
        raise errors.InvalidArgumentError(f"size must be a positive multiple of 112, got {size!r}")
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
            f"landmarks must be a finite (5, 2) array of pixel coordinates, got shape {lmk.shape}"
        )
    return lmk.astype(np.float32)


# ---------------------------------------------------------------------- face extraction
def extract_faces(
    source: ImageSource,
    *,
    aligned: bool = False,
    faces: Literal["all", "largest", "main"] = "all",
    min_face_size: float = MIN_FACE_SIZE,
) -> list[AlignedFace]:
    """Load an image and return its aligned 112x112 faces.

    Args:
        source: anything :func:`load_image` accepts.
        aligned: the input is already an aligned face crop; it is only resized to
            112x112 (``cv2.INTER_AREA``, as the official PLQ code does) and returned.
        faces: ``"all"`` faces (largest first), only the ``"largest"``, or only the
            ``"main"`` face, the photo's subject: largest box area minus twice the
            squared offset of its centre from the image centre (insightface's rule,
            :func:`~pixelfiq_lib.data.detection.main_face`); a single face keeps its
            index in the ``"all"`` order.
        min_face_size: faces with a box narrower than this (pixels) are skipped.
    Returns:
        AlignedFace list; each ``image`` is (112, 112, 3) uint8 RGB in 0..255.
    Raises:
        errors.ImageLoadError: the source cannot be read.
        errors.NoFaceError: no face detected.
        errors.FaceTooSmallError: every face is narrower than ``min_face_size``.
        errors.InvalidArgumentError: ``faces`` is not "all", "largest" or "main", or
            ``min_face_size`` is not a finite number >= 0.
    Example:
        >>> crops = extract_faces(sample_image_paths()["t1"])  # 6 AlignedFace
    """
    if faces not in ("all", "largest", "main"):
        raise errors.InvalidArgumentError(
            f'faces must be "all", "largest" or "main", got {faces!r}'
        )
    if not isinstance(min_face_size, (int, float)) or not 0 <= min_face_size < float("inf"):
        raise errors.InvalidArgumentError(
            f"min_face_size must be a finite number >= 0 (pixels), got {min_face_size!r}"
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
    if faces != "all":
        chosen = kept[0] if faces == "largest" else main_face(kept, img.shape)
        kept = [(kept.index(chosen), chosen)]
    else:
        kept = list(enumerate(kept))
    return [AlignedFace(_readonly(align_face(img, f.landmarks)), i, f, label) for i, f in kept]


def _resize_aligned(img: np.ndarray) -> np.ndarray:
    """An already aligned crop -> (112, 112, 3) uint8 RGB (INTER_AREA when resized)."""
    h, w = img.shape[:2]
    if (h, w) == (ALIGNED_SIZE, ALIGNED_SIZE):
        return img
    if max(h, w) > 1.1 * min(h, w):
        log.warning("aligned input of %dx%d is not square; it is stretched to 112x112", w, h)
    return cv2.resize(img, (ALIGNED_SIZE, ALIGNED_SIZE), interpolation=cv2.INTER_AREA)


def _readonly(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous read-only copy (shared safely through caches)."""
    out = np.array(arr, dtype=np.uint8, order="C", copy=True)
    out.setflags(write=False)
    return out
