"""Every map method behind one name: the registry of :class:`~.map_record.MapSpec` records.

A map method is called as ``fn(model, images, **kwargs)`` on (B, 3, 112, 112) float32
RGB 0..255 and returns (B, H, W), higher = more useful pixel. Everything else the
library needs to know about one lives in its :class:`MapSpec`: what it answers, its
documented value range, its settings for the benchmarks and ``explain``
(:func:`map_settings`), whether it needs gradients, its cost class, how ``explain``'s
table shows it, and which method it is computed from when both are wanted. The
localisation and deletion benchmarks, the region references, ``explain --map`` and the
tests read :data:`MAP_SPECS`; adding a method is one record here (its function in its
own module) plus its tests, or :func:`register_map` from user code.

The record type is in :mod:`.map_record`; the functions live in :mod:`.map_methods` (the
paper's map, its variants, the controls, perturbation), :mod:`.counterfactual` and
:mod:`.baselines` (Captum, pytorch-grad-cam).
``"recommended"`` names :data:`RECOMMENDED_MAP` wherever a map name is accepted;
:func:`resolve_map_method` says which method that is, for the records.

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import torch

from ..errors import InvalidArgumentError
from .baselines import (
    gradcam_map,
    integrated_gradients_map,
    integrated_gradients_mean_face_map,
    occlusion_map,
    saliency_map,
)
from .counterfactual import (
    combine_prior,
    counterfactual_map,
    counterfactual_prior_map,
    deviation_map,
    smooth_maps,
)
from .counterfactual_gradient import counterfactual_gradient_map
from .faceqan import faceqan_map
from .grafiqs import bn_layers, grafiqs_map
from .map_defaults import (
    _counterfactual_defaults,
    _counterfactual_gradient_defaults,
    _faceqan_defaults,
    _gradient_defaults,
    _integrated_gradients_defaults,
    _occlusion_defaults,
    _perturbation_defaults,
    _seed_defaults,
)
from .map_methods import (
    SMOOTH_SIGMA,
    flatness,
    mean_face_deviation,
    perturbation_map,
    plq_map,
    plq_quality_gradient_map,
    plq_smooth_map,
    quality_gradient,
    quality_gradient_smooth,
    random_map,
)
from .map_record import RECOMMENDED, DerivedFrom, MapFn, MapSpec

if TYPE_CHECKING:
    from ..models.base import FRModel

#: The library's default map: the paper's PLQ map.
DEFAULT_MAP = "plq"
#: The map benchmarks/RESULTS.md recommends for "what lowered this face's quality?":
#: ahead of ``counterfactual`` on the FIT faces (mean and worst loc_auroc over the six
#: tuned occluder kinds) at about a sixth of its cost.
RECOMMENDED_MAP = "counterfactual_gradient"


def _smoothed(maps: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return smooth_maps(maps, SMOOTH_SIGMA)


def _with_prior(maps: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    # the deviation half on the default superpixels, as the benchmarks have always made
    # it; counterfactual_prior_map uses the given n_segments (equal at the defaults)
    return combine_prior(maps, deviation_map(images))


_SMOOTH = f"Gaussian blur, sigma {SMOOTH_SIGMA:g} px"
_T8 = {"n_passes": 8}
_CF_SMALL = {"n_passes": 4, "n_segments": (8,)}
_WINDOW_SMALL = {"window": 56, "stride": 28}

# ------------------------------------------------------------------ the registry
_GRAD = dict(cost_class="gradient", needs_gradients=True)
_SPECS = (
    MapSpec(
        name="plq",
        fn=plq_map,
        description="the paper's PLQ map",
        value_range=(0.0, 1.0),
        **_GRAD,
        defaults=_gradient_defaults,
        shown_as_rank=False,
        test_kwargs=_T8,
    ),
    MapSpec(
        name="plq_smooth",
        fn=plq_smooth_map,
        description="the paper's map, Gaussian-smoothed (sigma 4 px)",
        value_range=(0.0, 1.0),
        **_GRAD,
        defaults=_gradient_defaults,
        derived_from=DerivedFrom("plq", _smoothed, _SMOOTH),
        test_kwargs=_T8,
        tuned_on="black squares (sigma)",
    ),
    MapSpec(
        name="plq_quality_gradient",
        fn=plq_quality_gradient_map,
        description="PLQ value mapping of the gradient of Q-hat",
        value_range=(0.0, 1.0),
        **_GRAD,
        defaults=_gradient_defaults,
        test_kwargs=_T8,
    ),
    MapSpec(
        name="quality_gradient",
        fn=quality_gradient,
        description="|dQ-hat/dI| through fixed dropout masks",
        value_range=(0.0, None),
        **_GRAD,
        defaults=_gradient_defaults,
        test_kwargs=_T8,
    ),
    MapSpec(
        name="quality_gradient_smooth",
        fn=quality_gradient_smooth,
        description="the same, Gaussian-smoothed (sigma 4 px)",
        value_range=(0.0, 1.0),
        **_GRAD,
        defaults=_gradient_defaults,
        derived_from=DerivedFrom("plq_quality_gradient", _smoothed, _SMOOTH),
        test_kwargs=_T8,
        tuned_on="black squares (sigma)",
    ),
    MapSpec(
        name="counterfactual",
        fn=counterfactual_map,
        description="superpixel mean-face fill, ~175 forwards: where would a face-like "
        "patch raise quality?",
        value_range=(-1.0, 1.0),  # raw Q units
        cost_class="counterfactual",
        needs_gradients=False,
        defaults=_counterfactual_defaults,
        test_kwargs=_CF_SMALL,
        tuned_on="black squares, sunglasses (segments, compactness, T)",
    ),
    MapSpec(
        name="counterfactual_prior",
        fn=counterfactual_prior_map,
        description="counterfactual + model-free 'unlike the mean face' prior "
        "(not purely the network's quality)",
        value_range=(0.0, 1.0),
        cost_class="counterfactual",
        needs_gradients=False,
        defaults=_counterfactual_defaults,
        shown_as_rank=False,  # already a rank map
        derived_from=DerivedFrom(
            "counterfactual", _with_prior, "mean of its per-face ranks and mean_face_deviation's"
        ),
        test_kwargs=_CF_SMALL,
        tuned_on="black squares, sunglasses (segments, compactness, T, weights)",
    ),
    MapSpec(
        name="counterfactual_gradient",
        fn=counterfactual_gradient_map,
        description="25-segment mean-face counterfactual x smoothed quality gradient "
        "(geometric mean of ranks), ~26 forwards + 1 backward",
        value_range=(0.0, 1.0),
        cost_class="counterfactual",
        needs_gradients=True,
        defaults=_counterfactual_gradient_defaults,
        shown_as_rank=False,  # already a rank map
        test_kwargs={"n_passes": 4, "n_segments": (8,)},
        tuned_on="black, mean-colour, noise and blur squares, sunglasses, face mask "
        "(segments, T, combination)",
    ),
    MapSpec(
        name="mean_face_deviation",
        fn=mean_face_deviation,
        description="model-free control: unlike the mean face (no network)",
        value_range=(-255.0, 0.0),
        cost_class="control",
        needs_gradients=False,
        model_free=True,
        test_kwargs={"n_segments": (8,)},
    ),
    MapSpec(
        name="flatness",
        fn=flatness,
        description="model-free control: local detail |x - blur(x)| (no network)",
        value_range=(0.0, 255.0),
        cost_class="control",
        needs_gradients=False,
        model_free=True,
    ),
    MapSpec(
        name="random",
        fn=random_map,
        description="uniform noise (control)",
        value_range=(0.0, 1.0),
        cost_class="control",
        needs_gradients=False,
        defaults=_seed_defaults,
        model_free=True,
    ),
    MapSpec(
        name="perturbation",
        fn=perturbation_map,
        description="Q-hat drop when 16 px patches are blurred",
        value_range=(-1.0, 1.0),  # Q̂ units
        cost_class="perturbation",
        needs_gradients=False,
        defaults=_perturbation_defaults,
        test_kwargs={**_WINDOW_SMALL, **_T8},
    ),
    MapSpec(
        name="saliency",
        fn=saliency_map,
        description="Captum Saliency of the embedding cosine",
        value_range=(0.0, None),
        **_GRAD,
    ),
    MapSpec(
        name="integrated_gradients",
        fn=integrated_gradients_map,
        description="Captum Integrated Gradients of the cosine",
        value_range=(0.0, None),
        **_GRAD,
        defaults=_integrated_gradients_defaults,
        test_kwargs={"n_steps": 8},
    ),
    MapSpec(
        name="integrated_gradients_mean_face",
        fn=integrated_gradients_mean_face_map,
        description="Captum Integrated Gradients of the cosine from the matched mean face",
        value_range=(0.0, None),
        **_GRAD,
        defaults=_integrated_gradients_defaults,
        test_kwargs={"n_steps": 8},
    ),
    MapSpec(
        name="occlusion",
        fn=occlusion_map,
        description="Captum Occlusion of the cosine",
        value_range=(0.0, 2.0),  # 1 - cos
        cost_class="perturbation",
        needs_gradients=False,
        defaults=_occlusion_defaults,
        test_kwargs=_WINDOW_SMALL,
    ),
    MapSpec(
        name="gradcam",
        fn=gradcam_map,
        description="pytorch-grad-cam of the cosine",
        value_range=(0.0, 1.0),
        **_GRAD,
    ),
    MapSpec(
        name="grafiqs",
        fn=grafiqs_map,
        description="GraFIQs: -|dL/dI| of its BatchNorm-statistics loss (needs BatchNorm "
        "running statistics)",
        value_range=(None, 0.0),
        **_GRAD,
        requires=bn_layers,
    ),
    MapSpec(
        name="faceqan",
        fn=faceqan_map,
        description="FaceQAN: magnitude of the mean adversarial noise (grey levels)",
        value_range=(0.0, None),
        **_GRAD,
        defaults=_faceqan_defaults,
        test_kwargs={"steps": 1, "starts": 2},
    ),
)
#: The registry: every map method by name, in the order tables list them.
MAP_SPECS: dict[str, MapSpec] = {s.name: s for s in _SPECS}


def register_map(spec: MapSpec, *, replace: bool = False) -> MapSpec:
    """Add a map method to :data:`MAP_SPECS`; every benchmark and ``--map`` then know it.

    Raises:
        InvalidArgumentError: the name is taken (unless ``replace``), or ``derived_from``
            names an unknown base.
    """
    if spec.name in MAP_SPECS and not replace:
        raise InvalidArgumentError(f"map method {spec.name!r} is already registered")
    if spec.derived_from is not None and spec.derived_from.base not in MAP_SPECS:
        raise InvalidArgumentError(
            f"map {spec.name!r} is derived from unknown method {spec.derived_from.base!r}"
        )
    MAP_SPECS[spec.name] = spec
    return spec


def refused_maps(model: FRModel, methods: Iterable[str]) -> dict[str, str]:
    """``{method: reason}`` for the methods of ``methods`` that cannot run on ``model``
    (their :attr:`MapSpec.requires`, or their base's, raises MethodNotApplicableError)."""
    from ..errors import MethodNotApplicableError

    out = {}
    for name in methods:
        spec = map_spec(name)
        base = map_spec(spec.derived_from.base) if spec.derived_from else spec
        for check in {spec.requires, base.requires} - {None}:
            try:
                check(model)
            except MethodNotApplicableError as exc:
                out[resolve_map_method(name)] = str(exc)
    return out


def list_map_methods() -> list[str]:
    """The names of every registered map method (without the ``"recommended"`` alias)."""
    return list(MAP_SPECS)


def resolve_map_method(name: str) -> str:
    """The map method ``name`` stands for: ``"recommended"`` -> :data:`RECOMMENDED_MAP`.

    Raises:
        InvalidArgumentError: unknown name (the message lists the known ones).
    """
    name = RECOMMENDED_MAP if name == RECOMMENDED else name
    if name not in MAP_SPECS:
        known = ", ".join([*MAP_SPECS, f"{RECOMMENDED} (= {RECOMMENDED_MAP})"])
        raise InvalidArgumentError(f"unknown map method {name!r}; known: {known}")
    return name


def map_spec(name: str) -> MapSpec:
    """The :class:`MapSpec` of ``name`` (``"recommended"`` allowed)."""
    return MAP_SPECS[resolve_map_method(name)]


def map_settings(n_passes: int, seed: int, fast: bool = False) -> dict[str, dict]:
    """Every method's keyword arguments for the benchmarks and ``explain``, sized for a CPU.

    Perturbation and Occlusion use 16 px windows on a 16 px grid (28 px in ``fast``),
    Integrated Gradients 16 steps (4 in ``fast``); the counterfactual maps their
    defaults (T 50; in ``fast`` T 10 and two SLIC granularities); the rest their
    defaults with the run's T and seed. Methods without settings get ``{}``.
    """
    return {name: dict(s.defaults(n_passes, seed, fast)) for name, s in MAP_SPECS.items()}


def describe_map(name: str) -> str:
    """The method's description, marked ``(default)`` / ``(recommended)`` where it is."""
    name = resolve_map_method(name)
    marks = [m for m, n in (("default", DEFAULT_MAP), (RECOMMENDED, RECOMMENDED_MAP)) if n == name]
    return MAP_SPECS[name].description + "".join(f" ({m})" for m in marks)


class _RegistryView(Mapping):
    """A read-only, always current ``{name: value}`` view of :data:`MAP_SPECS`."""

    def __init__(self, value: Callable[[str], object]) -> None:
        self._value = value

    def __getitem__(self, name: str):
        if name not in MAP_SPECS:
            raise KeyError(name)
        return self._value(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(MAP_SPECS))

    def __len__(self) -> int:
        return len(MAP_SPECS)

    def __repr__(self) -> str:
        return repr(dict(self))


#: ``{name: fn}`` of every registered method (a view of :data:`MAP_SPECS`).
MAP_METHODS: Mapping[str, MapFn] = _RegistryView(lambda name: MAP_SPECS[name].fn)
#: ``{name: description}`` for ``--map`` help and the docs (a view of :data:`MAP_SPECS`).
MAP_DESCRIPTIONS: Mapping[str, str] = _RegistryView(describe_map)


def quality_map(
    model: FRModel, images: torch.Tensor, method: str = DEFAULT_MAP, **kwargs
) -> torch.Tensor:
    """One entry point for every map method: (B, H, W), higher = more useful pixel.

    Args:
        model: an :class:`FRModel`. images: (B, 3, 112, 112) float32 RGB 0..255.
        method: a name of :func:`list_map_methods` (``"plq"``, the paper's map, by
            default) or ``"recommended"`` (:data:`RECOMMENDED_MAP`,
            ``"counterfactual_gradient"``, the best measured quality map, see
            benchmarks/RESULTS.md).
        **kwargs: the method's own options (``n_passes``, ``seed``, ...); the
            benchmarks' are :func:`map_settings`.
    Returns:
        (B, H, W) float32 tensor; units differ between methods (``plq``: [0, 1); see
        :attr:`MapSpec.value_range`).
    Raises:
        InvalidArgumentError: unknown ``method``.
    Example:
        >>> quality_map(model, x, "recommended", seed=0).shape  # (B, 112, 112)
    Taught in: 05_evaluation_metrics.ipynb
    """
    return map_spec(method).fn(model, images, **kwargs)
