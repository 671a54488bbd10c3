"""Settings of ``pixelfiq evaluate`` (:func:`evaluation_config`): sizes, stages and budgets.

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

from ..errors import InvalidArgumentError
from .localisation_stage import parse_loc_methods

#: The parts of an evaluation, in the order they run per network: ``edc`` (verification,
#: the EDC of the built-in qualities and the quality-method comparison with bootstrap
#: CIs), ``paper`` (the paper's experiments), ``faithfulness`` (deletion/insertion
#: curves), ``localisation`` (occluder localisation, map costs, region verdicts).
STAGES = ("edc", "paper", "faithfulness", "localisation")

#: Defaults of the size options, normal and with ``--fast``.
EVALUATION_DEFAULTS = {
    "passes": 100,
    "copies": 3,
    "paper_faces": 12,
    "faith_faces": 4,
    "faith_steps": 8,
    "loc_faces": 4,
    "faceqan_starts": 10,
}
FAST_EVALUATION_DEFAULTS = {
    "passes": 20,
    "copies": 1,
    "paper_faces": 3,
    "faith_faces": 2,
    "faith_steps": 4,
    "loc_faces": 2,
    "faceqan_starts": 2,
}
#: Square sizes of the localisation benchmark, normal and ``--fast`` (a GPU run
#: should pass ``--loc-sizes 20,30,40,50``).
LOC_SIZES, FAST_LOC_SIZES = (40,), (40,)


def evaluation_config(
    *,
    fast: bool = False,
    seed: int = 0,
    max_pairs: int = 200_000,
    loc_sizes: str | tuple[int, ...] | None = None,
    stages: str | tuple[str, ...] | None = None,
    loc_methods: str | list[str] | None = None,
    **sizes: int | None,
) -> dict:
    """Validated keyword arguments of :func:`~.run.run_evaluation` from user settings.

    ``sizes`` are ``passes``, ``copies``, ``paper_faces``, ``faith_faces``,
    ``faith_steps``, ``loc_faces`` and ``faceqan_starts`` (FaceQAN's random starts k in the
    quality-method comparison; the paper's 10 by default); ``None`` takes
    :data:`EVALUATION_DEFAULTS` (:data:`FAST_EVALUATION_DEFAULTS` with ``fast``);
    ``loc_sizes`` may be "30,40";
    ``stages`` names the parts to run (:data:`STAGES`, e.g. "edc" or "edc,paper"; all by
    default); ``loc_methods`` "a,b" picks the map methods of the localisation and the
    deletion curves (map names, ``recommended`` allowed; ``None`` = every one).

    Raises:
        InvalidArgumentError: a size below its minimum, bad ``loc_sizes``, a seed < 0 or
            ``max_pairs`` < 1 (every problem in one message, named by its option).
    """
    base = FAST_EVALUATION_DEFAULTS if fast else EVALUATION_DEFAULTS
    unknown = set(sizes) - set(base)
    if unknown:
        raise InvalidArgumentError(f"unknown evaluation settings: {', '.join(sorted(unknown))}")
    cfg = {k: base[k] if sizes.get(k) is None else int(sizes[k]) for k in base}
    low = {
        "passes": 2,
        "copies": 0,
        "paper_faces": 1,
        "faith_faces": 0,
        "faith_steps": 1,
        "loc_faces": 0,
        "faceqan_starts": 1,
    }
    bad = [f"--{k.replace('_', '-')} must be at least {v}" for k, v in low.items() if cfg[k] < v]
    sides = FAST_LOC_SIZES if fast else LOC_SIZES
    if loc_sizes is not None:
        try:
            sides = (
                tuple(int(v) for v in str(loc_sizes).split(",") if v.strip())
                if isinstance(loc_sizes, str)
                else tuple(int(v) for v in loc_sizes)
            )
        except ValueError:
            sides = ()
        if not sides or any(not 20 <= v <= 50 for v in sides):
            bad.append("--loc-sizes must be comma-separated sides between 20 and 50")
    chosen = STAGES if stages is None else _stages(stages)
    if not chosen:
        bad.append(f"--stages must name some of {', '.join(STAGES)}")
    try:
        methods = parse_loc_methods(loc_methods)
    except InvalidArgumentError as exc:
        methods = None
        bad.append(f"--loc-methods: {exc}")
    if max_pairs < 1 or seed < 0:
        bad.append("--max-pairs must be at least 1 and --seed non-negative")
    if bad:
        raise InvalidArgumentError("; ".join(bad))
    cfg.update(seed=seed, fast=bool(fast), max_pairs=max_pairs, loc_sizes=sides)
    return cfg | {"stages": chosen, "loc_methods": methods}


def _stages(stages: str | tuple[str, ...]) -> tuple[str, ...]:
    """The named stages in :data:`STAGES` order; () when any name is unknown."""
    names = [v.strip() for v in stages.split(",")] if isinstance(stages, str) else list(stages)
    names = [n for n in names if n]
    if any(n not in STAGES for n in names):
        return ()
    return tuple(s for s in STAGES if s in names)
