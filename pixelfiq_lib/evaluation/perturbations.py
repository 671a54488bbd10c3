"""Perturbations of aligned faces: seeded degradations, occluders and the paper's disturbances."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from .. import data
from ..data.checks import check_face
from ..errors import InvalidArgumentError
from ..evaluation.regions import region_masks

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ degradations
#: Parameter of each degradation at strength 1, 2, 3 (index strength - 1).
#: blur: Gaussian sigma (px of the 112x112 face); noise: std of additive Gaussian
#: noise (0..255 units, per channel); jpeg: JPEG quality (OpenCV, 0..100);
#: low_light: gain on the pixel values (then rounded, so dark faces also lose
#: levels); downscale: side (px) the face is reduced to (INTER_AREA) before it is
#: resized back (INTER_LINEAR); occluder: side (px) of a uniformly grey square of
#: random grey level, placed at a random position inside :data:`FACE_BOX`.
DEGRADATIONS: dict[str, tuple[float, ...]] = {
    "blur": (1.5, 3.0, 5.0),
    "noise": (12.0, 30.0, 60.0),
    "jpeg": (20.0, 8.0, 3.0),
    "low_light": (0.3, 0.12, 0.05),
    "downscale": (40.0, 20.0, 12.0),
    "occluder": (24.0, 40.0, 56.0),
}
STRENGTHS = (1, 2, 3)
#: The face area of an aligned 112x112 face, ``(x0, y0, x1, y1)`` (exclusive end):
#: the ArcFace template's landmark box widened by 12 px left/right, 20 px up (brows,
#: forehead) and 10 px down (chin).
FACE_BOX = (26, 32, 86, 102)


def _random_box(side: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A ``side`` x ``side`` box ``(x0, y0, x1, y1)`` at a random position inside FACE_BOX."""
    bx0, by0, bx1, by1 = FACE_BOX
    side = int(min(side, bx1 - bx0, by1 - by0))
    x0 = int(rng.integers(bx0, bx1 - side + 1))
    y0 = int(rng.integers(by0, by1 - side + 1))
    return x0, y0, x0 + side, y0 + side


def _jpeg(img: np.ndarray, quality: float) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]


