"""Per-image and per-comparison tables: what ``pixelfiq evaluate`` writes for exploring.

``images.parquet``/``.csv`` hold one row per scored face (and one per photo that gave
none, with its ``status`` and ``error``); ``comparisons.parquet``/``.csv`` one row per
comparison with its score and the pair quality of every quality method, so the EDC
numbers of ``results.json`` can be recomputed from them (:func:`edc_from_comparisons`).

:func:`face_table` is the library function behind the per-image table, for a folder of
photos (a notebook can call it directly).

Columns of the image table (:data:`IMAGE_COLUMNS`):

* ``sample``: row id within (model, table); comparisons refer to it (``a``, ``b``).
* ``path``, ``identity`` (the folder name), ``kind``/``strength`` (``none``/0 for an
  original, else the degradation of a probe copy made by ``evaluate``).
* ``face_index``, ``box_x``, ``box_y``, ``box_w``, ``box_h``, ``detection_score``:
  which detected face was scored, its box (px, source photo) and detector confidence.
* ``model``, ``quality_raw`` (SER-FIQ's Q), ``quality`` (Q̂), ``quality_se`` (its
  Monte-Carlo standard error), ``quality_100`` (0..100, the network's map).
* ``embedding_norm`` (norm of the raw embedding), ``sharpness`` (variance of the
  Laplacian of the aligned face), ``face_size`` (sqrt of the box area, px).
* ``status`` (``ok`` or why not), ``error``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import data
from ..errors import DataNotFoundError, InvalidArgumentError, PixelfiqError
from ..files import is_image_name
from ..models.base import FRModel
from .benchmark_set import BenchmarkSet, Sample
from .perturbations import laplacian_variance, yaw_proxy

IMAGE_COLUMNS = (
    "sample",
    "path",
    "identity",
    "kind",
    "strength",
    "face_index",
    "box_x",
    "box_y",
    "box_w",
    "box_h",
    "detection_score",
    "model",
    "quality_raw",
    "quality",
    "quality_se",
    "quality_100",
    "embedding_norm",
    "sharpness",
    "face_size",
    "status",
    "error",
)
#: Leading columns of the comparison table; ``pair_quality_<method>`` columns follow.
COMPARISON_COLUMNS = ("model", "a", "b", "path_a", "path_b", "kind_b", "genuine", "score")


def image_rows(
    samples: Sequence[Sample],
    scored: dict[str, np.ndarray],
    model: FRModel,
    skipped: Sequence[dict] = (),
    sharpness: np.ndarray | None = None,
) -> list[dict]:
    """Rows of the image table from scored samples (:func:`verification.embed_faces`).

    A degraded probe copy keeps the face index, box and detection score of its original
    (its ``face_size`` is the effective one, see :class:`Sample`).

    Args:
        samples: the faces, in the order they were scored.
        scored: ``embed_faces`` output (``norm``, ``q``, ``q_raw``, ``q_se``).
        model: the network (name and ``quality_100`` map).
        skipped: ``{"path", "identity", "status", "reason"}`` of photos without a face.
        sharpness: (n,) variance of the Laplacian when already computed (else computed).
    """
    q100 = model.quality_100(scored["q_raw"])
    if sharpness is None:
        sharpness = np.array([laplacian_variance(s.image) for s in samples])
    rows = []
    for k, s in enumerate(samples):
        box = s.bbox or (None,) * 4
        rows.append(
            {
                "sample": k,
                "path": s.source,
                "identity": s.identity,
                "kind": s.kind,
                "strength": int(s.strength),
                "face_index": int(s.face_index),
                "box_x": box[0],
                "box_y": box[1],
                "box_w": box[2],
                "box_h": box[3],
                "detection_score": s.det_score,
                "model": model.name,
                "quality_raw": float(scored["q_raw"][k]),
                "quality": float(scored["q"][k]),
                "quality_se": float(scored["q_se"][k]),
                "quality_100": int(q100[k]),
                "embedding_norm": float(scored["norm"][k]),
                "sharpness": float(sharpness[k]),
                "face_size": float(s.face_size),
                "status": "ok",
                "error": "",
            }
        )
    for k, rec in enumerate(skipped, start=len(samples)):
        rows.append(
            {c: None for c in IMAGE_COLUMNS}
            | {
                "sample": k,
                "path": rec["path"],
                "identity": rec.get("identity", ""),
                "kind": "none",
                "strength": 0,
                "model": model.name,
                "status": rec["status"],
                "error": rec["reason"],
            }
        )
    return rows


def comparison_rows(
    bset: BenchmarkSet, scores: np.ndarray, pair_quality: dict[str, np.ndarray], model_name: str
) -> list[dict]:
    """Rows of the comparison table: ``a``, ``b`` (sample ids of the image table),
    ``genuine``, ``score`` (cosine) and ``pair_quality_<method>`` for every method."""
    paths = [s.source for s in bset.samples]
    kinds = [s.kind for s in bset.samples]
    rows = []
    for n, (a, b) in enumerate(zip(bset.idx_a.tolist(), bset.idx_b.tolist())):
        row = {
            "model": model_name,
            "a": a,
            "b": b,
            "path_a": paths[a],
            "path_b": paths[b],
            "kind_b": kinds[b],
            "genuine": bool(bset.is_genuine[n]),
            "score": float(scores[n]),
        }
        row.update({f"pair_quality_{m}": float(v[n]) for m, v in pair_quality.items()})
        rows.append(row)
    return rows


def edc_from_comparisons(rows: Sequence[dict], model_name: str) -> list[dict]:
    """The EDC records of ``results.json`` recomputed from comparison-table rows of one model.

    Uses :func:`verification.edc_records` on the rows' ``score``, ``genuine`` and
    ``pair_quality_<method>`` columns (rows of a pandas DataFrame's ``to_dict("records")``
    or of the CSV, read as numbers, work alike).
    """
    from .verification import edc_records

    mine = [r for r in rows if r["model"] == model_name]
    if not mine:
        raise InvalidArgumentError(f"no comparisons of model {model_name!r}")
    scores = np.array([float(r["score"]) for r in mine])
    genuine = np.array([_truth(r["genuine"]) for r in mine])
    methods = [k[len("pair_quality_") :] for k in mine[0] if k.startswith("pair_quality_")]
    pair_q = {m: np.array([float(r[f"pair_quality_{m}"]) for r in mine]) for m in methods}
    return edc_records(scores, genuine, pair_q, model_name)[0]


def _truth(value: object) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1")


def write_rows(rows: Sequence[dict], stem: str | os.PathLike, columns: Sequence[str]) -> list[Path]:
    """``stem.parquet`` (pyarrow) and ``stem.csv`` from rows; columns in ``columns`` order
    first, then any others in first-seen order. Returns the paths written."""
    import pandas as pd

    from ..files import atomic_write

    stem = Path(stem)
    cols = list(dict.fromkeys([*columns, *(k for r in rows for k in r)]))
    frame = pd.DataFrame(list(rows), columns=cols)
    pq, csv = stem.with_suffix(".parquet"), stem.with_suffix(".csv")
    atomic_write(pq, lambda fh: frame.to_parquet(fh, engine="pyarrow", index=False))
    atomic_write(csv, lambda fh: fh.write(frame.to_csv(index=False).encode("utf-8")))
    return [pq, csv]


def folder_files(folder: str | os.PathLike) -> list[tuple[str, Path]]:
    """``(identity, path)`` of every image under ``folder`` (recursive, name order).

    ``identity`` is the name of the file's folder, ``""`` for files directly in
    ``folder``; hidden files and folders are skipped.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataNotFoundError(f"{str(root)!r} is not a folder")
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        identity = "" if here == root else here.name
        out += [
            (identity, here / f)
            for f in sorted(filenames)
            if is_image_name(f) and not f.startswith(".")
        ]
    return out


