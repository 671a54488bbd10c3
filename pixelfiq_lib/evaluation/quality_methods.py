"""Quality methods side by side: ISO-style EDC pAUC per method and network, CIs over identities.

For one network and one :class:`~.benchmark_set.BenchmarkSet`, every quality method of
:data:`~pixelfiq_lib.fiqa.QUALITY_METHODS` (plus a seeded ``random`` control) scores every
sample; comparisons are discarded by their worse sample (``min``), the threshold is fixed
once at FMR = 1e-3 on all impostor comparisons (ISO/IEC 29794-1 style), and the stepwise
pAUC of the FNM-EDC is read at discard 0.2 and 0.3 (lower = better).

pAUC differences between methods are small and noisy on a small set, so every pAUC comes
with a 95 % percentile bootstrap interval over **identities**: a replicate draws the
identities with replacement and keeps each comparison once per draw of its first
sample's identity (a cluster bootstrap; the threshold is re-fixed on each replicate's
impostors). The same replicates give a paired interval for each method's difference
from ``serfiq``: an interval that excludes 0 is a difference this set can see.

A method that cannot run on a network (GraFIQs without BatchNorm statistics) gets a row
saying so, never a number.

Taught in: 09_compare_quality_methods.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .. import data
from ..core.faceqan import PAPER_STARTS
from ..errors import MethodNotApplicableError
from ..fiqa import QUALITY_METHODS, face_quality
from .benchmark_set import BenchmarkSet
from .edc import edc_curve, pair_quality, pauc
from .progress import progress

if TYPE_CHECKING:
    from ..models.base import FRModel

LIMITS = (0.2, 0.3)
FMR = 1e-3
#: Bootstrap replicates of ``pixelfiq evaluate``'s comparison.
N_BOOT = 1000
#: Faces per ``face_quality`` call (small: gradient methods hold a graph per face).
CHUNK = 8


def method_scores(
    model: FRModel,
    faces: Sequence[np.ndarray],
    methods: Sequence[str],
    settings: dict[str, dict] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every method's quality of every face: ``({method: (N,) float64}, {method: reason})``.

    A method that does not apply to ``model`` lands in the second dict with the reason.
    """
    settings = settings or {}
    scores, refused = {}, {}
    for method in methods:
        try:
            QUALITY_METHODS[method].check(model)
        except MethodNotApplicableError as exc:
            refused[method] = str(exc)
            continue
        parts = []
        for start in progress(range(0, len(faces), CHUNK), f"{model.name}: {method}", unit="chunk"):
            x = data.to_tensor(list(faces[start : start + CHUNK]))
            parts.append(face_quality(model, x, method, **settings.get(method, {})))
        scores[method] = np.concatenate(parts)
    return scores, refused


def _paucs(scores: np.ndarray, genuine: np.ndarray, pair_q: np.ndarray) -> list[float]:
    curve = edc_curve(scores, genuine, pair_q, fmr=FMR, variant="fixed")
    return [pauc(curve, lim) for lim in LIMITS]


def bootstrap_paucs(
    scores: np.ndarray,
    is_genuine: np.ndarray,
    pair_q: dict[str, np.ndarray],
    cluster: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """pAUCs at :data:`LIMITS` on ``n_boot`` identity-bootstrap replicates.

    Args:
        scores, is_genuine: (N,) comparison scores and labels.
        pair_q: ``{method: (N,) pair quality}``.
        cluster: (N,) identity label of each comparison's first sample.
        n_boot, seed: number of replicates and their seed (same replicates for every
            method, so differences are paired).
    Returns:
        ``{method: (n_boot, len(LIMITS))}``; a replicate without genuine or impostor
        comparisons is drawn again.
    """
    ids, inverse = np.unique(cluster, return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(ids))]
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {m: [] for m in pair_q}
    while len(next(iter(out.values()))) < n_boot:
        idx = np.concatenate([members[k] for k in rng.integers(0, len(ids), len(ids))])
        g = is_genuine[idx]
        if g.all() or not g.any():
            continue
        for m, q in pair_q.items():
            out[m].append(_paucs(scores[idx], g, q[idx]))
    return {m: np.asarray(v) for m, v in out.items()}


