"""A verification benchmark set from any identity folder: originals, probe copies, pairs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import data
from ..errors import DataNotFoundError, InvalidArgumentError, PixelfiqError
from ..files import IMAGE_SUFFIXES, is_image_name
from .perturbations import DEGRADATIONS, STRENGTHS, degrade, yaw_proxy


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
        face_index: index of the face in the source photo (``extract_faces`` order).
        bbox: detected box ``(x, y, w, h)`` in the source photo, px.
        det_score: the detector's confidence for that box.
    """

    image: np.ndarray
    identity: str
    source: str
    face_size: float
    yaw: float = 0.0
    kind: str = "none"
    strength: int = 0
    face_index: int = 0
    bbox: tuple[float, float, float, float] | None = None
    det_score: float | None = None


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
    ids = {
        d.name: sorted(p for p in d.iterdir() if is_image_name(p))
        for d in sorted(root.iterdir())
        if d.is_dir()
    }
    ids = {k: v for k, v in ids.items() if v}
    if not ids:
        raise DataNotFoundError(
            f"no images found as {root}/<identity>/<image> "
            f"(suffixes {' '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return ids


def load_originals(
    files: dict[str, list[Path]], *, faces: str = "main"
) -> tuple[list[Sample], list[dict]]:
    """Detect (with padding for tight crops), align and keep one face of each file.

    Args:
        files: ``{identity: paths}`` (see :func:`image_files`).
        faces: which face: ``"main"`` (the photo's subject: box area minus twice the
            squared offset from the image centre, insightface's rule) or ``"largest"``.
    Returns:
        (samples, skipped): one :class:`Sample` per readable file with a face, and a
        record ``{"path", "identity", "status", "reason"}`` for every file that gave none.
    """
    from .progress import progress

    if faces not in ("main", "largest"):
        raise InvalidArgumentError(f'faces must be "main" or "largest", got {faces!r}')
    samples, skipped = [], []
    todo = [(identity, path) for identity, paths in files.items() for path in paths]
    for identity, path in progress(todo, "detect and align", unit="img"):
        try:
            face = data.extract_faces(path, faces=faces)[0]
        except PixelfiqError as exc:
            skipped.append(
                {"path": str(path), "identity": identity, "status": exc.status, "reason": str(exc)}
            )
            continue
        box = tuple(float(v) for v in face.face.bbox)
        size = float(np.sqrt(box[2] * box[3]))
        yaw = yaw_proxy(face.face.landmarks)
        samples.append(
            Sample(
                face.image,
                identity,
                str(path),
                size,
                yaw,
                face_index=face.index,
                bbox=box,
                det_score=float(face.face.score),
            )
        )
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
            a, b = (
                (find(f[0], f[1]), find(f[0], f[2]))
                if len(f) == 3
                else (find(f[0], f[1]), find(f[2], f[3]))
            )
            if a is not None and b is not None:
                pairs.append((a, b))
    return pairs


def all_pairs(
    labels: np.ndarray, cap: int, rng: np.random.Generator
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
    gen = np.array(
        [(i, j) for idx in _groups(labels).values() for i, j in itertools.combinations(idx, 2)],
        dtype=np.int64,
    ).reshape(-1, 2)
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


def add_probe_copies(
    samples: list[Sample], copies: int, rng: np.random.Generator
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


def build_benchmark(
    root: str | Path,
    *,
    seed: int = 0,
    copies: int = 3,
    max_pairs: int = 200_000,
    faces: str = "main",
) -> BenchmarkSet:
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
        faces: the face kept per photo, ``"main"`` or ``"largest"`` (:func:`load_originals`).
    Returns:
        A :class:`BenchmarkSet`.
    Taught in: 05_evaluation_metrics.ipynb
    """
    rng = np.random.default_rng(seed)
    files = image_files(root)
    originals, skipped = load_originals(files, faces=faces)
    if len(originals) < 2:
        raise DataNotFoundError(f"fewer than 2 faces found under {root}")
    ia, ib, how = _original_pairs(Path(root), files, originals, max_pairs // (1 + copies), rng)
    samples, copies_of = add_probe_copies(originals, copies, rng)
    ib = np.concatenate(
        [ib]
        + [np.array([copies_of[b][c] for b in ib], np.int64).reshape(-1) for c in range(copies)]
    )
    ia = np.tile(ia, 1 + copies)
    labels = np.array([s.identity for s in samples])
    return BenchmarkSet(samples, ia, ib, labels[ia] == labels[ib], len(originals), skipped, how)


def _original_pairs(
    root: Path,
    files: dict[str, list[Path]],
    originals: list[Sample],
    cap: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Comparisons among the originals: from ``root/pairs.txt`` when present, else all."""
    if not (root / "pairs.txt").is_file():
        return all_pairs(np.array([s.identity for s in originals]), cap, rng)
    index = {s.source: i for i, s in enumerate(originals)}
    listed = read_pairs_file(root / "pairs.txt", files)
    pairs = np.array(
        [(index[str(a)], index[str(b)]) for a, b in listed if str(a) in index and str(b) in index],
        np.int64,
    ).reshape(-1, 2)
    if len(pairs) > cap:
        pairs = pairs[np.sort(rng.choice(len(pairs), cap, replace=False))]
    return pairs[:, 0], pairs[:, 1], "pairs.txt"