def face_table(
    model: FRModel,
    folder: str | os.PathLike,
    *,
    faces: str = "main",
    n_passes: int = 100,
    seed: int = 0,
    min_face_size: float = data.MIN_FACE_SIZE,
    as_frame: bool = False,
):
    """The per-image table of a folder of photos: one row per scored face.

    Args:
        model: the network (``models.load_model(name)``).
        folder: photos, flat or as ``folder/<identity>/<image>`` (any format the
            decoder reads; see :data:`~pixelfiq_lib.files.IMAGE_SUFFIXES`).
        faces: ``"main"`` (the photo's subject, default), ``"largest"`` or ``"all"``.
        n_passes, seed: SER-FIQ settings.
        min_face_size: faces with a narrower box are ``too_small``.
        as_frame: return a pandas DataFrame instead of a list of dicts.
    Returns:
        Rows with :data:`IMAGE_COLUMNS` (photos without a usable face get a row with
        their ``status`` and ``error`` and empty numbers).
    Example:
        >>> rows = face_table(load_model("sface"), "data/bbt", n_passes=20)
        >>> worst = sorted(rows, key=lambda r: r["quality_100"])[:5]
    """
    from .progress import progress
    from .verification import embed_faces

    samples, skipped = [], []
    for identity, path in progress(folder_files(folder), "detect and align", unit="img"):
        try:
            found = data.extract_faces(path, faces=faces, min_face_size=min_face_size)
        except PixelfiqError as exc:
            skipped.append(
                {"path": str(path), "identity": identity, "status": exc.status, "reason": str(exc)}
            )
            continue
        for face in found:
            box = tuple(float(v) for v in face.face.bbox)
            samples.append(
                Sample(
                    face.image,
                    identity,
                    str(path),
                    float(np.sqrt(box[2] * box[3])),
                    yaw_proxy(face.face.landmarks),
                    face_index=face.index,
                    bbox=box,
                    det_score=float(face.face.score),
                )
            )
    if samples:
        scored = embed_faces(model, [s.image for s in samples], n_passes=n_passes, seed=seed)
    else:
        scored = {k: np.zeros(0) for k in ("norm", "q", "q_raw", "q_se")}
    rows = image_rows(samples, scored, model, skipped)
    if as_frame:
        import pandas as pd

        return pd.DataFrame(rows, columns=list(IMAGE_COLUMNS))
    return rows
