"""Is a network's quality stable enough to explain? The Monte-Carlo error of Q̂.

SER-FIQ's Q̂ is a Monte-Carlo estimate over T dropout passes; its standard error (the
``q_se`` of :class:`~.quality.QualityResult`) shrinks like 1/sqrt(T). A map of quality
can only be judged where a quality change is larger than that noise.

**Threshold** :data:`SE_THRESHOLD` = 0.036: the smallest mean occluder effect of the
localisation benchmark on SFace is a Q̂ change of about 0.10 (the face mask, -0.102 on
bbt's REPORT faces); for such a change between two images to stand out at the 95 % level
it must be 1.96 standard errors of a difference of two independent estimates:
0.10 / (1.96 sqrt 2) = 0.036.

:func:`quality_stability` raises T (100, 200, 400, up to :data:`~.constants.MAX_PASSES`)
on a network's body features, computed once, until the median standard error over the
faces is below the threshold. ``benchmarks/quality_stability.py`` records it for the
shipped networks on bbt's FIT faces (:data:`STABILITY_FILE`); ``pixelfiq models
--verbose`` and ``pixelfiq explain`` say when a network's maps cannot be judged.

Taught in: 01_quality_model.ipynb
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .constants import MAX_PASSES
from .quality import body_features, serfiq_from_features

if TYPE_CHECKING:
    from ..models.base import FRModel

#: Largest median standard error of Q̂ at which maps of a network are judged.
SE_THRESHOLD = 0.036
#: T values tried in turn.
PASS_STEPS = (100, 200, 400, MAX_PASSES)
#: Packaged result of ``benchmarks/quality_stability.py`` for the shipped networks.
STABILITY_FILE = Path(__file__).with_name("quality_stability.json")


@dataclass(frozen=True)
class StabilityCheck:
    """Median (and largest) standard error of Q̂ at each T tried, and the verdict.

    Attributes:
        model: the network's name.
        se_by_passes: ``{T: [median SE, max SE]}`` over the faces, for every T tried.
        n_passes: the first T whose median SE is at most ``threshold`` (``None``: none).
        judgeable: maps of this network can be judged (at ``n_passes``).
        threshold: the SE threshold used.
        n_faces: faces measured.
    """

    model: str
    se_by_passes: dict[int, list[float]]
    n_passes: int | None
    judgeable: bool
    threshold: float
    n_faces: int

    def note(self) -> str:
        """One plain sentence for users."""
        if self.judgeable:
            return (
                f"{self.model}: quality is stable enough to explain at T {self.n_passes} "
                f"(median Monte-Carlo SE of Q-hat {self.se_by_passes[self.n_passes][0]:.3f} "
                f"<= {self.threshold:g})"
            )
        t = max(self.se_by_passes)
        return (
            f"{self.model}: its maps cannot be judged: the Monte-Carlo standard error of "
            f"Q-hat is {self.se_by_passes[min(self.se_by_passes)][0]:.3f} at T "
            f"{min(self.se_by_passes)} and still {self.se_by_passes[t][0]:.3f} at T {t} "
            f"(needed: <= {self.threshold:g}); a map may show noise, not a quality change"
        )


def quality_stability(
    model: FRModel,
    images: torch.Tensor,
    *,
    threshold: float = SE_THRESHOLD,
    steps: tuple[int, ...] = PASS_STEPS,
    seed: int = 0,
) -> StabilityCheck:
    """Raise T until the median standard error of Q̂ over ``images`` is <= ``threshold``.

    Args:
        model: an :class:`FRModel`. images: (B, 3, 112, 112) float RGB 0..255 (typical,
            clean faces). steps: T values tried in turn. seed: the dropout masks.
    Returns:
        A :class:`StabilityCheck`; the body runs once, each T only the head.
    """
    with torch.no_grad():
        feat = body_features(model, images.to(model.device))
        se: dict[int, list[float]] = {}
        for t in steps:
            q_se = serfiq_from_features(model, feat, n_passes=t, seed=seed).q_se.float().cpu()
            se[int(t)] = [float(q_se.median()), float(q_se.max())]
            if se[int(t)][0] <= threshold:
                return StabilityCheck(model.name, se, int(t), True, threshold, len(feat))
    return StabilityCheck(model.name, se, None, False, threshold, len(feat))


@functools.lru_cache(maxsize=1)
def _packaged() -> dict:
    return json.loads(STABILITY_FILE.read_text()) if STABILITY_FILE.exists() else {}


def packaged_stability(model_name: str) -> StabilityCheck | None:
    """The recorded :class:`StabilityCheck` of a shipped network, or ``None``."""
    rec = _packaged().get("networks", {}).get(model_name)
    if rec is None:
        return None
    se = {int(k): v for k, v in rec["se_by_passes"].items()}
    return StabilityCheck(**{**rec, "se_by_passes": se})


def stability_record(check: StabilityCheck) -> dict:
    """A JSON-ready dict of a check (T keys as strings)."""
    rec = asdict(check)
    rec["se_by_passes"] = {str(k): v for k, v in check.se_by_passes.items()}
    return rec
