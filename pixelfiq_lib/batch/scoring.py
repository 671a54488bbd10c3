"""Scoring of aligned faces and the rows they give: the one row-making code of every
engine (the thread pipeline of :mod:`.pipeline` and the Ray engine)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .inputs import InputItem
from .outputs import output_stem, write_face_files
from .table import failure, make_row

if TYPE_CHECKING:
    from .pipeline import BatchOptions

log = logging.getLogger(__name__)


def looks_like_a_face(image: np.ndarray) -> bool:
    """The face check of ``--aligned`` inputs: YuNet finds a face in the crop (it pads it
    when nothing is found at first).

    Calibrated on 47 real aligned faces (insightface's samples and data/bbt, aligned):
    the lowest detector score was 0.82 against the 0.6 threshold, while noise, blank,
    black and gradient crops gave no detection even at 0.3. A failed check only sets
    the ``not_a_face`` column: the quality is computed and kept unchanged.
    """
    from ..data import detect_faces

    try:
        return bool(detect_faces(np.ascontiguousarray(image)))
    except Exception:  # the check is a warning only: never fail the face for it
        log.debug("face check failed", exc_info=True)
        return True


@dataclass
class _Score:
    q: float
    q_raw: float
    q_se: float
    plq: np.ndarray | None
    q100: int = 0
    region: str = ""
    region_score: float | str = ""


def score_faces(model, faces: Sequence, opts: BatchOptions) -> list[_Score | Exception]:
    """Quality (and maps for ``explain``) of aligned faces; a failing face gets its exception.

    The whole batch goes through one call. The library computes each face's quality
    with the same tensor shapes whatever its batch, so the qualities in results.csv
    are bit-identical across batch compositions, which is what makes ``--resume`` and
    ``--shard`` reproduce an uninterrupted run exactly; maps agree to float32 rounding
    (< 1e-5). A batch that fails is retried one face at a time.
    """
    try:
        return _score_chunk(model, faces, opts)
    except Exception as exc:
        if len(faces) == 1:
            return [exc]
        return [s for face in faces for s in score_faces(model, [face], opts)]


def _score_chunk(model, faces: Sequence, opts: BatchOptions) -> list[_Score]:
    from ..core.backprop import pixel_quality_map
    from ..core.quality import serfiq_quality
    from ..data import to_tensor

    x = to_tensor(list(faces))
    kw = dict(n_passes=opts.n_passes, seed=opts.seed)
    verdicts = [("", "")] * len(faces)
    if opts.maps_dir is None:
        res, plq = serfiq_quality(model, x, **kw), [None] * len(faces)
    elif opts.map_method == "plq":
        out = pixel_quality_map(model, x, **kw)  # chunks: core.batching's policy
        res, plq, raw = out.quality, list(out.plq.detach().cpu().numpy()), out.plq
    else:
        res, plq, raw = _other_map(model, x, opts)
    if opts.maps_dir is not None and opts.region_map:
        if opts.region_map != opts.map_method:
            raw = _raw_map(model, x, opts.region_map, opts)
        verdicts = _verdicts(model, raw, opts.region_map)
    vals = [t.detach().cpu().double().tolist() for t in (res.q, res.q_raw, res.q_se)]
    q100 = (opts.quality_100 or model.quality_100)(vals[1]).tolist()
    rows = zip(*vals, plq, q100, verdicts)
    return [_Score(*v, p, int(k), *r) for *v, p, k, r in rows]


def _other_map(model, x, opts: BatchOptions):
    """Q̂, the ``--map`` method's maps as shown (per-face ranks in [0, 1]), and as computed."""
    from ..core.maps import map_spec
    from ..core.quality import serfiq_quality

    res = serfiq_quality(model, x, n_passes=opts.n_passes, seed=opts.seed)
    raw = _raw_map(model, x, opts.map_method, opts)
    shown = map_spec(opts.map_method).as_shown(raw)
    return res, list(shown.detach().cpu().numpy()), raw


def _raw_map(model, x, method: str, opts: BatchOptions):
    """``method``'s maps of ``x`` with the run's T and seed (the registry's defaults)."""
    from ..core.maps import map_spec

    spec = map_spec(method)
    return spec.fn(model, x, **spec.defaults(opts.n_passes, opts.seed, False))


def _verdicts(model, maps, method: str) -> list[tuple[str, float]]:
    """(lowest region, z-score) per map, against the network's packaged reference."""
    from ..evaluation.regions import lowest_region, network_region_reference

    ref = network_region_reference(model.name, method)
    # Two decimals: maps agree across batch compositions only to float32 rounding, which
    # a z-score amplifies; the rounded score keeps --shard/--resume rows identical.
    out = [lowest_region(m, ref) for m in maps.detach().cpu().numpy()]
    return [(region, f"{score:.2f}") for region, score in out]


def face_row(
    item: InputItem,
    face,
    n_faces: int,
    score: _Score | Exception,
    opts,
    not_a_face: bool = False,
) -> list[str]:
    """The results row of one scored face, after writing its map (and figure) files.

    The one row-making code of every engine (this module's thread pipeline and the Ray
    engine), so both write the same columns and statuses. Never raises: a face that
    fails (in the model or while writing) gets its failure row.
    """
    source, k = item.source, face.index
    try:
        if isinstance(score, Exception):
            raise score
        map_file = ""
        if opts.maps_dir is not None:
            stem = f"{output_stem(item.path)}_{k}"
            write_face_files(
                opts.maps_dir,
                stem,
                face.image,
                score.plq,
                score.q,
                score.q_se,
                opts.figures,
                verdict=_verdict_text(score),
            )
            map_file = f"{stem}.npy"
        return make_row(
            source,
            face=k,
            status="ok",
            quality=score.q,
            quality_raw=score.q_raw,
            map_file=map_file,
            quality_se=score.q_se,
            n_faces=n_faces,
            quality_100=score.q100,
            not_a_face=int(not_a_face),
            lowest_region=score.region,
            lowest_region_score=score.region_score,
        )
    except Exception as exc:  # a face that fails is recorded, the run goes on
        log.debug("face %d of %s failed", k, source, exc_info=True)
        status, reason = failure(exc)
        log.info("%s face %d: %s (%s)", source, k, status, reason)
        return make_row(source, face=k, status=status, error=reason, n_faces=n_faces)


def failure_row(item: InputItem, status: str, reason: str) -> list[str]:
    """The one row of an input that gave no face to score."""
    log.info("%s: %s (%s)", item.source, status, reason)
    return make_row(item.source, status=status, error=reason, n_faces=0)


def _verdict_text(score: _Score) -> str | None:
    from ..evaluation.regions import verdict_text

    return verdict_text(score.region, float(score.region_score)) if score.region else None
