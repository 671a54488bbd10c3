"""Face recognition networks as torch modules split into a body and a head.

* :mod:`.base` — :class:`FRModel` (body up to the dropout site, head after it) and
  :class:`ModelInfo`, a shipped network described as data;
* :mod:`.sface`, :mod:`.mobilefacenet` — one file per shipped network;
* :mod:`.custom` — bring your own: ``from_onnx``, ``from_torch``;
* :mod:`.registry` — :data:`MODELS`, ``load_model``, ``fetch_model``, ``list_models``;
* :mod:`.cache`, :mod:`.onnx_graph` — checksums, downloads, the converted-model cache
  and ONNX graph surgery.

Taught in: 01_quality_model.ipynb, 07_bring_your_own_model.ipynb
"""

from __future__ import annotations

from .base import (  # noqa: F401
    FRModel,
    InputAdapter,
    ModelInfo,
    Unflatten,
)
from .cache import (  # noqa: F401
    file_digest,
    verify_file,
)
from .custom import (  # noqa: F401
    from_onnx,
    from_torch,
    split_module,
)
from .mobilefacenet import (  # noqa: F401
    MFN_FETCH,
    MFN_LAST_CONV,
    MFN_MEMBER,
    MFN_SPLIT,
    MFN_TFLITE_SHA256,
    MFN_TGZ_SHA1,
    MFN_URL,
    MOBILEFACENET,
    fetch_mobilefacenet,
    load_mobilefacenet,
    mobilefacenet_tflite,
)
from .onnx_graph import (  # noqa: F401
    prepare_onnx,
    split_onnx,
)
from .registry import (  # noqa: F401
    MODELS,
    fetch_model,
    list_models,
    load_model,
)
from .sface import (  # noqa: F401
    SFACE,
    SFACE_FILE,
    SFACE_REINSTALL,
    SFACE_SHA256,
    check_sface_file,
    load_sface,
    sface_onnx,
    sface_source,
)

__all__ = [
    "FRModel",
    "InputAdapter",
    "MFN_FETCH",
    "MFN_LAST_CONV",
    "MFN_MEMBER",
    "MFN_SPLIT",
    "MFN_TFLITE_SHA256",
    "MFN_TGZ_SHA1",
    "MFN_URL",
    "MOBILEFACENET",
    "MODELS",
    "ModelInfo",
    "SFACE",
    "SFACE_FILE",
    "SFACE_REINSTALL",
    "SFACE_SHA256",
    "Unflatten",
    "check_sface_file",
    "fetch_mobilefacenet",
    "fetch_model",
    "file_digest",
    "from_onnx",
    "from_torch",
    "list_models",
    "load_mobilefacenet",
    "load_model",
    "load_sface",
    "mobilefacenet_tflite",
    "prepare_onnx",
    "sface_onnx",
    "sface_source",
    "split_module",
    "split_onnx",
    "verify_file",
]
