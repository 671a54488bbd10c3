"""Occluder localisation: does a map put a known, quality-lowering occluder lowest?

Known occluders are pasted at seeded positions on aligned faces and every map method is
judged on the same faces, with a bootstrap 95 % confidence interval over faces:

* ``loc_auroc`` — pixel ROC AUC of (1 - map) for the occluder's pixels against the rest
  of the face box :data:`OCC_BOX` (1 = every occluder pixel lower than every other face
  pixel, 0.5 = chance);
* ``loc_auroc_delta`` — the same for the map's change from the unoccluded face's map;
* ``pointing`` — the lowest-mean window of the occluder's size overlaps it (IoU >= 0.5);
* ``delta_q`` — the Q̂ change the occluder caused (judge a map only where Q̂ fell).

Occluders (:data:`OCCLUDERS`): ``black`` (0), ``mean`` (the face's mean colour),
``noise`` (i.i.d. N(128, 64²), clipped), ``blur`` (the face blurred with sigma 8 px
inside the square), squares of 20-50 px fully inside :data:`OCC_BOX`; ``sunglasses``
and ``real_mask`` (insightface's mask textures) from :func:`.perturbations.disturb`;
``eye_square`` (a 40 px black square centred on the image-left eye for even faces, the
image-right eye for odd faces), ``mouth_square`` (40 px) and ``cheek_square`` (30 px, the
image-left cheek for even faces) for the region verdicts (:data:`VERDICT_SQUARES`).
:data:`UNTUNED_SQUARES` were added after every map constant was chosen and no map was
tuned on them: ``white`` (255, glare or a sticker), ``pixelate`` (8 px block means of
the face, a mosaic) and ``checker`` (a 6 px black-and-white checkerboard, a printed
pattern).

Constants of the maps were chosen on the bbt identities :data:`FIT_IDENTITIES`;
report on the others (:func:`report_faces`).

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from .. import data
from ..core.maps import (
    list_map_methods,
    map_settings,
    map_spec,
    refused_maps,
    resolve_map_method,
)
from ..core.quality import serfiq_quality
from ..errors import InvalidArgumentError
from ..models.base import FRModel
from .perturbations import disturb, mask_textures
from .progress import progress
from .regions import lowest_region, network_region_reference
from .stats import ci_record

#: Where squares are placed, ``(x0, y0, x1, y1)`` exclusive end, of the 112x112 crop;
#: also the region whose other pixels are the negatives of ``loc_auroc``.
OCC_BOX = (20, 24, 92, 104)
#: Occluder kinds no map constant was ever chosen on (added after the maps were tuned).
UNTUNED_SQUARES = ("white", "pixelate", "checker")
SQUARES = ("black", "mean", "noise", "blur", *UNTUNED_SQUARES)
OCCLUDERS = (*SQUARES, "sunglasses", "real_mask")
SIZES = (20, 30, 40, 50)
METRICS = ("loc_auroc", "loc_auroc_delta", "pointing", "delta_q")
#: bbt identities the map constants, mean face and region references were fitted on.
FIT_IDENTITIES = ("amy", "bernadette", "howard", "leonard")
#: The map methods registered when this module was imported (the paper's ``plq``, the
#: library's maps, the Captum / pytorch-grad-cam baselines and ``random``); the benchmark
#: judges :func:`~pixelfiq_lib.core.maps.list_map_methods` (the live registry) by default.
LOC_METHODS = tuple(list_map_methods())
#: Black squares over one face region, for the region verdicts: ``kind: (side in px,
#: (centre of even faces, centre of odd faces), (region named right on even faces, on odd
#: faces))``. Eyes on the template's eye landmarks; the mouth between the mouth corners;
#: the cheeks 30 px (a 40 px square there covers the mouth and nose too). Fixed before the
#: mouth and cheek verdicts were first measured.
VERDICT_SQUARES = {
    "eye_square": (
        40,
        (tuple(data.ARCFACE_TEMPLATE[0]), tuple(data.ARCFACE_TEMPLATE[1])),
        ("left_eye", "right_eye"),
    ),
    "mouth_square": (40, ((56.0, 92.0), (56.0, 92.0)), ("mouth", "mouth")),
    "cheek_square": (30, ((34.0, 78.0), (78.0, 78.0)), ("left_cheek", "right_cheek")),
}
#: Occluders whose region verdicts are measured (the squares above and sunglasses).
VERDICT_KINDS = ("eye_square", "sunglasses", "mouth_square", "cheek_square")


# ----------------------------------------------------------------------- occluders
def box_region(box: tuple[int, int, int, int] = OCC_BOX, size: int = 112) -> np.ndarray:
    """(size, size) bool mask of ``(x0, y0, x1, y1)`` (exclusive end)."""
    m = np.zeros((size, size), bool)
    m[box[1] : box[3], box[0] : box[2]] = True
    return m


def paste_occluder(
    face: np.ndarray,
    kind: str,
    size: int = 40,
    *,
    rng: np.random.Generator | None = None,
    texture: np.ndarray | None = None,
    at: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paste one occluder on an aligned face.

    Args:
        face: (112, 112, 3) uint8 RGB aligned face (not modified).
        kind: one of :data:`OCCLUDERS` (``real_mask`` needs ``texture``).
        size: square side in px (squares only).
        rng: positions and noise (``default_rng(0)`` if None).
        at: ``(x0, y0)`` of the square's corner instead of a random position.
    Returns:
        ``(image, mask)``: (112, 112, 3) uint8 and the exact (112, 112) bool mask of
        the pixels that changed.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    if kind in ("sunglasses", "real_mask"):
        out = disturb(face, kind, texture)
    elif kind in SQUARES:
        x0b, y0b, x1b, y1b = OCC_BOX
        if not 1 <= size <= min(x1b - x0b, y1b - y0b):
            raise InvalidArgumentError(f"square size must be 1..72 px, got {size}")
        if at is None:
            at = (int(rng.integers(x0b, x1b - size + 1)), int(rng.integers(y0b, y1b - size + 1)))
        sl = (slice(at[1], at[1] + size), slice(at[0], at[0] + size))
        out = face.copy()
        if kind == "black":
            out[sl] = 0
        elif kind == "mean":
            out[sl] = np.round(face.reshape(-1, 3).mean(0)).astype(np.uint8)
        elif kind == "noise":
            noise = rng.normal(128.0, 64.0, out[sl].shape)
            out[sl] = np.clip(np.round(noise), 0, 255).astype(np.uint8)
        elif kind == "white":
            out[sl] = 255
        elif kind == "pixelate":
            patch = face[sl]
            small = cv2.resize(patch, (-(-size // 8),) * 2, interpolation=cv2.INTER_AREA)
            out[sl] = cv2.resize(small, (size, size), interpolation=cv2.INTER_NEAREST)
        elif kind == "checker":
            yy, xx = np.mgrid[:size, :size] // 6
            out[sl] = (((yy + xx) % 2) * 255).astype(np.uint8)[..., None]
        else:
            out[sl] = cv2.GaussianBlur(face, (0, 0), 8.0)[sl]
    else:
        raise InvalidArgumentError(f"unknown occluder {kind!r}; known: {OCCLUDERS}")
    return out, (out != face).any(axis=2)


def occluded_faces(
    faces: Sequence[np.ndarray], kind: str, size: int = 40, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """Seeded occluders on every face: (images, (N, 112, 112) bool masks).

    ``kind="eye_square"`` puts a ``size`` px black square on the image-left eye of even
    faces and the image-right eye of odd ones; ``"mouth_square"`` and ``"cheek_square"``
    likewise on the mouth and on a cheek (:data:`VERDICT_SQUARES`). Positions, noise and
    mask textures come from ``default_rng([seed, crc32(kind), size])``.
    """
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode()), int(size)])
    textures = list(mask_textures().values()) if kind == "real_mask" else [None]
    out = []
    for i, face in enumerate(faces):
        if kind in VERDICT_SQUARES:
            ex, ey = VERDICT_SQUARES[kind][1][i % 2]
            at = (int(round(ex)) - size // 2, int(round(ey)) - size // 2)
            out.append(paste_occluder(face, "black", size, at=at))
        else:
            tex = textures[int(rng.integers(len(textures)))] if kind == "real_mask" else None
            out.append(paste_occluder(face, kind, size, rng=rng, texture=tex))
    return [o[0] for o in out], np.stack([o[1] for o in out])


# ------------------------------------------------------------------------- metrics
def loc_auroc(
    qmap: np.ndarray | torch.Tensor, occ: np.ndarray, region: np.ndarray | None = None
) -> float:
    """Pixel ROC AUC of (1 - map) for occluder pixels vs the rest of ``region``.

    Args:
        qmap: (H, W) map, higher = more useful. occ: (H, W) bool occluder pixels.
        region: (H, W) bool; negatives are ``region & ~occ`` (default :data:`OCC_BOX`).
    Returns:
        AUROC in [0, 1], ties count one half (a constant map gives 0.5).
    """
    from scipy.stats import rankdata

    qmap = np.asarray(torch.as_tensor(qmap).detach().cpu(), np.float64)
    occ = np.asarray(occ, bool)
    region = box_region(size=qmap.shape[0]) if region is None else np.asarray(region, bool)
    pos, neg = -qmap[occ], -qmap[region & ~occ]
    if not len(pos) or not len(neg):
        raise InvalidArgumentError("loc_auroc needs occluder pixels and other region pixels")
    ranks = rankdata(np.concatenate([pos, neg]))
    n1, n0 = len(pos), len(neg)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def lowest_window(
    qmap: np.ndarray, h: int, w: int, box: tuple[int, int, int, int] = OCC_BOX
) -> tuple[int, int, int, int]:
    """The ``h`` x ``w`` window inside ``box`` with the lowest mean map: (x0, y0, x1, y1)."""
    s = cv2.integral(np.ascontiguousarray(qmap, np.float64))
    win = s[h:, w:] - s[:-h, w:] - s[h:, :-w] + s[:-h, :-w]
    x0b, y0b, x1b, y1b = box
    inside = win[y0b : y1b - h + 1, x0b : x1b - w + 1]
    y, x = np.unravel_index(int(np.argmin(inside)), inside.shape)
    return x0b + int(x), y0b + int(y), x0b + int(x) + w, y0b + int(y) + h


def pointing(qmap: np.ndarray | torch.Tensor, occ: np.ndarray, threshold: float = 0.5) -> bool:
    """Does the lowest-mean window of the occluder's bounding-box size hit it (IoU >= 0.5)?

    The window is searched in :data:`OCC_BOX`, widened to the occluder's bounding box
    when the occluder sticks out of it (the face mask).
    """
    qmap = np.asarray(torch.as_tensor(qmap).detach().cpu(), np.float64)
    ys, xs = np.nonzero(occ)
    h, w = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
    box = (
        min(OCC_BOX[0], int(xs.min())),
        min(OCC_BOX[1], int(ys.min())),
        max(OCC_BOX[2], int(xs.max()) + 1),
        max(OCC_BOX[3], int(ys.max()) + 1),
    )
    win = box_region(lowest_window(qmap, h, w, box), qmap.shape[0])
    return bool((win & occ).sum() / (win | occ).sum() >= threshold)


# -------------------------------------------------------------------- map computing
def compute_maps(
    model: FRModel,
    x: torch.Tensor,
    methods: Sequence[str],
    method_kwargs: dict[str, dict] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Maps of several methods on one batch, sharing work between related methods.

    A method with a ``derived_from`` in its :class:`~pixelfiq_lib.core.maps.MapSpec`
    (``plq_smooth`` from ``plq``, ``quality_gradient_smooth`` from
    ``plq_quality_gradient``, ``counterfactual_prior`` from ``counterfactual``) is its
    base's maps, computed with the base's ``method_kwargs``, through its transform.

    Returns:
        (``{method: (B, H, W) float64 array}``, ``{method: seconds}``); a derived
        method's seconds include its base method's. ``"recommended"`` is keyed by the
        method it stands for.
    """
    kw = method_kwargs or {}
    methods = list(dict.fromkeys(resolve_map_method(m) for m in methods))
    maps: dict[str, torch.Tensor] = {}
    secs: dict[str, float] = {}

    def run(name: str) -> None:
        if name in maps:
            return
        start = time.perf_counter()
        derived = map_spec(name).derived_from
        if derived is None:
            maps[name] = map_spec(name).fn(model, x, **kw.get(name, {}))
            secs[name] = time.perf_counter() - start
            return
        run(derived.base)
        maps[name] = derived.transform(maps[derived.base], x)
        secs[name] = secs[derived.base] + time.perf_counter() - start

    for name in methods:
        run(name)
    out = {k: maps[k].detach().cpu().double().numpy() for k in methods}
    return out, {k: secs[k] for k in methods}


