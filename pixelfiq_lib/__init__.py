"""pixelfiq: pixel-level face image quality (PLQ) for explainable face recognition.

The method of Terhörst et al. (arXiv 2110.11001), built on SER-FIQ (CVPR 2020), for any
face recognition network in PyTorch:

1. :func:`serfiq_quality` — the model-specific quality Q̂ from dropout passes;
2. :func:`build_quality_regression` — the closed-form quality node M_Q(I);
3. :func:`pixel_quality_map` — its gradient w.r.t. the pixels, mapped to P(I) in [0, 1).

Layout: :mod:`.core` (the method, read first), :mod:`.models`, :mod:`.data`,
:mod:`.evaluation`, :mod:`.batch` (folders of photos: :func:`explain_folder`),
:mod:`.fiqa` (SER-FIQ beside its peer quality methods), :mod:`.viz`, :mod:`.widgets`,
:mod:`.config`, :mod:`.errors`, :mod:`.setup_check` (is this machine ready for the course?);
the ``pixelfiq`` command lives in :mod:`.cli`, which only parses and prints and which the
library never imports.

Names are imported on first use (PEP 562), so ``import pixelfiq_lib`` and the command
line start fast; ``pfl.pixel_quality_map`` and ``from pixelfiq_lib import ...`` work as usual.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "batch": (
        "BatchRun",
        "calibrate_quality_100",
        "explain_folder",
        "merge_tables",
        "quality_table",
    ),
    "core.backprop": (
        "PLQResult",
        "calibrate_a",
        "pixel_quality_map",
        "quality_gradient_map",
        "value_map",
    ),
    "core.calibration": ("calibrate_model", "fit_scaling"),
    "core.constants": ("PAPER_A", "PAPER_ALPHA", "PAPER_B", "PAPER_R"),
    "core.maps": (
        "RECOMMENDED_MAP",
        "list_map_methods",
        "map_settings",
        "map_spec",
        "quality_map",
        "register_map",
        "resolve_map_method",
    ),
    "core.quality": (
        "QualityResult",
        "SerfiqSettings",
        "scale_quality",
        "serfiq_quality",
    ),
    "core.regression": ("QualityNode", "QualityRegressionModel", "build_quality_regression"),
    "data": (
        "AlignedFace",
        "Face",
        "align_face",
        "bbt_faces",
        "detect_faces",
        "extract_faces",
        "load_image",
        "sample_faces",
        "sample_image_paths",
        "to_image",
        "to_tensor",
    ),
    "errors": (
        "EDCInputError",
        "FaceTooSmallError",
        "ImageLoadError",
        "InvalidArgumentError",
        "InvalidImageError",
        "MethodNotApplicableError",
        "ModelError",
        "NoFaceError",
        "PixelfiqError",
        "QualityNodeError",
        "UsageError",
    ),
    "fiqa": ("QualitySpec", "face_quality", "list_quality_methods"),
    "models": ("FRModel", "fetch_model", "from_onnx", "from_torch", "list_models", "load_model"),
}
#: Subpackages and modules reachable as ``pfl.<name>``; the flat names of earlier
#: versions (``pfl.quality``, ``pfl.backprop``, ...) point to their new homes.
_SUBMODULES = {
    "batch": "batch",
    "config": "config",
    "core": "core",
    "data": "data",
    "errors": "errors",
    "evaluation": "evaluation",
    "fiqa": "fiqa",
    "models": "models",
    "speed": "speed",
    "setup_check": "setup_check",
    "viz": "viz",
    "widgets": "widgets",
    "quality": "core.quality",
    "regression": "core.regression",
    "backprop": "core.backprop",
    "maps": "core.maps",
    "edc": "evaluation.edc",
    "faithfulness": "evaluation.faithfulness",
    "regions": "evaluation.regions",
}
_OWNER = {name: mod for mod, names in _EXPORTS.items() for name in names}

__all__ = sorted(_OWNER) + list(_SUBMODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{_SUBMODULES[name]}", __name__)
    if name in _OWNER:
        return getattr(importlib.import_module(f".{_OWNER[name]}", __name__), name)
    raise AttributeError(f"module 'pixelfiq_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
