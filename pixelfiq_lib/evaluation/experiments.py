"""The paper's three experiments (squares, inpainting, disturbances) on aligned faces.

Taught in: 04_paper_experiments.ipynb
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import data
from ..core.backprop import pixel_quality_map
from ..evaluation.regions import region_summary
from ..models.base import FRModel
from .localisation import lowest_window as lowest_box_window
from .perturbations import (
    DISTURBANCES,
    FACE_BOX,
    SQUARE_SIDES,
    TURNED_YAW,
    _random_box,
    box_mask,
    disturb,
    disturbance_region,
    face_mask,
    fill_box,
    mask_textures,
    sunglasses_region,
)
from .verification import embed_faces


def evaluate_faces(
    model: FRModel,
    faces: list[np.ndarray],
    *,
    n_passes: int = 100,
    seed: int = 0,
    maps: bool = True,
) -> dict[str, np.ndarray]:
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
    res = pixel_quality_map(
        model, data.to_tensor(faces), n_passes=n_passes, seed=seed, on_degenerate="clamp"
    )
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


def _masked_means(plq: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
    """(B,) mean of each map inside its mask; NaN where a mask is empty."""
    return np.array([p[m].mean() if m.any() else np.nan for p, m in zip(plq, masks)], np.float64)


def region_comparison(
    plq: np.ndarray, masks: list[np.ndarray], plq_base: np.ndarray | None = None
) -> dict:
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
    cols = {
        "rest_image": _masked_means(plq, [~m for m in masks]),
        "rest_face": _masked_means(plq, [face & ~m for m in masks]),
    }
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


def square_experiment(
    model: FRModel,
    faces: list[np.ndarray],
    *,
    sides: tuple[int, ...] = SQUARE_SIDES,
    seed: int = 0,
    n_passes: int = 100,
    maps: bool = True,
) -> dict:
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
    Taught in: 04_paper_experiments.ipynb
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
    return {
        "n_faces": len(faces),
        "seed": seed,
        "n_passes": n_passes,
        "base": quality_stats(base),
        "by_side": rows,
    }


def lowest_window(plq: np.ndarray, size: int = 24) -> tuple[int, int, int, int]:
    """The ``size`` x ``size`` window inside :data:`FACE_BOX` with the lowest mean map.

    Args:
        plq: (112, 112) map, higher = more useful.
        size: window side in px.
    Returns:
        The box ``(x0, y0, x1, y1)``.
    """
    return lowest_box_window(plq, size, size, FACE_BOX)


def inpaint_region(face: np.ndarray, region: np.ndarray, radius: int = 3) -> np.ndarray:
    """``face`` (112, 112, 3) uint8 RGB with the bool ``region`` filled by ``cv2.inpaint``
    (Telea, ``radius`` px)."""
    return cv2.inpaint(
        np.ascontiguousarray(face), region.astype(np.uint8), radius, cv2.INPAINT_TELEA
    )


def inpainting_experiment(
    model: FRModel,
    faces: list[np.ndarray],
    *,
    window: int = 24,
    seed: int = 0,
    n_passes: int = 100,
    known_regions: list[np.ndarray] | None = None,
) -> dict:
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
    Taught in: 04_paper_experiments.ipynb
    """
    kw, rng = dict(n_passes=n_passes, seed=seed), np.random.default_rng(seed)
    before = evaluate_faces(model, faces, **kw)
    masks = [box_mask(lowest_window(p, window)) for p in before["plq"]]
    ctrl = [box_mask(_random_box(window, rng)) for _ in faces]
    after = evaluate_faces(model, [inpaint_region(f, m) for f, m in zip(faces, masks)], **kw)
    rand = evaluate_faces(
        model, [inpaint_region(f, m) for f, m in zip(faces, ctrl)], **kw, maps=False
    )
    out = {
        "n_faces": len(faces),
        "window": window,
        "before": quality_stats(before),
        "lowest": quality_stats(after, before),
        "random": quality_stats(rand, before),
        "frac_lowest_beats_random": float((after["q"] > rand["q"]).mean()),
        "plq_window_before_mean": float(np.mean(_masked_means(before["plq"], masks))),
        "plq_window_after_mean": float(np.mean(_masked_means(after["plq"], masks))),
    }
    if known_regions is not None:
        out["window_on_occluder_mean"] = float(
            np.mean([(m & k).sum() / m.sum() for m, k in zip(masks, known_regions)])
        )
        kernel = np.ones((3, 3), np.uint8)
        grown = [cv2.dilate(k.astype(np.uint8), kernel) > 0 for k in known_regions]
        oracle = [inpaint_region(f, k) for f, k in zip(faces, grown)]
        out["oracle"] = quality_stats(evaluate_faces(model, oracle, **kw, maps=False), before)
    return out


