"""Scoring a benchmark set: embeddings, qualities, comparison scores, ROC AUC and EDC records."""

from __future__ import annotations

import numpy as np
import torch

from .. import data
from ..core.quality import body_features, serfiq_from_features
from ..evaluation.edc import edc_curve, pair_quality, pauc, threshold_for_fmr
from ..models.base import FRModel
from .benchmark_set import BenchmarkSet, Sample
from .perturbations import DEGRADATIONS, laplacian_variance

# ------------------------------------------------------------ scoring and EDC
QUALITY_METHODS = ("serfiq", "embedding_norm", "sharpness", "face_size", "random")
#: EDC settings evaluated for every (model, quality method).
EDC_SETTINGS = (
    {"variant": "fixed", "fmr": 1e-3, "starting_fnmr": None},
    {"variant": "fixed", "fmr": None, "starting_fnmr": 0.1},
    {"variant": "recalibrated", "fmr": 1e-3, "starting_fnmr": None},
)
PAUC_LIMITS = (0.2, 0.3)


def embed_faces(
    model: FRModel,
    faces: list[np.ndarray],
    *,
    n_passes: int = 100,
    seed: int = 0,
    chunk_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Embeddings, embedding norms and SER-FIQ qualities with one body pass per face.

    Args:
        model: an :class:`FRModel`; its device is used.
        faces: aligned faces, each (112, 112, 3) uint8 RGB in 0..255.
        n_passes, seed: SER-FIQ settings (the masks are shared by every chunk).
        chunk_size: faces per forward pass (default: the device's, see
            :func:`~pixelfiq_lib.core.batching.chunk_size`).
    Returns:
        ``{"emb": (N, E) unit-norm float32, "norm": (N,) norm of the raw head output
        before L2 normalisation, "q": (N,) Q̂, "q_raw": (N,) Q, "q_se": (N,) its
        Monte-Carlo standard error}`` as numpy arrays.
    Taught in: 05_evaluation_metrics.ipynb
    """
    from ..core.batching import chunk_size as chunk_size_for
    from .progress import progress

    keys = ("emb", "norm", "q", "q_raw", "q_se")
    step = max(32, chunk_size_for(model.device, chunk_size))
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    starts = range(0, len(faces), step)
    # A face's quality does not depend on the faces beside it (shared masks, fixed
    # shapes), so scoring chunk by chunk gives the numbers of one big call.
    for start in progress(starts, f"{model.name}: embed and score", unit="chunk"):
        with torch.inference_mode():
            feat = body_features(model, data.to_tensor(faces[start : start + step]), chunk_size)
            raw = model.head(feat)
            res = serfiq_from_features(model, feat, n_passes=n_passes, seed=seed)
        vals = (torch.nn.functional.normalize(raw, dim=1), raw.norm(dim=1), res.q, res.q_raw)
        for key, val in zip(keys, (*vals, res.q_se)):
            parts[key].append(val.float().cpu().numpy())
    return {key: np.concatenate(val) for key, val in parts.items()}


def quality_scores(
    samples: list[Sample], scored: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Per-sample quality of every method in :data:`QUALITY_METHODS` (higher = better).

    ``serfiq`` ranks by the raw SER-FIQ Q (the scaling to Q̂ is monotone, and Q̂
    saturates in float32 for networks whose constants do not fit); ``embedding_norm``
    is the norm of the raw head output; ``sharpness`` the variance of the Laplacian;
    ``face_size`` the (effective) detected box side; ``random`` a seeded uniform draw.
    """
    return {
        "serfiq": scored["q_raw"].astype(np.float64),
        "embedding_norm": scored["norm"].astype(np.float64),
        "sharpness": np.array([laplacian_variance(s.image) for s in samples]),
        "face_size": np.array([s.face_size for s in samples]),
        "random": rng.random(len(samples)),
    }


def cosine_scores(emb: np.ndarray, idx_a: np.ndarray, idx_b: np.ndarray) -> np.ndarray:
    """Cosine similarity of unit-norm embeddings ``emb[idx_a]`` and ``emb[idx_b]``, (N,)."""
    return np.einsum("ij,ij->i", emb[idx_a], emb[idx_b]).astype(np.float64)


def roc_auc(scores: np.ndarray, is_genuine: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_gen, n_imp = int(is_genuine.sum()), int((~is_genuine).sum())
    return float((ranks[is_genuine].sum() - n_gen * (n_gen + 1) / 2) / (n_gen * n_imp))


def edc_records(
    scores: np.ndarray, is_genuine: np.ndarray, pair_q: dict[str, np.ndarray], model_name: str
) -> tuple[list[dict], dict[tuple[int, str], object]]:
    """pAUC records of every quality method under every setting of :data:`EDC_SETTINGS`.

    Returns:
        (records, curves): records ``{quality_method, model, variant, fmr,
        starting_fnmr, start_fnmr, pauc_0.2, pauc_0.3, pauc_0.2_minus_best,
        pauc_0.3_minus_best, interpolation}``; curves keyed ``(setting index, method)``.
    """
    records, curves = [], {}
    for k, setting in enumerate(EDC_SETTINGS):
        for method, q in pair_q.items():
            curve = edc_curve(
                scores,
                is_genuine,
                q,
                variant=setting["variant"],
                fmr=setting["fmr"] or 1e-3,
                starting_fnmr=setting["starting_fnmr"],
            )
            curves[(k, method)] = curve
            rec = {
                "quality_method": method,
                "model": model_name,
                **setting,
                "start_fnmr": float(curve.error[0]),
                "interpolation": "stepwise",
            }
            for lim in PAUC_LIMITS:
                rec[f"pauc_{lim:g}"] = pauc(curve, lim)
                rec[f"pauc_{lim:g}_minus_best"] = pauc(curve, lim, subtract_best=True)
            records.append(rec)
    return records, curves


def probe_table(
    bset: BenchmarkSet,
    scores: np.ndarray,
    scored: dict[str, np.ndarray],
    threshold: float,
    model_name: str,
) -> list[dict]:
    """Per probe kind and strength: mean Q̂ of the probes, their genuine scores and FNMR at
    ``threshold``."""
    kind = np.array([f"{s.kind}:{s.strength}" for s in bset.samples])
    rows = []
    for label in sorted(set(kind), key=lambda x: (x != "none:0", x)):
        probes, gen = kind == label, bset.is_genuine & (kind[bset.idx_b] == label)
        name, strength = label.split(":")
        rows.append(
            {
                "model": model_name,
                "kind": name,
                "strength": int(strength),
                "parameter": (DEGRADATIONS[name][int(strength) - 1] if name != "none" else None),
                "n_probes": int(probes.sum()),
                "q_mean": float(scored["q"][probes].mean()),
                "q_se_mean": float(scored["q_se"][probes].mean()),
                "q_raw_mean": float(scored["q_raw"][probes].mean()),
                "n_genuine": int(gen.sum()),
                "genuine_score_mean": float(scores[gen].mean()) if gen.any() else None,
                "fnmr": float((scores[gen] < threshold).mean()) if gen.any() else None,
            }
        )
    return rows


def verification_benchmark(
    model: FRModel, bset: BenchmarkSet, *, n_passes: int = 100, seed: int = 0
) -> dict:
    """Scores, qualities and EDC pAUCs of one network on a :class:`BenchmarkSet`.

    Args:
        model: an :class:`FRModel`.
        bset: from :func:`build_benchmark`.
        n_passes, seed: SER-FIQ settings; ``seed`` also seeds the random baseline.
    Returns:
        ``{"summary": dict, "probes": list (see :func:`probe_table`), "edc": list (see
        :func:`edc_records`), "curves": {(setting, method): EDCCurve}, "scores": (N,),
        "quality": {method: (n_samples,)}, "pair_quality": {method: (N,)}, "scored":
        :func:`embed_faces` output plus "q100" (n_samples,)}`` (the tables of
        :mod:`~pixelfiq_lib.evaluation.tables` are built from it).
    Taught in: 05_evaluation_metrics.ipynb
    """
    scored = embed_faces(model, [s.image for s in bset.samples], n_passes=n_passes, seed=seed)
    scored["q100"] = model.quality_100(scored["q_raw"])
    scores = cosine_scores(scored["emb"], bset.idx_a, bset.idx_b)
    qual = quality_scores(bset.samples, scored, np.random.default_rng(seed))
    pair_q = {m: pair_quality(v[bset.idx_a], v[bset.idx_b]) for m, v in qual.items()}
    records, curves = edc_records(scores, bset.is_genuine, pair_q, model.name)
    summary = verification_summary(bset, scores, model.name)
    probes = probe_table(bset, scores, scored, summary["threshold_fmr_1e-3"], model.name)
    return {
        "summary": summary,
        "probes": probes,
        "edc": records,
        "curves": curves,
        "scores": scores,
        "quality": qual,
        "pair_quality": pair_q,
        "scored": scored,
    }


def verification_summary(bset: BenchmarkSet, scores: np.ndarray, model_name: str) -> dict:
    """Counts, score statistics, ROC AUC and FNMR at FMR = 1e-3 (all and originals only)."""
    g = bset.is_genuine
    orig = bset.idx_b < bset.n_originals
    tau = threshold_for_fmr(scores[~g], 1e-3)
    imp_median = float(np.median(scores[~g & orig]))
    return {
        "model": model_name,
        "pairs_source": bset.pairs_source,
        "n_identities": len({s.identity for s in bset.samples}),
        "n_images": bset.n_originals,
        "n_probe_copies": len(bset.samples) - bset.n_originals,
        "n_skipped": len(bset.skipped),
        "n_comparisons": int(g.size),
        "n_genuine": int(g.sum()),
        "n_impostor": int((~g).sum()),
        "genuine_mean": float(scores[g].mean()),
        "impostor_mean": float(scores[~g].mean()),
        "impostor_max": float(scores[~g].max()),
        "roc_auc": roc_auc(scores, g),
        "roc_auc_originals": roc_auc(scores[orig], g[orig]),
        "frac_genuine_above_impostor_median_originals": float(
            (scores[g & orig] > imp_median).mean()
        ),
        "threshold_fmr_1e-3": tau,
        "fnmr_at_fmr_1e-3": float((scores[g] < tau).mean()),
        "fnmr_at_fmr_1e-3_originals": float((scores[g & orig] < tau).mean()),
    }
