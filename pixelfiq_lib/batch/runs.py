"""The runs behind ``pixelfiq explain``, ``quality``, ``quality --calibrate``, ``demo`` and
``merge``, as library calls that return what they wrote.

Example:
    >>> run = pfl.explain_folder("sface", ["photos/"], "out/photos", map_method="recommended")
    >>> run.table.sort_values("quality").head()     # the lowest-quality faces

Taught in: 08_explore_your_face_set.ipynb, README.md (command-line use)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import InvalidArgumentError, UsageError
from .api import (
    BatchRun,
    check_map,
    check_model,
    check_out_folder,
    check_table_file,
    collect_inputs,
    load_quality_100,
    output_folder,
    shard_path,
)
from .inputs import InputItem, display_path, select_shard

#: insightface sample images the demo explains, and whether each is an aligned crop.
#: (Its ``mask_*.jpg`` files are textures of face masks, without any face: left out.)
DEMO_IMAGES = {"t1": False, "Tom_Hanks_54745": True}


def check_run(model, device: str | None) -> None:
    """Refuse a bad device or network before anything is created or written.

    Raises:
        UsageError: a device that does not exist here, or an unknown/missing network.
    """
    from ..config import get_device

    try:
        get_device(device)
    except InvalidArgumentError as exc:
        raise UsageError(f"--device: {exc}") from exc
    if isinstance(model, str):
        check_model(model)


def run_items(
    items: Sequence[InputItem],
    csv_path: Path,
    maps_dir: Path | None,
    *,
    model="sface",
    passes: int = 100,
    seed: int = 0,
    batch_size: int | None = None,
    device: str | None = None,
    faces: str = "all",
    min_face_size: float | None = None,
    resume: bool = False,
    shard: tuple[int, int] | None = None,
    map_method: str = "plq",
    settings: str | os.PathLike | None = None,
    figures: str = "png",
    engine: str = "local",
    address: str | None = None,
    progress: bool = False,
) -> BatchRun:
    """Shard the inputs, run the batch under the table's lock (loading the network only
    when a face needs it) and return what was written.

    ``model`` is a network name or an :class:`~pixelfiq_lib.models.FRModel` (the local
    engine only); the other settings are the command's options of the same names.
    """
    from ..config import get_device
    from ..core.batching import chunk_size
    from ..core.maps import resolve_map_method
    from ..data import MIN_FACE_SIZE
    from ..models import load_model
    from . import pipeline
    from .lock import output_lock

    name = model.lower() if isinstance(model, str) else model.name
    dev = get_device(device) if isinstance(model, str) else model.device
    opts = pipeline.BatchOptions(
        csv_path=csv_path,
        maps_dir=maps_dir,
        n_passes=passes,
        seed=seed,
        batch_size=chunk_size(dev, batch_size),
        faces=faces,
        min_face_size=MIN_FACE_SIZE if min_face_size is None else min_face_size,
        resume=resume,
        model_name=name,
        map_method=resolve_map_method(map_method),
        progress=progress,
        quality_100=load_quality_100(settings, name),
        figures=figures,
    )
    items = select_shard(list(items), shard)
    with output_lock(csv_path):
        if engine == "ray":
            rows = _run_ray(items, opts, model, device, address, batch_size, resume)
        else:
            if address:
                raise UsageError("--address needs --engine ray")
            factory = (lambda: load_model(model, device=dev)) if isinstance(model, str) else None
            rows = pipeline.run_batch(items, factory or (lambda: model), opts)
    text, all_ok = pipeline.summarise(rows)
    return BatchRun(csv_path, rows, all_ok, text, maps_dir)


def _run_ray(items, opts, model, device, address, batch_size, resume) -> list:
    """The run on a Ray cluster (:mod:`.ray_engine`); UsageError without Ray."""
    if not isinstance(model, str):
        raise UsageError("engine='ray' loads the network on each worker: give its name")
    if resume:
        raise UsageError("--resume is not supported with --engine ray; use another --out")
    try:
        from . import ray_engine
    except ImportError as exc:
        raise UsageError(f"--engine ray needs Ray: pip install 'pixelfiq[scale]' ({exc})") from exc
    return ray_engine.run_ray(items, opts, device=device, address=address, batch_size=batch_size)


def explain_folder(
    model, inputs: Sequence[str], out: str | os.PathLike, *, aligned: bool = False, **settings
) -> BatchRun:
    """Maps (``.npy``), figures (``.png``) and ``out/results.csv`` for every face of
    ``inputs`` (files, folders searched recursively, glob patterns).

    Args:
        model: a network name (``"sface"``) or an :class:`~pixelfiq_lib.models.FRModel`.
        inputs: what to explain. out: the output folder (created and marked).
        aligned: inputs are aligned face crops (no detection).
        **settings: ``map_method`` (a name of :data:`~pixelfiq_lib.core.maps.MAP_METHODS`
            or ``"recommended"``), ``passes``, ``seed``, ``faces``, ``resume``,
            ``shard``, ``settings``, ``figures``, ... as in :func:`run_items`.
    Returns:
        the :class:`BatchRun`; ``run.table`` is the results table as a DataFrame.
    Raises:
        UsageError: the run is refused before anything is written (see the module).
    """
    check_run(model, settings.get("device"))
    check_out_folder(out, [os.fspath(p) for p in inputs])
    check_map(settings.get("map_method", "plq"))
    folder = output_folder(out)
    items = collect_inputs([os.fspath(p) for p in inputs], aligned, exclude=[folder])
    csv_path = shard_path(folder / "results.csv", settings.get("shard"))
    return run_items(items, csv_path, folder, model=model, **settings)


def quality_table(
    model, inputs: Sequence[str], out: str | os.PathLike, *, aligned: bool = False, **settings
) -> BatchRun:
    """The results table only (no maps) for every face of ``inputs``, in the file ``out``.

    Same settings as :func:`explain_folder` (without ``map_method`` and ``figures``).

    Raises:
        UsageError: ``out`` is empty, a folder or a file that is not a results table.
    """
    check_run(model, settings.get("device"))
    if not os.fspath(out).strip():
        raise UsageError("--out is empty (an unset shell variable?); give a .csv file name")
    csv_path = shard_path(Path(out), settings.get("shard"))
    if csv_path.is_dir() or Path(out).is_dir():
        raise UsageError(f"--out {os.fspath(out)!r} is a folder; give a .csv file name")
    check_table_file(csv_path)
    items = collect_inputs([os.fspath(p) for p in inputs], aligned)
    return run_items(items, csv_path, None, model=model, **settings)


def calibrate_quality_100(
    model, folder: str | os.PathLike, out: str | os.PathLike, **settings
) -> tuple[object | None, BatchRun]:
    """Score ``folder``'s faces (typical, good faces of a set), fit the quality_100 map
    to them and save it to ``out`` (a settings file for ``settings=``).

    Returns:
        (the fitted :class:`~pixelfiq_lib.core.scale100.Quality100`, or ``None`` when
        fewer than 5 faces were scored; the run, whose table ``out.faces.csv`` is kept).
    """
    from ..core.scale100 import fit_quality_100

    out = Path(out)
    if out.is_dir():
        raise UsageError(f"--out {os.fspath(out)!r} is a folder; give a settings file name")
    check_run(model, settings.get("device"))
    items = collect_inputs([os.fspath(folder)], settings.pop("aligned", False))
    run = run_items(items, out.with_name(f"{out.stem}.faces.csv"), None, model=model, **settings)
    q_raw = [float(r[4]) for r in run.rows if r[2] == "ok"]
    if len(q_raw) < 5:
        return None, run
    name = model.lower() if isinstance(model, str) else model.name
    where = f"{len(q_raw)} faces of {os.fspath(folder)} ({name}, T={settings.get('passes', 100)})"
    mapping = fit_quality_100(q_raw, model=name, fitted_on=where)
    mapping.save(out)
    return mapping, run


def demo(out: str | os.PathLike, model="sface", **settings) -> tuple[BatchRun, Path | None]:
    """Explain insightface's sample photos (6 faces in a group photo, one aligned crop)
    into ``out``; returns the run and ``out/overview.png`` (``None`` when no face)."""
    from ..data import sample_image_paths

    check_run(model, settings.get("device"))
    folder = output_folder(out)
    paths = sample_image_paths()
    items = [
        InputItem(str(paths[name]), display_path(paths[name]), aligned=aligned)
        for name, aligned in DEMO_IMAGES.items()
    ]
    run = run_items(items, folder / "results.csv", folder, model=model, **settings)
    has_figures = any(folder.glob("*-*_*.png"))
    return run, demo_overview(items, folder) if has_figures else None


def demo_overview(items: Sequence[InputItem], out: Path) -> Path:
    """``out/overview.png``: every demo face above its PLQ map, Q̂ in the titles."""
    import csv

    import numpy as np
    from matplotlib.figure import Figure

    from ..data import extract_faces
    from ..viz import plot_gallery

    with open(out / "results.csv", newline="", encoding="utf-8") as fh:
        rows = {(r["source"], int(r["face"])): r for r in csv.DictReader(fh) if r["status"] == "ok"}
    faces, maps, qs = [], [], []
    for item in items:
        for face in extract_faces(item.path, aligned=item.aligned):
            row = rows.get((item.source, face.index))
            if row:
                faces.append(face.image)
                maps.append(np.load(out / row["map_file"]))
                qs.append(float(row["quality"]))
    fig = Figure(figsize=(1.6 * len(faces), 3.3))
    plot_gallery(faces, maps, qs, axes=fig.subplots(2, len(faces), squeeze=False))
    fig.savefig(out / "overview.png", dpi=110, bbox_inches="tight")
    return out / "overview.png"


def merge_tables(shards: Sequence[str], out: str | os.PathLike | None = None):
    """Join the shard tables of one ``shard`` run into one table (checked, input order).

    Returns:
        (the merged table's path, its rows, the shard tables merged).
    """
    from .lock import output_lock
    from .merge import SHARD_NAME, merge_shards, shard_tables

    paths = shard_tables(list(shards))
    out = Path(out) if out else None
    if out is not None:
        check_table_file(out)
    match = SHARD_NAME.fullmatch(paths[0].name)
    target = out or paths[0].with_name(f"{match['stem']}.csv" if match else "results.csv")
    with output_lock(target):
        path, rows = merge_shards(paths, out)
    return path, rows, paths
