"""Face image quality methods behind one interface: SER-FIQ and its training-free peers.

Every method maps a batch of aligned faces to one score per face, **higher = better**, on
any network the library loads (unless its :class:`QualitySpec` names a requirement the
network lacks; then it refuses with :class:`~pixelfiq_lib.errors.MethodNotApplicableError`,
never a made-up score):

* ``serfiq`` — SER-FIQ (Terhörst et al., CVPR 2020), the raw Q this library explains;
* ``grafiqs`` — GraFIQs (Kolf, Damer, Boutros, CVPRW 2024): gradient magnitude of a
  BatchNorm-statistics loss;
* ``faceqan`` — FaceQAN (Babnik, Peer, Štruc, ICPR 2022): embedding stability under
  adversarial noise and mirroring;
* ``embedding_norm`` — the raw embedding's norm, MagFace's quality signal (Meng et al.,
  CVPR 2021) on MagFace-trained networks, a baseline elsewhere.

Scores of different methods have different units; compare them by ranking (EDC, rank
correlation), not by value. ``cost`` counts forward + backward passes of the whole network
per face (a forward alone counts :data:`FORWARD`), the unit ``pixelfiq bench`` measures.

Taught in: 09_compare_quality_methods.ipynb
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..core.faceqan import (
    PAPER_EPS,
    PAPER_EXPONENT,
    PAPER_STARTS,
    PAPER_STEPS,
    FaceQANResult,
    faceqan_map,
    faceqan_quality,
    faceqan_scores,
)
from ..core.grafiqs import (
    DEFAULT_GROUP,
    bn_statistics_loss,
    check_network,
    grafiqs_map,
    grafiqs_quality,
)
from ..errors import InvalidArgumentError
from .signals import embedding_norm, serfiq_raw_quality

if TYPE_CHECKING:
    from ..models.base import FRModel

#: A forward pass alone, in forward + backward equivalents (a backward costs about two
#: forwards for convolutional networks).
FORWARD = 1.0 / 3.0


@dataclass(frozen=True)
class QualitySpec:
    """One quality method of :data:`QUALITY_METHODS`.

    Attributes:
        name: the key (``--method NAME``).
        fn: ``fn(model, images, **kwargs) -> (B,) tensor``, higher = better.
        description: one line for ``--help`` and tables.
        reference: the paper.
        units: what the returned number measures.
        higher_is_better: direction of the paper's own signal; ``fn`` already returns a
            score where higher = better (negated where this is False).
        needs_gradients: runs backward passes (cannot run under ``torch.inference_mode``
            inside the method; it leaves autograd on for itself).
        requirements: what the network must have, in words (checked by ``check``).
        defaults: the method's settings and their defaults (the paper's where stated).
        cost: ``cost(**settings) -> float``: forward + backward equivalents per face.
        cost_formula: the same in words.
        check: ``check(model)`` raises MethodNotApplicableError when a requirement fails.
    """

    name: str
    fn: Callable[..., torch.Tensor] = field(repr=False)
    description: str
    reference: str
    units: str
    higher_is_better: bool
    needs_gradients: bool
    requirements: tuple[str, ...] = ()
    defaults: dict[str, object] = field(default_factory=dict)
    cost: Callable[..., float] = field(default=lambda **_: FORWARD, repr=False)
    cost_formula: str = "1 forward"
    check: Callable[[FRModel], object] = field(default=lambda model: None, repr=False)

    def settings(self, **kwargs) -> dict[str, object]:
        """The defaults updated by ``kwargs``; an unknown setting raises."""
        unknown = sorted(set(kwargs) - set(self.defaults))
        if unknown:
            known = ", ".join(self.defaults) or "none"
            raise InvalidArgumentError(
                f"{self.name} has no setting {', '.join(unknown)}; its settings: {known}"
            )
        return {**self.defaults, **kwargs}


def _faceqan_cost(*, steps: int = PAPER_STEPS, starts: int = PAPER_STARTS, **_) -> float:
    return steps * starts + (starts + 3) * FORWARD


def _serfiq_cost(*, n_passes: int = 100, **_) -> float:
    return FORWARD  # the T head passes are small next to the body (measured by bench)


QUALITY_METHODS: dict[str, QualitySpec] = {
    spec.name: spec
    for spec in (
        QualitySpec(
            "serfiq",
            serfiq_raw_quality,
            "SER-FIQ: agreement of T dropout subnetworks' embeddings (raw Q)",
            "Terhörst et al., CVPR 2020",
            "raw SER-FIQ Q in (0, 1]",
            higher_is_better=True,
            needs_gradients=False,
            requirements=("a head to apply dropout to (every FRModel)",),
            defaults={"n_passes": 100, "seed": 0},
            cost=_serfiq_cost,
            cost_formula="1 body forward + T head forwards",
        ),
        QualitySpec(
            "grafiqs",
            grafiqs_quality,
            "GraFIQs: gradient magnitude of the BatchNorm-statistics discrepancy (negated)",
            "Kolf, Damer, Boutros, CVPR Workshops 2024",
            "-sum |dL/d(phi)| (loss units per grey level for phi = image)",
            higher_is_better=False,
            needs_gradients=True,
            requirements=("BatchNorm2d layers with running statistics",),
            defaults={"group": DEFAULT_GROUP},
            cost=lambda **_: 1.0,
            cost_formula="1 forward + 1 backward",
            check=check_network,
        ),
        QualitySpec(
            "faceqan",
            faceqan_quality,
            "FaceQAN: embedding stability under adversarial noise and mirroring",
            "Babnik, Peer, Štruc, ICPR 2022",
            "((1 + mean cos) / 2 * (1 - std cos) * cos_flip) ** p, at most 1",
            higher_is_better=True,
            needs_gradients=True,
            requirements=("gradients w.r.t. the input (every FRModel)",),
            defaults={
                "eps": PAPER_EPS,
                "steps": PAPER_STEPS,
                "starts": PAPER_STARTS,
                "exponent": PAPER_EXPONENT,
                "seed": 0,
            },
            cost=_faceqan_cost,
            cost_formula="l * k forward+backward + (k + 3) forwards",
        ),
        QualitySpec(
            "embedding_norm",
            embedding_norm,
            "norm of the raw embedding (MagFace's quality signal; a baseline elsewhere)",
            "Meng et al., CVPR 2021 (MagFace)",
            "L2 norm of the embedding before normalisation",
            higher_is_better=True,
            needs_gradients=False,
            cost_formula="1 forward",
        ),
    )
}

#: Map methods the quality methods yield (registered with the map methods when the
#: map registry accepts external entries): ``name -> fn(model, images, **kw) -> (B, H, W)``.
FIQA_MAPS: dict[str, Callable[..., torch.Tensor]] = {
    "grafiqs": grafiqs_map,
    "faceqan": faceqan_map,
}


def list_quality_methods() -> list[str]:
    """Names of every quality method, in :data:`QUALITY_METHODS` order."""
    return list(QUALITY_METHODS)


def quality_spec(method: str) -> QualitySpec:
    """The :class:`QualitySpec` of ``method``.

    Raises:
        InvalidArgumentError: unknown method (the message lists the known ones).
    """
    if method not in QUALITY_METHODS:
        raise InvalidArgumentError(
            f"unknown quality method {method!r}; known: {', '.join(QUALITY_METHODS)}"
        )
    return QUALITY_METHODS[method]


def not_applicable(model: FRModel, method: str) -> str:
    """Why ``method`` cannot run on ``model`` (its :class:`QualitySpec`'s requirement), or
    ``""`` when it can.

    Raises:
        InvalidArgumentError: unknown method.
    """
    from ..errors import MethodNotApplicableError

    try:
        quality_spec(method).check(model)
    except MethodNotApplicableError as exc:
        return str(exc)
    return ""


def face_quality(
    model: FRModel, images: torch.Tensor, method: str = "serfiq", **kwargs
) -> np.ndarray:
    """One entry point for every quality method: one score per face, higher = better.

    Args:
        model: an :class:`FRModel`. images: (B, 3, 112, 112) float32 RGB 0..255.
        method: a name of :data:`QUALITY_METHODS`.
        **kwargs: the method's settings (``QUALITY_METHODS[method].defaults``).
    Returns:
        (B,) float64 numpy array; units per method (``QUALITY_METHODS[method].units``).
    Raises:
        InvalidArgumentError: unknown method or setting, or a setting out of range.
        MethodNotApplicableError: the network lacks what the method needs (GraFIQs
            without BatchNorm running statistics).
        InvalidImageError: images of the wrong shape, type or range.
    Example:
        >>> face_quality(model, x, "grafiqs")  # array([-0.8, -1.3, ...])
    Taught in: 09_compare_quality_methods.ipynb
    """
    spec = quality_spec(method)
    settings = spec.settings(**kwargs)
    spec.check(model)
    return spec.fn(model, images, **settings).detach().cpu().double().numpy()


__all__ = [
    "FIQA_MAPS",
    "FORWARD",
    "QUALITY_METHODS",
    "FaceQANResult",
    "QualitySpec",
    "bn_statistics_loss",
    "embedding_norm",
    "face_quality",
    "faceqan_map",
    "faceqan_scores",
    "grafiqs_map",
    "grafiqs_quality",
    "list_quality_methods",
    "not_applicable",
    "quality_spec",
]
