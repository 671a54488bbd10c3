"""The method, one module per step; read them in this order:

1. :mod:`.constants` — the paper's and the official code's constants;
2. :mod:`.quality` — SER-FIQ: dropout passes, Q, Q̂ and its standard error (notebook 01);
3. :mod:`.regression` — the closed-form quality node M_Q(I) (notebook 02);
4. :mod:`.backprop` — its gradient w.r.t. the pixels, mapped to P(I) (notebook 03);
5. :mod:`.maps` — every map method behind one interface (plq, quality gradient,
   perturbation; Captum and Grad-CAM baselines in :mod:`.baselines`);

then the helpers they share: :mod:`.scoring` (the one body-then-score loop and the
chunking policy), :mod:`.fills`, and :mod:`.reference` (the naive official-style path
the benchmark compares against).

Names are imported on first use: :mod:`pixelfiq_lib.models` needs the constants while
the steps need :class:`~pixelfiq_lib.models.FRModel`, so nothing is imported eagerly.
"""

from __future__ import annotations

import importlib

_OWNER: dict[str, str] = {
    **dict.fromkeys(
        (
            "PLQResult",
            "aggregate_gradients",
            "calibrate_a",
            "calibrate_model",
            "pixel_quality_map",
            "quality_gradient_map",
            "resolve_a",
            "value_map",
        ),
        "backprop",
    ),
    **dict.fromkeys(
        (
            "RawEmbedding",
            "SimilarityTarget",
            "cam_layer",
            "gradcam_map",
            "integrated_gradients_map",
            "occlusion_map",
            "saliency_map",
            "similarity",
            "similarity_forward",
        ),
        "baselines",
    ),
    **dict.fromkeys(
        (
            "PAPER_A",
            "PAPER_ALPHA",
            "PAPER_B",
            "PAPER_DROPOUT",
            "PAPER_PASSES",
            "PAPER_R",
        ),
        "constants",
    ),
    **dict.fromkeys(("FILLS", "fill_images", "gaussian_blur"), "fills"),
    **dict.fromkeys(
        (
            "MAP_METHODS",
            "MapFn",
            "inpaint_patches",
            "perturbation_map",
            "plq_map",
            "plq_quality_gradient_map",
            "random_map",
            "window_masks",
        ),
        "maps",
    ),
    **dict.fromkeys(
        (
            "CPU_CHUNK",
            "MAX_CHUNK_ELEMENTS",
            "QualityResult",
            "check_images",
            "default_chunk_size",
            "draw_seed",
            "dropout_masks",
            "fit_scaling",
            "mean_pairwise_distance",
            "quality_from_distance",
            "scale_quality",
            "serfiq_from_features",
            "serfiq_quality",
            "stochastic_embeddings",
        ),
        "quality",
    ),
    **dict.fromkeys(("naive_pixel_quality_map",), "reference"),
    **dict.fromkeys(
        (
            "MIN_EMBEDDING_SUM",
            "QualityNode",
            "QualityRegressionModel",
            "build_quality_regression",
        ),
        "regression",
    ),
    **dict.fromkeys(("default_chunk", "score_images", "unit_embeddings"), "scoring"),
}

__all__ = sorted(_OWNER)


def __getattr__(name: str):
    if name in _OWNER:
        return getattr(importlib.import_module(f".{_OWNER[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