def _down_and_up(img: np.ndarray, side: float) -> np.ndarray:
    small = cv2.resize(img, (int(side), int(side)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (112, 112), interpolation=cv2.INTER_LINEAR)


def blur(face: np.ndarray, sigma: float) -> np.ndarray:
    """A copy of ``face`` blurred by a Gaussian of standard deviation ``sigma`` px (0: none)."""
    return cv2.GaussianBlur(face, (0, 0), float(sigma)) if sigma > 0 else face.copy()


def add_noise(face: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``face`` plus Gaussian noise of ``sigma`` grey levels (0: none), clipped."""
    if sigma <= 0:
        return face.copy()
    return _clip_uint8(face + rng.normal(0.0, sigma, face.shape))


def centred_box(x: int, y: int, side: int) -> tuple[int, int, int, int]:
    """The box ``(x0, y0, x1, y1)`` of a square of ``side`` px centred at column x, row y."""
    top, left = int(y) - int(side) // 2, int(x) - int(side) // 2
    return left, top, left + int(side), top + int(side)


def fill_box(face: np.ndarray, box: tuple[int, int, int, int], value: int = 0) -> np.ndarray:
    """A copy of ``face`` with the box ``(x0, y0, x1, y1)`` set to grey ``value``.

    The box is clipped to the image (a negative start means 0, not "from the end").
    """
    out = face.copy()
    out[box_mask(box, out.shape[0])] = value
    return out


def _occlude(img: np.ndarray, side: float, rng: np.random.Generator) -> np.ndarray:
    grey = int(rng.integers(0, 256))
    return fill_box(img, _random_box(int(side), rng), grey)


def _clip_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


_DEGRADERS = {
    "blur": lambda img, p, rng: blur(img, p),
    "noise": lambda img, p, rng: add_noise(img, p, rng),
    "jpeg": lambda img, p, rng: _jpeg(img, p),
    "low_light": lambda img, p, rng: _clip_uint8(img * p),
    "downscale": lambda img, p, rng: _down_and_up(img, p),
    "occluder": _occlude,
}


def degradation_parameter(kind: str, strength: int) -> float:
    """The parameter of ``kind`` at ``strength`` (see :data:`DEGRADATIONS`)."""
    if kind not in DEGRADATIONS or strength not in STRENGTHS:
        raise InvalidArgumentError(
            f"kind must be one of {sorted(DEGRADATIONS)} and strength one of {STRENGTHS}; "
            f"got {kind!r}, {strength!r}"
        )
    return DEGRADATIONS[kind][strength - 1]


def degrade(face: np.ndarray, kind: str, strength: int, rng: np.random.Generator) -> np.ndarray:
    """A degraded copy of an aligned face.

    Args:
        face: (112, 112, 3) uint8 RGB in 0..255 (not modified).
        kind: a key of :data:`DEGRADATIONS` (blur, noise, jpeg, low_light, downscale,
            occluder).
        strength: 1, 2 or 3 (stronger = more degraded; parameters in
            :data:`DEGRADATIONS`).
        rng: source of randomness (noise values, occluder grey level and position); the
            same seed gives the same copy.
    Returns:
        (112, 112, 3) uint8 RGB in 0..255.
    Example:
        >>> blurred = degrade(face.image, "blur", 2, np.random.default_rng(0))
    Taught in: 04_paper_experiments.ipynb
    """
    param = degradation_parameter(kind, strength)
    out = _DEGRADERS[kind](check_face(face), param, rng)
    return np.ascontiguousarray(out, dtype=np.uint8)


def laplacian_variance(face: np.ndarray) -> float:
    """Sharpness: variance of the Laplacian of the grey face (higher = sharper).

    Args:
        face: (H, W, 3) uint8 RGB in 0..255.
    Returns:
        A non-negative float.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(face), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def yaw_proxy(landmarks: np.ndarray) -> float:
    """Head-turn proxy: offset of the nose tip from the eye midpoint along the eye line.

    Args:
        landmarks: (5, 2) (x, y) in ArcFace order, any image coordinates.
    Returns:
        The offset in inter-ocular distances (0 = frontal; about +-0.2 or more = turned).
    """
    lmk = np.asarray(landmarks, np.float64)
    axis = lmk[1] - lmk[0]
    return float(np.dot(lmk[2] - (lmk[0] + lmk[1]) / 2, axis) / max(np.dot(axis, axis), 1e-9))


# ------------------------------------------------------- the paper's experiments
SQUARE_SIDES = (10, 20, 30, 40, 50)
#: Disturbances drawn on aligned faces (see :func:`disturb`).
DISTURBANCES = ("sunglasses", "drawn_mask", "real_mask", "side_light", "blur")
MASK_TEXTURES = ("mask_black", "mask_blue", "mask_green", "mask_white")
#: Nose-to-chin polygon of a drawn mask, (x, y) px of the aligned face.
MASK_POLYGON = np.array([(18, 64), (94, 64), (90, 100), (56, 114), (22, 100)], np.int32)
#: Semi-axes (px) of each drawn sunglasses lens, centred on the template eye points.
LENS_AXES = (13, 9)
#: Horizontal gain ramp of the side light: image-left edge, image-right edge.
SIDE_LIGHT = (1.4, 0.15)
#: Faces with ``|yaw_proxy| >= TURNED_YAW`` count as head turns, below FRONTAL_YAW as frontal.
TURNED_YAW, FRONTAL_YAW = 0.2, 0.1


def box_mask(box: tuple[int, int, int, int], size: int = 112) -> np.ndarray:
    """(size, size) bool mask of the box ``(x0, y0, x1, y1)``, clipped to the image."""
    x0, y0, x1, y1 = (int(np.clip(v, 0, size)) for v in box)
    mask = np.zeros((size, size), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def face_mask() -> np.ndarray:
    """(112, 112) bool: the face ellipse of :func:`regions.region_masks` (template)."""
    return ~region_masks()["background"]


def sunglasses_region() -> np.ndarray:
    """(112, 112) bool: two lens ellipses at the template eye points and a 3 px bridge."""
    mask = np.zeros((112, 112), np.uint8)
    eyes = [tuple(int(round(v)) for v in p) for p in data.ARCFACE_TEMPLATE[:2]]
    for centre in eyes:
        cv2.ellipse(mask, centre, LENS_AXES, 0, 0, 360, 1, -1)
    cv2.line(mask, eyes[0], eyes[1], 1, 3)
    return mask.astype(bool)


def drawn_mask_region() -> np.ndarray:
    """(112, 112) bool: the nose-to-chin polygon :data:`MASK_POLYGON`."""
    mask = np.zeros((112, 112), np.uint8)
    cv2.fillPoly(mask, [MASK_POLYGON], 1)
    return mask.astype(bool)


def mask_textures() -> dict[str, np.ndarray]:
    """insightface's mask photos (textures of real face masks, no face in them), RGB uint8."""
    paths = data.sample_image_paths()
    return {name: data.load_image(paths[name]) for name in MASK_TEXTURES}


def paste_region(
    face: np.ndarray, region: np.ndarray, fill: np.ndarray | tuple[int, int, int]
) -> np.ndarray:
    """``face`` with ``region`` covered by an RGB colour, or by an RGB image stretched
    (INTER_AREA) over the region's bounding box and cut to the region."""
    out = face.copy()
    if not isinstance(fill, np.ndarray):
        out[region] = fill
        return out
    ys, xs = np.nonzero(region)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    canvas = np.zeros_like(face)
    canvas[y0:y1, x0:x1] = cv2.resize(
        fill, (int(x1 - x0), int(y1 - y0)), interpolation=cv2.INTER_AREA
    )
    out[region] = canvas[region]
    return out


def side_light(face: np.ndarray, ramp: tuple[float, float] = SIDE_LIGHT) -> np.ndarray:
    """Strong light from the image-left: pixel values times a horizontal gain ramp."""
    gain = np.linspace(ramp[0], ramp[1], face.shape[1])[None, :, None]
    return _clip_uint8(face * gain)


def disturbance_region(kind: str) -> np.ndarray:
    """(112, 112) bool region a disturbance acts on (compared in the maps)."""
    if kind == "sunglasses":
        return sunglasses_region()
    if kind in ("drawn_mask", "real_mask"):
        return drawn_mask_region()
    dark_half = np.zeros((112, 112), bool)
    dark_half[:, 56:] = True
    return face_mask() & (dark_half if kind == "side_light" else True)


def disturb(face: np.ndarray, kind: str, texture: np.ndarray | None = None) -> np.ndarray:
    """An ICAO-style disturbance drawn on an aligned face.

    Args:
        face: (112, 112, 3) uint8 RGB in 0..255.
        kind: ``"sunglasses"`` (near-black lenses, :data:`LENS_AXES`), ``"drawn_mask"``
            (light-blue :data:`MASK_POLYGON`), ``"real_mask"`` (``texture``, a mask photo,
            stretched over that polygon), ``"side_light"`` (:data:`SIDE_LIGHT` gain ramp)
            or ``"blur"`` (:func:`degrade` blur at strength 2, sigma 3 px).
        texture: RGB image for ``"real_mask"`` (see :func:`mask_textures`).
    Returns:
        (112, 112, 3) uint8 RGB.
    Taught in: 04_paper_experiments.ipynb
    """
    face = check_face(face)
    if kind == "side_light":
        return side_light(face)
    if kind == "blur":
        return degrade(face, "blur", 2, np.random.default_rng(0))
    fills = {"sunglasses": (12, 12, 12), "drawn_mask": (170, 200, 225), "real_mask": texture}
    if kind not in fills or (kind == "real_mask" and texture is None):
        raise InvalidArgumentError(
            f"kind must be one of {DISTURBANCES} (real_mask needs a texture); got {kind!r}"
        )
    return paste_region(face, disturbance_region(kind), fills[kind])
