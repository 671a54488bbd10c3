"""The occluder-localisation stage of ``pixelfiq evaluate``: which faces, which methods.

Two face sets, reported separately (bbt ranks maps differently from colour photos):

* ``bbt``: the originals of identities outside :data:`.localisation.FIT_IDENTITIES`
  (on bbt the REPORT half; every map constant was fitted on the others);
* ``colour``: the first ``loc_faces`` (0 = all) of insightface's sample photos
  (:func:`pixelfiq_lib.data.sample_faces`, the 6 people of its group photo and one
  aligned portrait), installed with insightface and so available offline. No map
  constant was fitted on them. Their records go to the ``localisation_colour`` and
  ``region_verdicts_colour`` sections.

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from .. import data
from ..core.maps import list_map_methods, map_settings, map_spec, resolve_map_method
from ..core.stability import packaged_stability, stability_record
from ..errors import PixelfiqError
from .benchmark_set import BenchmarkSet
from .localisation import FIT_IDENTITIES, localisation_benchmark
from .runinfo import timed_into as timed

if TYPE_CHECKING:
    from ..models import FRModel

log = logging.getLogger(__name__)


def parse_loc_methods(methods: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """``"a,b"`` or a list of map names -> registered names (``"recommended"`` resolved,
    order kept, duplicates dropped); ``None`` or empty = every registered method.

    Raises:
        InvalidArgumentError: an unknown name (the message lists the known ones).
    """
    if methods is None:
        return None
    names = methods.split(",") if isinstance(methods, str) else list(methods)
    names = [n.strip() for n in names if n.strip()]
    return list(dict.fromkeys(resolve_map_method(n) for n in names)) or None


def localisation_faces(bset: BenchmarkSet, n_faces: int, seed: int) -> tuple[list, list[str]]:
    """Faces for the localisation benchmark: originals of identities outside
    :data:`FIT_IDENTITIES` (on bbt: the REPORT half; the maps' constants were fitted on
    the others), a seeded choice of ``n_faces`` spread over identities (0 = all).

    Returns:
        (faces, their identities).
    """
    pool = [s for s in bset.samples[: bset.n_originals] if s.identity not in FIT_IDENTITIES]
    if n_faces and len(pool) > n_faces:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(pool))
        # round-robin over identities so a few faces still cover several people
        by_id: dict[str, list[int]] = {}
        for i in order:
            by_id.setdefault(pool[i].identity, []).append(int(i))
        picked: list[int] = []
        while len(picked) < n_faces:
            for ids in by_id.values():
                if ids and len(picked) < n_faces:
                    picked.append(ids.pop(0))
        pool = [pool[i] for i in sorted(picked)]
    return [s.image for s in pool], [s.identity for s in pool]


def colour_faces() -> list[np.ndarray]:
    """The colour face set: insightface's 7 sample faces as (112, 112, 3) uint8, or ``[]``
    when insightface's images are not installed."""
    try:
        return [f.image for f in data.sample_faces()]
    except PixelfiqError as exc:
        log.warning("colour faces unavailable: %s", exc)
        return []


def evaluate_localisation(model: FRModel, bset: BenchmarkSet, cfg: dict, results: dict) -> None:
    """The ``localisation`` sections: occluder localisation, costs and region verdicts on
    bbt's REPORT faces, then the same on the colour faces (``cfg["loc_colour"]``, not in
    ``fast`` runs). A shipped network whose Q̂ is too noisy for its maps to be judged
    (:func:`~pixelfiq_lib.core.stability.packaged_stability`) is skipped, and named in
    ``meta["localisation_skipped"]``, unless ``cfg["loc_unstable"]``."""
    faces, ids = localisation_faces(bset, cfg["loc_faces"], cfg["seed"])
    if len(faces) < 2:
        log.warning(
            "%s: localisation skipped: fewer than 2 faces outside the FIT identities", model.name
        )
        return
    fast = cfg["fast"]
    methods = tuple(cfg.get("loc_methods") or list_map_methods())
    kwargs = dict(
        methods=methods,
        sizes=tuple(cfg["loc_sizes"]),
        seed=cfg["seed"],
        n_passes=cfg["passes"],
        method_kwargs=map_settings(cfg["passes"], cfg["seed"], fast),
        **({"occluders": ("black", "sunglasses")} if fast else {}),
    )
    timings = results["meta"]["timings_s"][model.name]
    check = packaged_stability(model.name)
    if check is not None:  # the shipped networks: is Q̂ stable enough to judge their maps?
        rec = stability_record(check) | {"note": check.note()}
        results["meta"].setdefault("quality_stability", {})[model.name] = rec
        if not check.judgeable and not cfg.get("loc_unstable", False):
            log.warning("%s: localisation skipped: %s", model.name, check.note())
            results["meta"].setdefault("localisation_skipped", {})[model.name] = check.note()
            return
    log.info("%s: occluder localisation on %d faces", model.name, len(faces))
    out = timed(timings, "localisation", localisation_benchmark, model, faces, **kwargs)
    results["localisation"] += out["records"]
    results["map_costs"] += out["costs"]
    results["region_verdicts"] += out["verdicts"]
    if out.get("refused"):
        results["meta"].setdefault("maps_not_applicable", {})[model.name] = out["refused"]
    results["meta"].setdefault("localisation_faces", {})[model.name] = sorted(set(ids))
    results["meta"]["loc_methods"] = list(methods)
    results["meta"]["map_tuned_on"] = {m: map_spec(m).tuned_on for m in methods}
    colour = colour_faces() if cfg.get("loc_colour", False) and not fast else []
    colour = colour[: cfg["loc_faces"]] if cfg["loc_faces"] else colour
    if len(colour) >= 2:
        log.info("%s: occluder localisation on %d colour faces", model.name, len(colour))
        out = timed(timings, "localisation_colour", localisation_benchmark, model, colour, **kwargs)
        results.setdefault("localisation_colour", []).extend(out["records"])
        results.setdefault("region_verdicts_colour", []).extend(out["verdicts"])
        results["meta"]["colour_faces"] = f"{len(colour)} insightface sample faces"