def map_region_means(plq: np.ndarray) -> dict[str, float]:
    """Mean over faces of each region's mean map (:func:`regions.region_summary`)."""
    stats = [region_summary(p) for p in plq]
    return {
        s.region: float(np.mean([f[k].mean_plq for f in stats])) for k, s in enumerate(stats[0])
    }


def _group(res: dict, base: dict | None, regions: list[np.ndarray] | None) -> dict:
    out = {**quality_stats(res, base), "regions": map_region_means(res["plq"])}
    if regions is not None:
        out.update(region_comparison(res["plq"], regions, None if base is None else base["plq"]))
    return out


def disturbance_experiment(
    model: FRModel,
    faces: list[np.ndarray],
    *,
    seed: int = 0,
    n_passes: int = 100,
    turned: list[np.ndarray] | None = None,
) -> dict:
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
    Taught in: 04_paper_experiments.ipynb
    """
    kw = dict(n_passes=n_passes, seed=seed)
    base = evaluate_faces(model, faces, **kw)
    tex = list(mask_textures().values())
    order = np.random.default_rng(seed).permutation(len(faces)) % len(tex)
    out = {"clean": _group(base, None, None)}
    for kind in DISTURBANCES:
        imgs = [disturb(f, kind, tex[t]) for f, t in zip(faces, order)]
        out[kind] = _group(
            evaluate_faces(model, imgs, **kw), base, [disturbance_region(kind)] * len(faces)
        )
    out["head_turn"] = (
        _group(evaluate_faces(model, turned, **kw), None, None)
        if turned
        else {"skipped": f"no face with |yaw proxy| >= {TURNED_YAW} in the set"}
    )
    return out


def paper_experiments(
    model: FRModel,
    faces: list[np.ndarray],
    *,
    seed: int = 0,
    n_passes: int = 100,
    turned: list[np.ndarray] | None = None,
    sides: tuple[int, ...] = SQUARE_SIDES,
) -> dict:
    """The paper's three experiments on good faces.

    Returns:
        ``{"squares": square_experiment, "inpainting": {"square_30": ..., "sunglasses":
        ...} (inpainting_experiment on faces carrying a seeded 30 px black square /
        drawn sunglasses), "disturbances": disturbance_experiment}``.
    Taught in: 04_paper_experiments.ipynb
    """
    from .progress import stage_bar

    kw = dict(seed=seed, n_passes=n_passes)
    rng = np.random.default_rng(seed + 1)
    boxes = [_random_box(30, rng) for _ in faces]
    glasses = [sunglasses_region()] * len(faces)
    bar = stage_bar(f"{model.name}: paper experiments", 4, unit="exp")
    try:
        squares = square_experiment(model, faces, sides=sides, **kw)
        bar.update(1)
        square_30 = inpainting_experiment(
            model,
            [fill_box(f, b) for f, b in zip(faces, boxes)],
            known_regions=[box_mask(b) for b in boxes],
            **kw,
        )
        bar.update(1)
        sunglasses = inpainting_experiment(
            model, [disturb(f, "sunglasses") for f in faces], known_regions=glasses, **kw
        )
        bar.update(1)
        disturbances = disturbance_experiment(model, faces, turned=turned, **kw)
        bar.update(1)
    finally:
        bar.close()
    return {
        "squares": squares,
        "inpainting": {"square_30": square_30, "sunglasses": sunglasses},
        "disturbances": disturbances,
    }
