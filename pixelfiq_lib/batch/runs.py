"""The runs behind ``pixelfiq explain``, ``quality``, ``quality --calibrate``, ``demo`` and
``merge``, as library calls that return what they wrote.

Example:
    >>> run = pfl.explain_folder("sface", ["photos/"], "out/photos", map_method="recommended")
    >>> run.table.sort_values("quality").head()     # the lowest-quality faces

Taught in: README.md (command-line use and the library)
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
    check_replace,
    check_table_file,
    collect_inputs,
    load_quality_100,
    output_folder,
    remove_results,
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
    overwrite: bool = False,
    shard: tuple[int, int] | None = None,
    map_method: str = "plq",
    region_map: str | None = "recommended",
    settings: str | os.PathLike | None = None,
    figures: str = "png",
    engine: str = "local",
    address: str | None = None,
    progress: bool = False,
    command: str = "",
) -> BatchRun:
    """Check every setting, then shard the inputs, create ``maps_dir`` (marked as output)
    and run the batch under the table's lock (loading the network only when a face needs
    it); return what was written.

    ``model`` is a network name or an :class:`~pixelfiq_lib.models.FRModel` (the local
    engine only); the other settings are the command's options of the same names.
    ``items`` is the whole expanded input list (the table records its hash, so that
    ``merge`` can check that shards cover one list). A table that already holds results
    is continued only with ``resume`` and replaced only with ``overwrite`` (which
    removes its maps too); ``command`` ``"demo"``/``"calibrate"`` replace their own.

    Raises:
        UsageError: a refused run; nothing was created or written.
    """
    from ..config import get_device
    from ..core.batching import chunk_size
    from ..core.maps import resolve_map_method
    from ..data import MIN_FACE_SIZE
    from ..models import load_model
    from . import pipeline
    from .lock import check_free, output_lock
    from .record import file_sha256, inputs_digest

    _check_engine(engine, address, model, resume, overwrite)
    name = model.lower() if isinstance(model, str) else model.name
    dev = get_device(device) if isinstance(model, str) else model.device
    everything = list(items)
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
        model_sha256=_weights_sha256(name),
        map_method=resolve_map_method(map_method),
        region_map=resolve_map_method(region_map) if region_map and maps_dir else "",
        progress=progress,
        quality_100=load_quality_100(settings, name),
        settings_sha256=file_sha256(settings),
        figures=figures,
        aligned=_aligned(everything),
        command=command,
        shard=shard,
        inputs_sha256=inputs_digest(everything),
        n_inputs=len(everything),
    )
    items = select_shard(everything, shard)
    flags = {}  # each method once, named by the first option that asks for it
    for flag, method in (("--map", opts.map_method), ("--region-map", opts.region_map)):
        if method:
            flags.setdefault(method, flag)
    for method, flag in flags.items():
        model = _check_applicable(model, dev, method, flag=flag, keep=engine != "ray")
    check_free(csv_path)  # a run in progress is named before its results are
    check_replace(csv_path, maps_dir, resume=resume, overwrite=overwrite, command=command)
    if maps_dir is not None:
        output_folder(maps_dir)
    with output_lock(csv_path):
        if overwrite:
            remove_results(csv_path, maps_dir)
        if engine == "ray":
            rows = _run_ray(items, opts, device, address, batch_size)
        else:
            factory = (lambda: load_model(model, device=dev)) if isinstance(model, str) else None
            rows = pipeline.run_batch(items, factory or (lambda: model), opts)
    text, all_ok = pipeline.summarise(rows)
    return BatchRun(csv_path, rows, all_ok, text, maps_dir)


def _check_applicable(model, device, map_method: str, *, flag: str, keep: bool):
    """Refuse a map method the network cannot run (GraFIQs' map without BatchNorm running
    statistics) before anything is written. A network name is loaded for the check and,
    with ``keep``, returned loaded so the run does not load it twice.

    Raises:
        UsageError: naming the option (``flag``), the method and why it cannot run on this
            network.
    """
    from ..core.maps import map_spec
    from ..errors import MethodNotApplicableError
    from ..models import load_model

    spec = map_spec(map_method)
    if spec.requires is None:
        return model
    loaded = load_model(model, device=device) if isinstance(model, str) else model
    try:
        spec.requires(loaded)
    except MethodNotApplicableError as exc:
        raise UsageError(f"{flag} {spec.name}: {exc}") from exc
    return loaded if keep else model


def _check_engine(engine, address, model, resume, overwrite) -> None:
    """Refuse settings that cannot go together, before anything is written."""
    if resume and overwrite:
        raise UsageError(
            "--resume keeps the earlier results and --overwrite removes them; give one"
        )
    if engine not in ("local", "ray"):
        raise UsageError(f"--engine must be local or ray, got {engine!r}")
    if engine != "ray":
        if address:
            raise UsageError("--address needs --engine ray")
        return
    if not isinstance(model, str):
        raise UsageError("engine='ray' loads the network on each worker: give its name")
    if resume:
        raise UsageError("--resume is not supported with --engine ray; use another --out")
    if address:
        _ray_engine().check_address(address)  # bounded: a dead cluster hangs ray.init


def _ray_engine():
    """:mod:`.ray_engine` (imports Ray); UsageError without Ray."""
    try:
        from . import ray_engine
    except ImportError as exc:
        raise UsageError(f"--engine ray needs Ray: pip install 'pixelfiq[scale]' ({exc})") from exc
    return ray_engine


def _weights_sha256(name: str) -> str:
    """The SHA-256 pinned for a shipped network's weights (``""`` for another network)."""
    from ..models import MODELS

    info = MODELS.get(name)
    return info.weights_sha256 if info is not None else ""


