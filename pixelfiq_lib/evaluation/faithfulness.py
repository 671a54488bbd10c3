"""Deletion and insertion curves (DEC/IEC) and their summary table.

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .. import data
from ..core.fills import fill_images
from ..core.maps import (
    list_map_methods,
    map_settings,
    map_spec,
    refused_maps,
    resolve_map_method,
)
from ..core.scoring import score_images, unit_embeddings
from ..data.checks import check_images
from ..errors import InvalidArgumentError
from ..models.base import FRModel
from .stats import bootstrap_ci

TRACKS = ("quality", "cosine")
ORDERS = ("low_first", "high_first")

log = logging.getLogger(__name__)


# ------------------------------------------------------------- deletion / insertion
@dataclass
class FaithfulnessCurve:
    """Deletion or insertion curves of a batch of faces.

    Attributes:
        kind: ``"deletion"`` or ``"insertion"``; order: ``"low_first"`` or
            ``"high_first"``; fill: what removed (not yet inserted) pixels show.
        fractions: (S+1,) fraction of pixels deleted (inserted), 0 .. 1.
        quality: (B, S+1) SER-FIQ Q̂ after each step, or ``None`` if not tracked.
        cosine: (B, S+1) cosine to the unmodified image's embedding, or ``None``.
        auc_quality, auc_cosine: (B,) trapezoid areas over the fractions, or ``None``.
    """

    kind: str
    order: str
    fill: str
    fractions: torch.Tensor
    quality: torch.Tensor | None
    cosine: torch.Tensor | None
    auc_quality: torch.Tensor | None
    auc_cosine: torch.Tensor | None


def pixel_ranks(maps: torch.Tensor, order: str = "low_first", seed: int = 0) -> torch.Tensor:
    """Position of every pixel in the removal order; ties are broken at random.

    Args:
        maps: (B, H, W) maps, higher = more useful.
        order: ``"low_first"`` (least useful first) or ``"high_first"``.
        seed: seed of the tie-breaking permutation (a tie must not mean "top rows
            first").
    Returns:
        (B, H, W) long tensor; rank 0 goes first.
    """
    if order not in ORDERS:
        raise InvalidArgumentError(f"order must be one of {ORDERS}, got {order!r}")
    flat = maps.detach().flatten(1).float()
    flat = flat if order == "low_first" else -flat
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    perm = torch.randperm(flat.shape[1], generator=gen).to(flat.device)
    sequence = perm[torch.argsort(flat[:, perm], dim=1, stable=True)]
    positions = torch.arange(flat.shape[1], device=flat.device).expand_as(sequence)
    return torch.empty_like(sequence).scatter_(1, sequence, positions).view_as(maps)


def step_images(
    image: torch.Tensor, fill: torch.Tensor, ranks: torch.Tensor, steps: int, kind: str
) -> torch.Tensor:
    """All S+1 images of one face's curve at once.

    Args:
        image, fill: (3, H, W) the face and its fill image.
        ranks: (H, W) from :func:`pixel_ranks`.
        steps: S. kind: ``"deletion"`` (step k shows ``fill`` on the first k/S of
            the pixels) or ``"insertion"`` (step k shows ``image`` there, ``fill``
            elsewhere).
    Returns:
        (S+1, 3, H, W).
    """
    counts = torch.linspace(0, ranks.numel(), steps + 1, device=ranks.device).round()
    chosen = (ranks[None] < counts[:, None, None])[:, None]
    new, old = (fill, image) if kind == "deletion" else (image, fill)
    return torch.where(chosen, new[None], old[None])


def trapezoid_auc(values: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """(B, S+1) curve values over fractions 0..1 -> (B,) trapezoid area (x-range 1)."""
    return torch.trapezoid(values, fractions, dim=-1) / (fractions[-1] - fractions[0])


def _curve(
    model: FRModel,
    images: torch.Tensor,
    maps: torch.Tensor,
    *,
    kind: str,
    order: str,
    steps: int,
    fill: str,
    track: Sequence[str],
    n_passes: int,
    seed: int,
    chunk_size: int | None,
) -> FaithfulnessCurve:
    images = check_images(images, model)
    if maps.shape != (images.shape[0], *images.shape[2:]) or steps < 1:
        raise InvalidArgumentError(
            f"need (B, H, W) maps matching the images and steps >= 1, got maps "
            f"{tuple(maps.shape)} for images {tuple(images.shape)}, steps={steps}"
        )
    if not set(track) <= set(TRACKS):
        raise InvalidArgumentError(f"track must be a subset of {TRACKS}, got {track!r}")
    ranks = pixel_ranks(maps.to(images.device), order, seed)
    fills = fill_images(images, fill)
    seq = torch.cat([step_images(*a, steps, kind) for a in zip(images, fills, ranks)])
    ref = unit_embeddings(model, images, chunk_size).repeat_interleave(steps + 1, 0)
    q, cos = score_images(
        model,
        seq,
        ref if "cosine" in track else None,
        seed=seed,
        n_passes=n_passes if "quality" in track else 0,
        chunk_size=chunk_size,
    )
    frac = torch.linspace(0, 1, steps + 1, device=images.device)
    q, cos = (None if v is None else v.view(len(images), -1) for v in (q, cos))
    auc = [None if v is None else trapezoid_auc(v, frac) for v in (q, cos)]
    return FaithfulnessCurve(kind, order, fill, frac, q, cos, *auc)


def deletion_curve(
    model: FRModel,
    images: torch.Tensor,
    maps: torch.Tensor,
    *,
    order: str = "low_first",
    steps: int = 20,
    fill: str = "mean",
    track: Sequence[str] = TRACKS,
    n_passes: int = 100,
    seed: int = 0,
    chunk_size: int | None = None,
) -> FaithfulnessCurve:
    """Delete pixels in the order of a map; track Q̂ and the cosine to e0 (DEC).

    Expected for a faithful usefulness map: ``order="low_first"`` keeps Q̂ and the
    cosine high for long (large AUC); ``"high_first"`` drops them fast (small AUC);
    a random map lies in between. Both orders start at the unmodified image (cosine
    1) and end at the fully filled image.

    Args:
        model: an :class:`FRModel`; its device is used.
        images: (B, 3, 112, 112) float32 RGB 0..255.
        maps: (B, 112, 112), higher = more useful (any map method of
            :func:`~pixelfiq_lib.core.maps.quality_map`).
        order: ``"low_first"`` or ``"high_first"``.
        steps: S; the curve has S+1 points at fractions k/S of the pixels.
        fill: ``"mean"`` (each image's mean colour; default), ``"blur"`` (Gaussian,
            sigma 8) or ``"black"``. Deletion and insertion default to different
            fills (mean / blur, the RISE pairing): with one fill for both, inserting
            high-first is deleting low-first played backwards, with the same AUC.
        track: any of ``"quality"`` (SER-FIQ Q̂) and ``"cosine"``.
        n_passes, seed: SER-FIQ settings (the seed also breaks ties in the map).
        chunk_size: images per forward pass; all S+1 images of every face are built
            at once and scored in chunks.
    Returns:
        A :class:`FaithfulnessCurve`.
    Example:
        >>> cur = deletion_curve(model, x, plq_map(model, x), order="high_first")
        >>> cur.auc_cosine  # (B,), small = the map found the important pixels
    Taught in: 05_evaluation_metrics.ipynb
    """
    return _curve(
        model,
        images,
        maps,
        kind="deletion",
        order=order,
        steps=steps,
        fill=fill,
        track=track,
        n_passes=n_passes,
        seed=seed,
        chunk_size=chunk_size,
    )


def insertion_curve(
    model: FRModel,
    images: torch.Tensor,
    maps: torch.Tensor,
    *,
    order: str = "high_first",
    steps: int = 20,
    fill: str = "blur",
    track: Sequence[str] = TRACKS,
    n_passes: int = 100,
    seed: int = 0,
    chunk_size: int | None = None,
) -> FaithfulnessCurve:
    """Insert pixels, most useful first, into the fill; track Q̂ and cosine (IEC).

    Step 0 is the fill image (blurred by default), step S the unmodified image
    (cosine 1). Expected for a faithful usefulness map: Q̂ and the cosine come back
    fast (large AUC), faster than with a random map. Arguments as in
    :func:`deletion_curve`.

    Returns:
        A :class:`FaithfulnessCurve` (``fractions`` = fraction inserted).
    Taught in: 05_evaluation_metrics.ipynb
    """
    return _curve(
        model,
        images,
        maps,
        kind="insertion",
        order=order,
        steps=steps,
        fill=fill,
        track=track,
        n_passes=n_passes,
        seed=seed,
        chunk_size=chunk_size,
    )


# ---------------------------------------------------------------------------- table
def curve_records(curve: FaithfulnessCurve, method: str, model_name: str) -> list[dict]:
    """One record per tracked quantity of a curve (mean, sample std, n over faces).

    Returns:
        ``{map_method, model, metric, mean, std, n, ci_low, ci_high}`` dicts, metric
        names as in :func:`faithfulness_table`; ``ci_low``/``ci_high`` is the 95 %
        percentile bootstrap CI of the mean over faces (1000 resamples, seed 0).
    """
    is_del = curve.kind == "deletion"
    stem = f"deletion_auc_{curve.order}" if is_del else "insertion_auc"
    out = []
    for track, auc in (("quality", curve.auc_quality), ("cosine", curve.auc_cosine)):
        if auc is not None:
            std = float(auc.std()) if len(auc) > 1 else 0.0
            _, lo, hi = bootstrap_ci(auc.detach().cpu().double().numpy())
            out.append(
                {
                    "map_method": method,
                    "model": model_name,
                    "metric": f"{stem}_{track}",
                    "mean": float(auc.mean()),
                    "std": std,
                    "n": len(auc),
                    "ci_low": lo,
                    "ci_high": hi,
                }
            )
    return out


def faithfulness_table(
    model: FRModel,
    images: torch.Tensor,
    methods: Sequence[str] | None = None,
    *,
    method_kwargs: dict[str, dict] | None = None,
    steps: int = 20,
    deletion_fill: str = "mean",
    insertion_fill: str = "blur",
    track: Sequence[str] = TRACKS,
    n_passes: int = 100,
    seed: int = 0,
    chunk_size: int | None = None,
) -> list[dict]:
    """Deletion (low- and high-first) and insertion AUCs of several map methods.

    Args:
        model: an :class:`FRModel`; images: (B, 3, 112, 112) float32 RGB 0..255.
        methods: map method names (:func:`~pixelfiq_lib.core.maps.list_map_methods`, all by default;
            ``"recommended"`` is recorded as the method it stands for).
        method_kwargs: extra keyword arguments per method, e.g.
            ``{"integrated_gradients": {"n_steps": 16}}``.
        deletion_fill, insertion_fill: the ``fill`` of each kind of curve.
        steps, track, n_passes, seed, chunk_size: as in :func:`deletion_curve`.
    Returns:
        Records ``{map_method, model, metric, mean, std, n}``; the metrics are
        ``deletion_auc_low_first_<t>`` (higher = better),
        ``deletion_auc_high_first_<t>`` (lower = better) and ``insertion_auc_<t>``
        (higher = better), t in ``track``; ``std`` is the sample standard deviation
        over the faces (0 for one face).
    Example:
        >>> pd.DataFrame(faithfulness_table(model, x, ["plq", "random"]))
    Taught in: 05_evaluation_metrics.ipynb
    """
    methods = _resolve(methods)
    kw = dict(steps=steps, track=track, n_passes=n_passes, seed=seed, chunk_size=chunk_size)
    records = []
    for name in methods:
        maps = map_spec(name).fn(model, images, **(method_kwargs or {}).get(name, {}))
        for curve in (
            deletion_curve(model, images, maps, order="low_first", fill=deletion_fill, **kw),
            deletion_curve(model, images, maps, order="high_first", fill=deletion_fill, **kw),
            insertion_curve(model, images, maps, fill=insertion_fill, **kw),
        ):
            records.extend(curve_records(curve, name, model.name))
    return records


# -------------------------------------------------------------- faithfulness
def _resolve(methods: Sequence[str] | None) -> list[str]:
    """Registered method names, ``"recommended"`` resolved, each once (all if None)."""
    names = list_map_methods() if methods is None else methods
    return list(dict.fromkeys(resolve_map_method(m) for m in names))


def faithfulness_settings(n_passes: int, seed: int, fast: bool = False) -> dict[str, dict]:
    """Deprecated name of :func:`pixelfiq_lib.core.maps.map_settings` (same result)."""
    return map_settings(n_passes, seed, fast)


def faithfulness_curves(
    model: FRModel,
    faces: list[np.ndarray],
    *,
    methods: Sequence[str] | None = None,
    steps: int = 10,
    n_passes: int = 100,
    seed: int = 0,
    fast: bool = False,
) -> tuple[list[dict], dict[str, list[FaithfulnessCurve]], dict[str, float]]:
    """Deletion (low- and high-first) and insertion curves of every map method.

    Args:
        model: an :class:`FRModel`. faces: (112, 112, 3) uint8 RGB aligned faces.
        methods: map method names (all registered ones by default; ``"recommended"``
            is recorded as the method it stands for).
        steps: curve steps S (S + 1 points). n_passes, seed: SER-FIQ settings.
        fast: the smaller method settings of :func:`~pixelfiq_lib.core.maps.map_settings`.
    Returns:
        (records ``{map_method, model, metric, mean, std, n}`` as in
        :func:`faithfulness.faithfulness_table`, ``{method: [deletion low-first,
        deletion high-first, insertion]}`` curves, ``{method: seconds}``); a method that
        cannot run on ``model`` is left out with a logged warning naming the reason.
    Taught in: 05_evaluation_metrics.ipynb
    """
    x = data.to_tensor(faces).to(model.device)
    kw = dict(steps=steps, n_passes=n_passes, seed=seed)
    settings = map_settings(n_passes, seed, fast)
    from .progress import progress

    records, curves, seconds = [], {}, {}
    names = _resolve(methods)
    refused = refused_maps(model, names)
    for name, reason in refused.items():
        log.warning("%s: %s left out of the deletion curves: %s", model.name, name, reason)
    names = [n for n in names if n not in refused]
    for name in progress(names, f"{model.name}: deletion/insertion", unit="map"):
        start = time.perf_counter()
        maps = map_spec(name).fn(model, x, **settings[name])
        curves[name] = [
            deletion_curve(model, x, maps, order="low_first", **kw),
            deletion_curve(model, x, maps, order="high_first", **kw),
            insertion_curve(model, x, maps, **kw),
        ]
        records += [r for c in curves[name] for r in curve_records(c, name, model.name)]
        seconds[name] = time.perf_counter() - start
    return records, curves, seconds