def forward_backward_seconds(model: FRModel, x: torch.Tensor) -> float:
    """Seconds per face of one forward + backward pass of the network (the cost unit)."""
    xx = x[: min(len(x), 8)].detach().clone().requires_grad_(True)
    model(xx).sum().backward()  # warm-up
    xx = xx.detach().clone().requires_grad_(True)
    start = time.perf_counter()
    model(xx).sum().backward()
    return (time.perf_counter() - start) / len(xx)


def report_faces(faces_by_identity: dict[str, list]) -> tuple[list, list[str]]:
    """The faces of every identity not in :data:`FIT_IDENTITIES`: (faces, identities)."""
    names = [k for k in sorted(faces_by_identity) if k not in FIT_IDENTITIES]
    return [f for k in names for f in faces_by_identity[k]], names


def pick_report_faces(faces_by_identity: dict[str, list], n: int = 0) -> list[np.ndarray]:
    """``n`` REPORT face images, round-robin over the identities (all when ``n`` = 0).

    Args:
        faces_by_identity: ``{identity: [AlignedFace, ...]}``, e.g. :func:`.data.bbt_faces`.
    Returns:
        (112, 112, 3) uint8 images of identities outside :data:`FIT_IDENTITIES`, the
        first face of each identity, then the second, ... (sorted identities).
    """
    groups = [[f.image for f in faces_by_identity[k]] for k in report_faces(faces_by_identity)[1]]
    out = [g[i] for i in range(max(map(len, groups), default=0)) for g in groups if i < len(g)]
    return out if n == 0 else out[:n]


