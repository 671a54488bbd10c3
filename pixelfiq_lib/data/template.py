"""The ArcFace 112x112 alignment template, without OpenCV.

Regions, perturbations and plots need the template's landmark positions but not the
detector: this module lets them import it without loading ``cv2``.
"""

from __future__ import annotations

import numpy as np

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