def compare_quality_methods(
    model: FRModel,
    bset: BenchmarkSet,
    scores: np.ndarray,
    *,
    methods: Sequence[str] = tuple(QUALITY_METHODS),
    settings: dict[str, dict] | None = None,
    seed: int = 0,
    n_boot: int = N_BOOT,
    qualities: dict[str, np.ndarray] | None = None,
) -> dict:
    """EDC pAUC of every quality method on one network, with identity-bootstrap CIs.

    Args:
        model: an :class:`FRModel`. bset: the benchmark set. scores: (N,) its comparison
            scores (cosine of unit embeddings, e.g. from ``verification_benchmark``).
        methods: quality methods to compare (a ``random`` control is always added).
        settings: per-method settings for :func:`~pixelfiq_lib.fiqa.face_quality`.
        seed: seeds the random control and the bootstrap.
        n_boot: bootstrap replicates.
        qualities: per-sample qualities already computed (skips those methods' scoring).
    Returns:
        ``{"records": [...], "quality": {method: (n_samples,)}, "refused": {method:
        reason}}``; a record: ``model, quality_method, variant, fmr, pauc_0.2,
        pauc_0.2_ci_low, pauc_0.2_ci_high, (the same for 0.3), delta_vs_serfiq_0.2 with
        its CI (0.3 likewise), n_identities, n_boot, applicable, reason``.
    Taught in: 09_compare_quality_methods.ipynb
    """
    given = dict(qualities or {})
    todo = [m for m in methods if m not in given]
    computed, refused = method_scores(model, [s.image for s in bset.samples], todo, settings)
    qual = {**{m: given[m] for m in methods if m in given}, **computed}
    qual["random"] = np.random.default_rng(seed).random(len(bset.samples))
    pair_q = {m: pair_quality(q[bset.idx_a], q[bset.idx_b]) for m, q in qual.items()}
    cluster = np.array([bset.samples[i].identity for i in bset.idx_a])
    boot = bootstrap_paucs(scores, bset.is_genuine, pair_q, cluster, n_boot=n_boot, seed=seed)
    base = "serfiq" if "serfiq" in pair_q else None
    records = []
    for method in [*methods, "random"]:
        rec = {"model": model.name, "quality_method": method, "variant": "fixed", "fmr": FMR}
        rec |= {"n_identities": int(len(set(cluster))), "n_boot": n_boot}
        rec["settings"] = dict((settings or {}).get(method, {}))
        if method in refused:
            records.append(rec | {"applicable": False, "reason": refused[method]})
            continue
        point = _paucs(scores, bset.is_genuine, pair_q[method])
        for j, lim in enumerate(LIMITS):
            lo, hi = np.quantile(boot[method][:, j], [0.025, 0.975])
            rec |= {f"pauc_{lim:g}": point[j], f"pauc_{lim:g}_ci_low": float(lo)}
            rec[f"pauc_{lim:g}_ci_high"] = float(hi)
            if base is not None and method != base:
                diff = boot[method][:, j] - boot[base][:, j]
                base_point = _paucs(scores, bset.is_genuine, pair_q[base])[j]
                dlo, dhi = np.quantile(diff, [0.025, 0.975])
                rec[f"delta_vs_serfiq_{lim:g}"] = point[j] - base_point
                rec[f"delta_vs_serfiq_{lim:g}_ci"] = [float(dlo), float(dhi)]
        records.append(rec | {"applicable": True, "reason": ""})
    return {"records": records, "quality": qual, "refused": refused}


def evaluation_settings(cfg: dict) -> dict[str, dict]:
    """Per-method settings of ``pixelfiq evaluate`` from its config: SER-FIQ with the run's
    T and seed, FaceQAN with the run's seed and ``faceqan_starts`` random starts (the
    paper's other settings; ``fast``: 2 steps instead of 5), GraFIQs with its default group."""
    faceqan = {"seed": cfg["seed"], "starts": cfg.get("faceqan_starts", PAPER_STARTS)}
    return {
        "serfiq": {"n_passes": cfg["passes"], "seed": cfg["seed"]},
        "faceqan": faceqan | ({"steps": 2} if cfg.get("fast") else {}),
    }


def evaluate_quality_methods(
    model: FRModel, bset: BenchmarkSet, ver: dict, cfg: dict, results: dict
) -> None:
    """The ``quality_methods`` section of ``pixelfiq evaluate`` for one network.

    Reuses the verification's comparison scores and its SER-FIQ Q and embedding norms
    (the same numbers :func:`~pixelfiq_lib.fiqa.face_quality` gives with the run's
    settings), scores the other methods, and appends :func:`compare_quality_methods`'
    records to ``results["quality_methods"]``.
    """
    given = {"serfiq": ver["quality"]["serfiq"], "embedding_norm": ver["quality"]["embedding_norm"]}
    out = compare_quality_methods(
        model,
        bset,
        ver["scores"],
        settings=evaluation_settings(cfg),
        seed=cfg["seed"],
        qualities=given,
    )
    results.setdefault("quality_methods", []).extend(out["records"])


def comparison_markdown(records: Sequence[dict], limit: float = 0.2) -> str:
    """The quality-method x network pAUC table (Markdown), one cell ``pAUC [lo, hi]``.

    Cells of methods that do not apply read ``n/a`` (with the reason below the table).
    """
    models = list(dict.fromkeys(r["model"] for r in records))
    methods = list(dict.fromkeys(r["quality_method"] for r in records))
    cell = {(r["model"], r["quality_method"]): r for r in records}
    key = f"pauc_{limit:g}"
    lines = [
        f"| quality method | {' | '.join(models)} |",
        "|---|" + "---|" * len(models),
    ]
    notes = []
    for m in methods:
        row = []
        for net in models:
            r = cell.get((net, m))
            if r is None:
                row.append("")
            elif not r["applicable"]:
                row.append("n/a")
                notes.append(f"- {m} on {net}: {r['reason']}")
            else:
                row.append(f"{r[key]:.4f} [{r[key + '_ci_low']:.4f}, {r[key + '_ci_high']:.4f}]")
        lines.append(f"| {m} | {' | '.join(row)} |")
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def percentile_ranks(quality: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each method's scores as ranks in [0, 1] (0 = its worst face, ties share a rank):
    the common scale on which differently scaled qualities can be compared face by face."""
    from scipy.stats import rankdata

    out = {}
    for method, q in quality.items():
        q = np.asarray(q, np.float64)
        out[method] = (rankdata(q) - 1) / max(1, len(q) - 1)
    return out


def rank_disagreement(quality: dict[str, np.ndarray]) -> np.ndarray:
    """(N,) the largest minus the smallest percentile rank a face gets across methods:
    near 1 when one method calls a face among the best that another calls among the worst."""
    ranks = np.stack(list(percentile_ranks(quality).values()))
    return ranks.max(0) - ranks.min(0)