def _aligned(items: Sequence[InputItem]) -> bool | str:
    kinds = {bool(it.aligned) for it in items}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _run_ray(items, opts, device, address, batch_size) -> list:
    """The run on a Ray cluster (:mod:`.ray_engine`), its address already checked."""
    return _ray_engine().run_ray(
        items, opts, device=device, address=address, batch_size=batch_size, check=False
    )


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
            or ``"recommended"``), ``region_map`` (the map that names each face's
            ``lowest_region``: ``"recommended"`` by default, computed in addition when
            ``map_method`` is another; ``None`` = no region verdicts), ``passes``,
            ``seed``, ``faces``, ``resume``, ``shard``, ``settings``, ``figures``, ... as
            in :func:`run_items`.
    Returns:
        the :class:`BatchRun`; ``run.table`` is the results table as a DataFrame.
    Raises:
        UsageError: the run is refused before anything is written (see the module).
    """
    check_run(model, settings.get("device"))
    check_out_folder(out, [os.fspath(p) for p in inputs])
    check_map(settings.get("map_method", "plq"))
    if settings.get("region_map"):
        check_map(settings["region_map"], "--region-map")
    folder = Path(out)
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
    from ..files import is_image_name

    check_run(model, settings.get("device"))
    if not os.fspath(out).strip():
        raise UsageError("--out is empty (an unset shell variable?); give a .csv file name")
    if is_image_name(os.fspath(out)):
        raise UsageError(f"--out {os.fspath(out)!r} is named like an image; give a .csv file name")
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
    table = out.with_name(f"{out.stem}.faces.csv")
    run = run_items(items, table, None, model=model, command="calibrate", **settings)
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
    folder = Path(out)
    paths = sample_image_paths()
    items = [
        InputItem(str(paths[name]), display_path(paths[name]), aligned=aligned)
        for name, aligned in DEMO_IMAGES.items()
    ]
    run = run_items(items, folder / "results.csv", folder, model=model, command="demo", **settings)
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


def merge_tables(
    shards: Sequence[str], out: str | os.PathLike | None = None, *, overwrite: bool = False
):
    """Join the shard tables of one ``shard`` run into one table (checked, input order).

    Refuses unfinished shards, shards of other input lists or settings, missing,
    repeated or overlapping shards, an ``out`` that is one of the shards, and an ``out``
    holding the results of another run unless ``overwrite`` (:mod:`.merge`).

    Returns:
        (the merged table's path, its rows, the shard tables merged).
    Raises:
        InvalidArgumentError: the shards are not the finished parts of one run.
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
        path, rows = merge_shards(paths, out, overwrite=overwrite)
    return path, rows, paths
