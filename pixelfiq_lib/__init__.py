"""pixelfiq: pixel-level face image quality (PLQ) for explainable face recognition.

The method of Terhörst et al. (arXiv 2110.11001), built on SER-FIQ (CVPR 2020), for any
face recognition network in PyTorch:

1. :func:`serfiq_quality` — the model-specific quality Q̂ from dropout passes;
2. :func:`build_quality_regression` — the closed-form quality node M_Q(I);
3. :func:`pixel_quality_map` — its gradient w.r.t. the pixels, mapped to P(I) in [0, 1).
"""
from __future__ import annotations

from . import backprop, config, data, edc, models, quality, regression, viz
from .backprop import (
    PLQResult,
    calibrate_a,
    calibrate_model,
    pixel_quality_map,
    quality_gradient_map,
    value_map,
)
from .data import (
    AlignedFace,
    Face,
    align_face,
    bbt_faces,
    detect_faces,
    extract_faces,
    load_image,
    paper_faces,
    sample_faces,
    sample_image_paths,
    to_image,
    to_tensor,
)
from .errors import (
    FaceTooSmallError,
    ImageLoadError,
    ModelError,
    NoFaceError,
    PixelfiqError,
    QualityNodeError,
)
from .models import FRModel, fetch_model, from_onnx, from_torch, list_models, load_model
from .quality import QualityResult, fit_scaling, scale_quality, serfiq_quality
from .regression import QualityNode, QualityRegressionModel, build_quality_regression

__version__ = "0.1.0"

__all__ = [
    "AlignedFace",
    "Face",
    "align_face",
    "backprop",
    "bbt_faces",
    "calibrate_model",
    "data",
    "detect_faces",
    "edc",
    "extract_faces",
    "fetch_model",
    "from_onnx",
    "from_torch",
    "list_models",
    "load_image",
    "load_model",
    "models",
    "paper_faces",
    "quality",
    "regression",
    "sample_faces",
    "sample_image_paths",
    "to_image",
    "to_tensor",
    "viz",
    "FRModel",
    "FaceTooSmallError",
    "ImageLoadError",
    "ModelError",
    "NoFaceError",
    "PLQResult",
    "PixelfiqError",
    "QualityNode",
    "QualityNodeError",
    "QualityRegressionModel",
    "QualityResult",
    "build_quality_regression",
    "calibrate_a",
    "config",
    "fit_scaling",
    "pixel_quality_map",
    "quality_gradient_map",
    "scale_quality",
    "serfiq_quality",
    "value_map",
    "__version__",
]
