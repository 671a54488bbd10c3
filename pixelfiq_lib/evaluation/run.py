"""The evaluation driver behind ``pixelfiq evaluate`` (:func:`run_evaluation`).

``results.json`` sections: ``meta``, ``verification``, ``probes``, ``edc``,
``faithfulness`` (deletion/insertion AUCs with bootstrap ``ci_low``/``ci_high``),
``faithfulness_curves``, ``paper_experiments``, and the occluder-localisation sections
``localisation`` (``{map_method, model, occluder, size, metric, mean, ci_low, ci_high,
n}``, metrics loc_auroc, loc_auroc_delta, pointing, delta_q), ``map_costs`` (seconds and
forward+backward equivalents per face) and ``region_verdicts`` (share of eye squares and
sunglasses whose lowest region is the covered eye), and ``quality_methods`` (EDC pAUC of
every quality method of :mod:`pixelfiq_lib.fiqa` with bootstrap CIs over identities,
:mod:`~pixelfiq_lib.evaluation.quality_methods`). ``stages`` runs only some parts
(:data:`~pixelfiq_lib.evaluation.settings.STAGES`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from .. import data
from ..config import get_device
from ..errors import PixelfiqError
from ..evaluation.benchmark_set import BenchmarkSet, build_benchmark
from ..evaluation.experiments import paper_experiments
from ..evaluation.faithfulness import (
    FaithfulnessCurve,
    faithfulness_curves,
)
from ..evaluation.localisation_stage import evaluate_localisation, parse_loc_methods
from ..evaluation.perturbations import DEGRADATIONS, TURNED_YAW, yaw_proxy
from ..evaluation.progress import show_progress, stage_bar
from ..evaluation.tables import (
    COMPARISON_COLUMNS,
    IMAGE_COLUMNS,
    comparison_rows,
    image_rows,
    write_rows,
)
from ..evaluation.verification import EDC_SETTINGS, PAUC_LIMITS, verification_benchmark
from ..models import FRModel, list_models, load_model
from .quality_methods import evaluate_quality_methods
from .report import plot_edc_set, plot_faithfulness, write_outputs, write_partial
from .runinfo import code_version, run_metadata, timed_into
from .settings import STAGES

log = logging.getLogger(__name__)


def paper_face_pool(
    bset: BenchmarkSet, n_faces: int, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Faces for the paper's experiments: a seeded choice of ``n_faces`` from the set's
    originals plus the sample faces of :func:`data.sample_faces` (when installed).

    Returns:
        (chosen faces, turned faces of the whole pool (|yaw| >= TURNED_YAW, at most 6),
        labels of the chosen faces).
    """
    pool = [(s.image, s.yaw, s.source) for s in bset.samples[: bset.n_originals]]
    try:
        pool += [
            (f.image, yaw_proxy(f.face.landmarks) if f.face else None, f"sample_faces[{i}]")
            for i, f in enumerate(data.sample_faces())
        ]
    except PixelfiqError:
        pass
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(pool), min(n_faces, len(pool)), replace=False))
    turned = [img for img, yaw, _ in pool if yaw is not None and abs(yaw) >= TURNED_YAW][:6]
    return [pool[i][0] for i in pick], turned, [pool[i][2] for i in pick]


