"""What the data functions return: a detected :class:`Face` and an :class:`AlignedFace`."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

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
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_DETECT_LOCK = threading.Lock()

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray


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