# ----------------------------------------------------------------------- benchmark
def localisation_benchmark(
    model: FRModel,
    faces: Sequence[np.ndarray],
    *,
    methods: Sequence[str] | None = None,
    occluders: Sequence[str] = OCCLUDERS,
    sizes: Sequence[int] = SIZES,
    seed: int = 0,
    n_passes: int = 100,
    method_kwargs: dict[str, dict] | None = None,
    verdicts: bool = True,
) -> dict:
    """Occluder-localisation records of every map method on ``faces``.

    Args:
        model: an :class:`FRModel`. faces: (112, 112, 3) uint8 aligned faces (use faces
            that no constant was fitted on, e.g. :func:`report_faces` of bbt).
        methods: map method names (every registered one by default; ``"recommended"`` is
            recorded as the method it stands for).
        occluders: :data:`OCCLUDERS`; squares at every size of ``sizes``, the others once
            (size 0 in the records).
        seed: occluder positions and the dropout masks. n_passes: T of Q̂ (delta_q) and of
            the gradient maps. method_kwargs: per-method options over the CPU-sized
            defaults of :func:`~pixelfiq_lib.core.maps.map_settings` (the same settings
            as the deletion curves).
        verdicts: also measure region verdicts (:data:`VERDICT_KINDS`: black squares over
            an eye, the mouth and a cheek, and sunglasses).
    Returns:
        ``{"records": [{map_method, model, occluder, size, metric, mean, ci_low,
        ci_high, n}], "costs": [{map_method, model, seconds_per_face,
        fwd_bwd_equivalents}], "verdicts": [{map_method, model, occluder, accuracy,
        n, named}], "refused": {method: reason}}``; ``delta_q`` records have
        ``map_method`` None; a method that cannot run on ``model`` (GraFIQs without
        BatchNorm statistics) is left out and named in ``refused`` with the reason.
    Taught in: 05_evaluation_metrics.ipynb
    """
    faces = list(faces)
    if len(faces) < 2:
        raise InvalidArgumentError("localisation_benchmark needs at least 2 faces")
    methods = list_map_methods() if methods is None else methods
    methods = list(dict.fromkeys(resolve_map_method(m) for m in methods))
    refused = refused_maps(model, methods)
    methods = [m for m in methods if m not in refused]
    kw = {**map_settings(n_passes, seed), **(method_kwargs or {})}
    x0 = data.to_tensor(faces).to(model.device)
    fb = forward_backward_seconds(model, x0)
    q0 = serfiq_quality(model, x0, n_passes=n_passes, seed=seed).q.cpu().numpy()
    clean, secs = compute_maps(model, x0, methods, kw)
    total = dict(secs)
    n_maps = 1
    configs = [(k, s) for k in occluders for s in (sizes if k in SQUARES else (0,))]
    if verdicts:
        configs += [(k, v[0]) for k, v in VERDICT_SQUARES.items()]
        configs += [] if "sunglasses" in occluders else [("sunglasses", 0)]
    records, verdict_rows = [], []
    for kind, size in progress(configs, f"{model.name}: localisation", unit="occluder"):
        imgs, masks = occluded_faces(faces, kind, size or 40, seed)
        x = data.to_tensor(imgs).to(model.device)
        dq = serfiq_quality(model, x, n_passes=n_passes, seed=seed).q.cpu().numpy() - q0
        maps, secs = compute_maps(model, x, methods, kw)
        n_maps += 1
        for k, v in secs.items():
            total[k] += v
        keys = {"model": model.name, "occluder": kind, "size": int(size)}
        if kind in occluders:  # the verdicts' extra configs add no records
            records.append(ci_record(dq.tolist(), map_method=None, metric="delta_q", **keys))
        for name, m in maps.items():
            per = {
                "loc_auroc": [loc_auroc(m[i], masks[i]) for i in range(len(faces))],
                "loc_auroc_delta": [
                    loc_auroc(m[i] - clean[name][i], masks[i]) for i in range(len(faces))
                ],
                "pointing": [float(pointing(m[i], masks[i])) for i in range(len(faces))],
            }
            if kind in occluders:
                for metric, vals in per.items():
                    records.append(ci_record(vals, map_method=name, metric=metric, **keys))
            if verdicts and kind in VERDICT_KINDS:
                verdict_rows.append(_verdicts(model.name, name, kind, m))
    costs = [
        {
            "map_method": k,
            "model": model.name,
            "seconds_per_face": v / n_maps / len(faces),
            "fwd_bwd_equivalents": v / n_maps / len(faces) / fb,
        }
        for k, v in total.items()
    ]
    return {"records": records, "costs": costs, "verdicts": verdict_rows, "refused": refused}


def _verdicts(model_name: str, method: str, kind: str, maps: np.ndarray) -> dict:
    """Share of faces whose lowest region (vs the network's reference) is the covered one."""
    ref = network_region_reference(model_name, method)
    named = [lowest_region(m, ref)[0] for m in maps]
    if kind in VERDICT_SQUARES:
        want = [{VERDICT_SQUARES[kind][2][i % 2]} for i in range(len(maps))]
    else:
        want = [{"left_eye", "right_eye"}] * len(maps)
    hits = [float(n in w) for n, w in zip(named, want)]
    counts = {r: named.count(r) for r in sorted(set(named))}
    ci = ci_record(hits)
    return {
        "map_method": method,
        "model": model_name,
        "occluder": kind,
        "accuracy": float(np.mean(hits)),
        "ci_low": ci["ci_low"],
        "ci_high": ci["ci_high"],
        "n": len(hits),
        "named": counts,
        "reference": ref is not None,
    }
