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
:func:`.quality.body_features`, the one "body once, then score" loop) and :mod:`.fills`.
The naive official-style path the benchmark compares against is
:mod:`pixelfiq_lib.evaluation.reference`.

:mod:`pixelfiq_lib.models` builds on :mod:`.constants` and :mod:`.scale100`; the steps
name :class:`~pixelfiq_lib.models.FRModel` only in annotations, so core/ never imports
models/ and this package imports its modules plainly.
"""

from __future__ import annotations

from .backprop import (  # noqa: F401
    PLQResult,
    aggregate_gradients,
    calibrate_a,
    pixel_quality_map,
    quality_gradient_map,
    resolve_a,
    value_map,
)
from .baselines import (  # noqa: F401
    RawEmbedding,
    SimilarityTarget,
    cam_layer,
    gradcam_map,
    integrated_gradients_map,
    occlusion_map,
    saliency_map,
    similarity,
    similarity_forward,
)
from .batching import (  # noqa: F401
    CPU_CHUNK,
    DEVICE_CHUNK,
    HEAVY_CPU_CHUNK,
    HEAVY_DEVICE_CHUNK,
    chunk_size,
)
from .calibration import (  # noqa: F401
    calibrate_model,
    fit_scaling,
)
from .constants import (  # noqa: F401
    MAX_PASSES,
    MAX_SEED,
    PAPER_A,
    PAPER_ALPHA,
    PAPER_B,
    PAPER_DROPOUT,
    PAPER_PASSES,
    PAPER_R,
)
from .counterfactual import (  # noqa: F401
    COMPACTNESS,
    COUNTERFACTUAL_PASSES,
    MATCH_BOX,
    MEAN_FACE_FILE,
    N_SEGMENTS,
    SEGMENT_AREA,
    combine_prior,
    counterfactual_map,
    counterfactual_prior_map,
    deviation_map,
    make_mean_face,
    matched_reference,
    mean_face,
    rank_map,
    raw_quality,
    smooth_maps,
    superpixel_segments,
)
from .fills import (  # noqa: F401
    FILLS,
    fill_images,
    gaussian_blur,
)
from .map_methods import (  # noqa: F401
    SMOOTH_SIGMA,
    inpaint_patches,
    mean_face_deviation,
    perturbation_map,
    plq_map,
    plq_quality_gradient_map,
    plq_smooth_map,
    quality_gradient,
    quality_gradient_smooth,
    random_map,
    window_masks,
)
from .map_record import COST_CLASSES, RECOMMENDED, DerivedFrom, MapFn, MapSpec  # noqa: F401
from .maps import (  # noqa: F401
    DEFAULT_MAP,
    MAP_DESCRIPTIONS,
    MAP_METHODS,
    MAP_SPECS,
    RECOMMENDED_MAP,
    describe_map,
    list_map_methods,
    map_settings,
    map_spec,
    quality_map,
    register_map,
    resolve_map_method,
)
from .quality import (  # noqa: F401
    MAX_CHUNK_ELEMENTS,
    QualityResult,
    SerfiqSettings,
    body_features,
    draw_seed,
    dropout_masks,
    mean_pairwise_distance,
    quality_from_distance,
    scale_quality,
    serfiq_from_features,
    serfiq_quality,
    stochastic_embeddings,
)
from .regression import (  # noqa: F401
    MIN_EMBEDDING_SUM,
    QualityNode,
    QualityRegressionModel,
    build_quality_regression,
    check_on_degenerate,
)
from .scale100 import (  # noqa: F401
    COVERAGE,
    PERCENTS,
    Q100_FITTED_ON,
    Q100_REPORTED_ON,
    SETTINGS_KIND,
    Quality100,
    fit_quality_100,
    format_percentiles,
    percentile_table,
)
from .scoring import (  # noqa: F401
    score_images,
    unit_embeddings,
)
from .validation import (  # noqa: F401
    check_passes,
    check_seed,
    finite,
    positive,
)

__all__ = [
    "COST_CLASSES",
    "RECOMMENDED",
    "DerivedFrom",
    "MapSpec",
    "DEFAULT_MAP",
    "MAP_SPECS",
    "RECOMMENDED_MAP",
    "describe_map",
    "list_map_methods",
    "map_settings",
    "map_spec",
    "register_map",
    "resolve_map_method",
    "COMPACTNESS",
    "COUNTERFACTUAL_PASSES",
    "COVERAGE",
    "CPU_CHUNK",
    "DEVICE_CHUNK",
    "FILLS",
    "HEAVY_CPU_CHUNK",
    "HEAVY_DEVICE_CHUNK",
    "MAP_DESCRIPTIONS",
    "MAP_METHODS",
    "MATCH_BOX",
    "MAX_CHUNK_ELEMENTS",
    "MAX_PASSES",
    "MAX_SEED",
    "MEAN_FACE_FILE",
    "MIN_EMBEDDING_SUM",
    "MapFn",
    "N_SEGMENTS",
    "PAPER_A",
    "PAPER_ALPHA",
    "PAPER_B",
    "PAPER_DROPOUT",
    "PAPER_PASSES",
    "PAPER_R",
    "PERCENTS",
    "PLQResult",
    "Q100_FITTED_ON",
    "Q100_REPORTED_ON",
    "Quality100",
    "QualityNode",
    "QualityRegressionModel",
    "QualityResult",
    "RawEmbedding",
    "SEGMENT_AREA",
    "SETTINGS_KIND",
    "SMOOTH_SIGMA",
    "SerfiqSettings",
    "SimilarityTarget",
    "aggregate_gradients",
    "body_features",
    "build_quality_regression",
    "calibrate_a",
    "calibrate_model",
    "cam_layer",
    "check_on_degenerate",
    "check_passes",
    "check_seed",
    "chunk_size",
    "combine_prior",
    "counterfactual_map",
    "counterfactual_prior_map",
    "deviation_map",
    "draw_seed",
    "dropout_masks",
    "fill_images",
    "finite",
    "fit_quality_100",
    "fit_scaling",
    "format_percentiles",
    "gaussian_blur",
    "gradcam_map",
    "inpaint_patches",
    "integrated_gradients_map",
    "make_mean_face",
    "matched_reference",
    "mean_face",
    "mean_face_deviation",
    "mean_pairwise_distance",
    "occlusion_map",
    "percentile_table",
    "perturbation_map",
    "pixel_quality_map",
    "plq_map",
    "plq_quality_gradient_map",
    "plq_smooth_map",
    "positive",
    "quality_from_distance",
    "quality_gradient",
    "quality_gradient_map",
    "quality_gradient_smooth",
    "quality_map",
    "random_map",
    "rank_map",
    "raw_quality",
    "resolve_a",
    "saliency_map",
    "scale_quality",
    "score_images",
    "serfiq_from_features",
    "serfiq_quality",
    "similarity",
    "similarity_forward",
    "smooth_maps",
    "stochastic_embeddings",
    "superpixel_segments",
    "unit_embeddings",
    "value_map",
    "window_masks",
]
