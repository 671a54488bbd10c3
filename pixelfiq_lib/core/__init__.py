"""The method, one module per step; read them in this order:

1. :mod:`.constants` — the paper's and the official code's constants;
2. :mod:`.quality` — SER-FIQ: dropout passes, Q, Q̂ and its standard error (notebook 01);
3. :mod:`.regression` — the closed-form quality node M_Q(I) (notebook 02);
4. :mod:`.backprop` — its gradient w.r.t. the pixels, mapped to P(I) (notebook 03);
5. :mod:`.maps` — every map method behind one interface, :func:`.maps.quality_map`, one
   :class:`.map_record.MapSpec` record each (plq, quality gradient, perturbation in
   :mod:`.map_methods`, the counterfactual maps of :mod:`.counterfactual`; Captum and
   Grad-CAM baselines in :mod:`.baselines`);

then the helpers they share: :mod:`.batching` (the one chunking policy),
:mod:`.scoring` (embeddings and Q̂ of image batches, built on
:func:`.quality.body_features`, the one "body once, then score" loop), :mod:`.fills`,
and :mod:`.reference` (the naive official-style path the benchmark compares against).

Names are imported on first use: :mod:`pixelfiq_lib.models` needs the constants while
the steps need :class:`~pixelfiq_lib.models.FRModel`, so nothing is imported eagerly.
"""

from __future__ import annotations

import importlib

_OWNER: dict[str, str] = {
    **dict.fromkeys(
        (
            "PAPER_ALPHA",
            "PAPER_R",
            "PAPER_A",
            "PAPER_B",
            "PAPER_PASSES",
            "PAPER_DROPOUT",
            "MAX_PASSES",
            "MAX_SEED",
        ),
        "constants",
    ),
    **dict.fromkeys(("check_passes", "check_seed", "finite", "positive"), "validation"),
    **dict.fromkeys(
        ("CPU_CHUNK", "DEVICE_CHUNK", "HEAVY_CPU_CHUNK", "HEAVY_DEVICE_CHUNK", "chunk_size"),
        "batching",
    ),
    **dict.fromkeys(
        (
            "MAX_CHUNK_ELEMENTS",
            "SerfiqSettings",
            "QualityResult",
            "scale_quality",
            "draw_seed",
            "dropout_masks",
            "stochastic_embeddings",
            "mean_pairwise_distance",
            "quality_from_distance",
            "serfiq_from_features",
            "serfiq_quality",
            "body_features",
        ),
        "quality",
    ),
    **dict.fromkeys(
        (
            "MIN_EMBEDDING_SUM",
            "check_on_degenerate",
            "QualityNode",
            "QualityRegressionModel",
            "build_quality_regression",
        ),
        "regression",
    ),
    **dict.fromkeys(
        (
            "PLQResult",
            "aggregate_gradients",
            "value_map",
            "calibrate_a",
            "resolve_a",
            "pixel_quality_map",
            "quality_gradient_map",
        ),
        "backprop",
    ),
    **dict.fromkeys(("fit_scaling", "calibrate_model"), "calibration"),
    **dict.fromkeys(
        (
            "PERCENTS",
            "COVERAGE",
            "Q100_FITTED_ON",
            "Q100_REPORTED_ON",
            "SETTINGS_KIND",
            "Quality100",
            "fit_quality_100",
            "percentile_table",
            "format_percentiles",
        ),
        "scale100",
    ),
    **dict.fromkeys(("unit_embeddings", "score_images"), "scoring"),
    **dict.fromkeys(("FILLS", "gaussian_blur", "fill_images"), "fills"),
    **dict.fromkeys(
        (
            "plq_map",
            "plq_quality_gradient_map",
            "SMOOTH_SIGMA",
            "plq_smooth_map",
            "quality_gradient",
            "quality_gradient_smooth",
            "mean_face_deviation",
            "random_map",
            "window_masks",
            "inpaint_patches",
            "perturbation_map",
        ),
        "map_methods",
    ),
    **dict.fromkeys(
        ("MapFn", "RECOMMENDED", "COST_CLASSES", "DerivedFrom", "MapSpec"), "map_record"
    ),
    **dict.fromkeys(
        (
            "DEFAULT_MAP",
            "RECOMMENDED_MAP",
            "MAP_SPECS",
            "MAP_METHODS",
            "MAP_DESCRIPTIONS",
            "register_map",
            "list_map_methods",
            "resolve_map_method",
            "map_spec",
            "map_settings",
            "describe_map",
            "quality_map",
        ),
        "maps",
    ),
    **dict.fromkeys(
        (
            "MEAN_FACE_FILE",
            "SEGMENT_AREA",
            "MATCH_BOX",
            "N_SEGMENTS",
            "COMPACTNESS",
            "COUNTERFACTUAL_PASSES",
            "mean_face",
            "make_mean_face",
            "matched_reference",
            "superpixel_segments",
            "raw_quality",
            "counterfactual_map",
            "deviation_map",
            "rank_map",
            "combine_prior",
            "counterfactual_prior_map",
            "smooth_maps",
        ),
        "counterfactual",
    ),
    **dict.fromkeys(
        (
            "RawEmbedding",
            "similarity",
            "similarity_forward",
            "saliency_map",
            "integrated_gradients_map",
            "occlusion_map",
            "cam_layer",
            "SimilarityTarget",
            "gradcam_map",
        ),
        "baselines",
    ),
    **dict.fromkeys(("naive_pixel_quality_map",), "reference"),
}

__all__ = sorted(_OWNER)


def __getattr__(name: str):
    if name in _OWNER:
        return getattr(importlib.import_module(f".{_OWNER[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