def evaluate_model(
    model: FRModel,
    bset: BenchmarkSet,
    faces: tuple[list, list, list],
    cfg: dict,
    results: dict,
    out_dir: Path,
    tables: dict | None = None,
) -> None:
    """Run every part for one network; append its numbers to ``results`` and its rows to
    ``tables`` (``{"images": [...], "comparisons": [...]}``), write its plots."""
    t = results["meta"]["timings_s"].setdefault(model.name, {})
    stages = cfg.get("stages", STAGES)
    bar = stage_bar(f"{model.name}: stages", len(stages))
    kw = dict(n_passes=cfg["passes"], seed=cfg["seed"])
    if "edc" in stages:
        bar.set_postfix_str("verification")
        log.info("%s: verification on %d faces", model.name, len(bset.samples))
        ver = timed_into(t, "verification", verification_benchmark, model, bset, **kw)
        results["verification"].append(ver["summary"])
        results["probes"] += ver["probes"]
        results["edc"] += ver["edc"]
        if tables is not None:
            tables["images"] += image_rows(
                bset.samples, ver["scored"], model, bset.skipped, ver["quality"]["sharpness"]
            )
            tables["comparisons"] += comparison_rows(
                bset, ver["scores"], ver["pair_quality"], model.name
            )
        plot_edc_set(ver["curves"], model.name, out_dir)
        bar.set_postfix_str("quality methods")
        timed_into(t, "quality_methods", evaluate_quality_methods, model, bset, ver, cfg, results)
        write_partial(results, out_dir)
        bar.update(1)
    good, turned, _ = faces
    if "paper" in stages:
        bar.set_postfix_str("paper experiments")
        log.info("%s: paper experiments on %d faces", model.name, len(good))
        results["paper_experiments"][model.name] = timed_into(
            t, "paper_experiments", paper_experiments, model, good, turned=turned, **kw
        )
        write_partial(results, out_dir)
        bar.update(1)
    if "faithfulness" in stages:
        bar.set_postfix_str("deletion/insertion curves")
        evaluate_faithfulness(model, bset, good, cfg, results, out_dir)
        write_partial(results, out_dir)
        bar.update(1)
    if "localisation" in stages:
        bar.set_postfix_str("occluder localisation")
        evaluate_localisation(model, bset, cfg, results)
        write_partial(results, out_dir)
        bar.update(1)
    bar.close()


def evaluate_faithfulness(
    model: FRModel, bset: BenchmarkSet, good: list, cfg: dict, results: dict, out_dir: Path
) -> None:
    """The ``faithfulness`` sections: deletion/insertion curves of every map method."""
    t = results["meta"]["timings_s"][model.name]
    originals = [s.image for s in bset.samples[: bset.n_originals]]
    few = originals if cfg["faith_faces"] == 0 else good[: cfg["faith_faces"]]
    log.info("%s: deletion/insertion curves on %d faces", model.name, len(few))
    recs, curves, secs = timed_into(
        t,
        "faithfulness",
        faithfulness_curves,
        model,
        few,
        steps=cfg["faith_steps"],
        fast=cfg["fast"],
        methods=cfg.get("loc_methods"),
        n_passes=cfg["passes"],
        seed=cfg["seed"],
    )
    t["faithfulness_per_method"] = {k: round(v, 2) for k, v in secs.items()}
    results["faithfulness"] += recs
    results["faithfulness_curves"] += _curve_means(curves, model.name)
    plot_faithfulness(curves, model.name, out_dir / f"faithfulness_{model.name}.png")


def _curve_means(curves: dict[str, list[FaithfulnessCurve]], model_name: str) -> list[dict]:
    """Mean deletion/insertion curves as plain records."""
    return [
        {
            "model": model_name,
            "map_method": name,
            "kind": c.kind,
            "order": c.order,
            "fill": c.fill,
            "track": track,
            "fractions": c.fractions.cpu().tolist(),
            "mean": vals.mean(0).cpu().tolist(),
        }
        for name, trio in curves.items()
        for c in trio
        for track, vals in (("quality", c.quality), ("cosine", c.cosine))
        if vals is not None
    ]


