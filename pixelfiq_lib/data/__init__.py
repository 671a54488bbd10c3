"""Images in, aligned faces out.

Conventions used by every function here and by the rest of the library:

* a decoded image is an ``(H, W, 3)`` ``uint8`` **RGB** array in 0..255;
* an aligned face is a ``(112, 112, 3)`` ``uint8`` **RGB** array in 0..255, warped
  onto the ArcFace 5-point template (:data:`ARCFACE_TEMPLATE`);
* a model input is a ``(B, 3, 112, 112)`` ``float32`` **RGB** tensor in 0..255, NCHW.

Modules: :mod:`.io` (decoding), :mod:`.detection` (YuNet), :mod:`.alignment`
(alignment and face extraction), :mod:`.tensors`, :mod:`.samples` (the course's faces),
:mod:`.checks` (every image and tensor check, one exception: ``InvalidImageError``),
:mod:`.template` (the template, without OpenCV), :mod:`.types`.

Taught in: 01_quality_model.ipynb
"""

from __future__ import annotations

from .alignment import (  # noqa: F401
    align_face,
    extract_faces,
)
from .checks import (  # noqa: F401
    check_face,
    check_images,
    check_rgb,
)
from .detection import (  # noqa: F401
    detect_faces,
    main_face,
)
from .io import (  # noqa: F401
    load_image,
)
from .samples import (  # noqa: F401
    bbt_faces,
    sample_faces,
    sample_image_paths,
)
from .template import (  # noqa: F401
    ALIGNED_SIZE,
    ARCFACE_TEMPLATE,
)
from .tensors import (  # noqa: F401
    to_image,
    to_tensor,
)
from .types import (  # noqa: F401
    DETECT_MAX_SIDE,
    MAX_PIXELS,
    MIN_FACE_SIZE,
    PAD_FRACTION,
    AlignedFace,
    Face,
    ImageSource,
)

__all__ = [
    "ALIGNED_SIZE",
    "ARCFACE_TEMPLATE",
    "AlignedFace",
    "DETECT_MAX_SIDE",
    "Face",
    "ImageSource",
    "MAX_PIXELS",
    "MIN_FACE_SIZE",
    "PAD_FRACTION",
    "align_face",
    "bbt_faces",
    "check_face",
    "check_images",
    "check_rgb",
    "detect_faces",
    "extract_faces",
    "load_image",
    "main_face",
    "sample_faces",
    "sample_image_paths",
    "to_image",
    "to_tensor",
]
