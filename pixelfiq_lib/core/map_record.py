"""What a map method is: the :class:`MapSpec` record that :mod:`.maps` registers.

One record per method holds everything the library needs to know about it besides its
function: what it answers, its documented value range, its cost class, whether it
needs gradients, its settings in the benchmarks and ``explain``, how ``explain`` shows
it, and the method it is a fixed transform of (:class:`DerivedFrom`).

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from ..errors import InvalidArgumentError
from .counterfactual import rank_map

MapFn = Callable[..., torch.Tensor]

#: The name that stands for :data:`.maps.RECOMMENDED_MAP` wherever a map name is accepted.
RECOMMENDED = "recommended"
#: What a map costs per face: backward passes, windowed forward passes, superpixel
#: forward passes (about 175), or no network at all / nothing.
COST_CLASSES = ("gradient", "perturbation", "counterfactual", "control")


@dataclass(frozen=True)
class DerivedFrom:
    """A method that is a fixed transform of another method's maps.

    Attributes:
        base: the method whose maps are transformed (with the base's own settings).
        transform: ``(base maps (B, H, W), images) -> (B, H, W)``.
        how: the transform in words.
    """

    base: str
    transform: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    how: str


def _no_settings(n_passes: int, seed: int, fast: bool) -> dict:
    return {}


@dataclass(frozen=True, eq=False)
class MapSpec:
    """One map method.

    Attributes:
        name: the name of ``--map`` and of the records.
        fn: ``fn(model, images, **kwargs) -> (B, H, W)``, higher = more useful.
        description: what the map answers, one line (``--map`` help, docs).
        value_range: documented ``(low, high)`` of the values; ``None`` = unbounded side.
        cost_class: one of :data:`COST_CLASSES`.
        needs_gradients: backpropagates through the network (not for forward-only
            networks).
        defaults: ``defaults(n_passes, seed, fast) -> kwargs``: the method's settings in
            the benchmarks and ``explain``, sized for a CPU (``fast``: smaller still).
        shown_as_rank: ``explain`` writes per-face ranks in (0, 1] (:meth:`as_shown`)
            rather than the raw map (raw: ``plq`` in [0, 1), ``counterfactual_prior``
            already a rank map).
        derived_from: the method and transform it equals when computed from its base
            (benchmarks computing both share the base's work); ``None`` otherwise.
        model_free: a control that ignores the network.
        test_kwargs: the smallest settings that still exercise the method on real faces
            (the contract tests run every method with them).
        tuned_on: the occluder kinds of the localisation benchmark its constants were
            chosen on (always on bbt's FIT faces); ``""`` = none (defaults, the paper's
            or the library's, fixed before any benchmark).
        requires: ``requires(model)`` raises
            :class:`~pixelfiq_lib.errors.MethodNotApplicableError` when the network lacks
            what the method needs (GraFIQs: BatchNorm running statistics); ``None``: any
            network. Benchmarks leave such a method out for that network and say so.
    """

    name: str
    fn: MapFn
    description: str
    value_range: tuple[float | None, float | None]
    cost_class: str
    needs_gradients: bool
    defaults: Callable[[int, int, bool], dict] = _no_settings
    shown_as_rank: bool = True
    derived_from: DerivedFrom | None = None
    model_free: bool = False
    test_kwargs: Mapping = field(default_factory=dict)
    tuned_on: str = ""
    requires: Callable[..., object] | None = None

    def __post_init__(self) -> None:
        if self.cost_class not in COST_CLASSES:
            raise InvalidArgumentError(
                f"map {self.name!r}: cost_class must be one of {COST_CLASSES}, "
                f"got {self.cost_class!r}"
            )
        if self.name == RECOMMENDED:
            raise InvalidArgumentError(f"{RECOMMENDED!r} is reserved for RECOMMENDED_MAP")

    def as_shown(self, maps: torch.Tensor) -> torch.Tensor:
        """The maps as ``explain`` writes them: per-face ranks, or raw (``shown_as_rank``)."""
        return rank_map(maps) if self.shown_as_rank else maps