def run_evaluation(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    models: list[str] | None = None,
    seed: int = 0,
    passes: int = 100,
    fast: bool = False,
    copies: int = 3,
    max_pairs: int = 200_000,
    paper_faces: int = 12,
    faith_faces: int = 4,
    faith_steps: int = 8,
    loc_faces: int = 4,
    loc_sizes: tuple[int, ...] = (40,),
    loc_methods: list[str] | None = None,
    loc_colour: bool = True,
    loc_unstable: bool = False,
    faceqan_starts: int = 10,
    stages: tuple[str, ...] = STAGES,
    device: str | None = None,
    faces: str = "main",
    progress: bool = False,
) -> dict:
    """Everything ``pixelfiq evaluate`` does; returns the ``results.json`` content.

    Besides ``results.json`` and the summary tables it writes the per-image and
    per-comparison tables ``images.parquet``/``.csv`` and ``comparisons.parquet``/``.csv``
    (:mod:`~pixelfiq_lib.evaluation.tables`).

    Args: see :func:`evaluation_config` (``models=None``: every ready network;
        ``faces``: the face kept per photo, ``"main"`` or ``"largest"``; ``loc_colour``:
        also localise on insightface's colour faces; ``loc_unstable``: also localise on a
        network whose Q̂ is too noisy for its maps to be judged (skipped by default);
        ``progress``: tqdm bars on stderr for the long stages).
    Taught in: 05_evaluation_metrics.ipynb
    """
    start, out_dir = time.perf_counter(), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = dict(
        seed=seed,
        passes=passes,
        fast=fast,
        copies=copies,
        max_pairs=max_pairs,
        paper_faces=paper_faces,
        faith_faces=faith_faces,
        faith_steps=faith_steps,
        faces=faces,
        loc_faces=loc_faces,
        loc_sizes=list(loc_sizes),
        loc_methods=parse_loc_methods(loc_methods),
        loc_colour=bool(loc_colour),
        loc_unstable=bool(loc_unstable),
        faceqan_starts=faceqan_starts,
        stages=list(stages),
    )
    with show_progress(progress):
        return _run_evaluation(data_dir, out_dir, cfg, models, device, start)


def _run_evaluation(
    data_dir: str | Path,
    out_dir: Path,
    cfg: dict,
    models: list[str] | None,
    device: str | None,
    start: float,
) -> dict:
    models = models or [m["name"] for m in list_models() if m["ready"]]
    results = {
        "meta": {
            "data_dir": str(Path(data_dir).resolve()),
            "models": models,
            **cfg,
            "edc_settings": list(EDC_SETTINGS),
            "pauc_limits": list(PAUC_LIMITS),
            "degradations": {k: list(v) for k, v in DEGRADATIONS.items()},
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "machine": run_metadata(get_device(device)),
            "code_version": code_version(),
            "timings_s": {},
        },
        "verification": [],
        "probes": [],
        "edc": [],
        "faithfulness": [],
        "faithfulness_curves": [],
        "paper_experiments": {},
        "localisation": [],
        "map_costs": [],
        "region_verdicts": [],
        "quality_methods": [],
    }
    bset = timed_into(
        results["meta"]["timings_s"],
        "load_and_degrade",
        build_benchmark,
        data_dir,
        seed=cfg["seed"],
        copies=cfg["copies"],
        max_pairs=cfg["max_pairs"],
        faces=cfg["faces"],
    )
    faces = paper_face_pool(bset, cfg["paper_faces"], cfg["seed"])
    tables: dict[str, list[dict]] = {"images": [], "comparisons": []}
    results["meta"].update(_set_meta(bset, faces))
    for name in models:
        model = load_model(name, device)
        results["meta"].setdefault("model_constants", {})[name] = {
            "alpha": model.alpha,
            "r": model.r,
            "plq_a": model.plq_a,
            "dropout_p": model.dropout_p,
            "quality_100": model.quality_100.as_dict(),
        }
        evaluate_model(model, bset, faces, cfg, results, out_dir, tables)
    write_rows(tables["images"], out_dir / "images", IMAGE_COLUMNS)
    write_rows(tables["comparisons"], out_dir / "comparisons", COMPARISON_COLUMNS)
    results["meta"]["timings_s"]["total"] = round(time.perf_counter() - start, 2)
    write_outputs(results, out_dir)
    return results


def _set_meta(bset: BenchmarkSet, faces: tuple[list, list, list]) -> dict:
    originals = bset.samples[: bset.n_originals]
    return {
        "n_identities": len({s.identity for s in originals}),
        "n_images": bset.n_originals,
        "n_probe_copies": len(bset.samples) - bset.n_originals,
        "skipped": bset.skipped,
        "pairs_source": bset.pairs_source,
        "n_comparisons": int(bset.is_genuine.size),
        "paper_faces_used": faces[2],
        "n_turned_faces": len(faces[1]),
    }
