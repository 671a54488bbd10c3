"""Option groups that several subcommands share (``argparse`` parents)."""

from __future__ import annotations

import argparse

from . import argtypes


def _shard(text: str) -> tuple[int, int]:
    from ..batch import parse_shard
    from ..errors import InvalidArgumentError

    try:
        return parse_shard(text)
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def common_parents() -> dict[str, argparse.ArgumentParser]:
    """Fresh ``logs``, ``model`` and ``inputs`` option groups."""
    from ..core import CPU_CHUNK, DEVICE_CHUNK, MAX_PASSES
    from ..data import MIN_FACE_SIZE

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
        help=f"faces per model call (default {CPU_CHUNK} on CPU, {DEVICE_CHUNK} on GPU)",
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
        help="continue the run whose results are in --out: keep its finished rows, do only "
        "the rest (refused when any setting differs from the earlier run's)",
    )
    inputs.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results already in --out (the table, its records and the maps "
        "and figures its rows name); without it or --resume such an --out is refused",
    )
    inputs.add_argument(
        "--shard",
        type=_shard,
        default=None,
        metavar="i/n",
        help="process only part i of n (1-based) of the expanded input list",
    )
    return {"logs": logs, "model": model, "inputs": inputs}


def add_settings_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--settings",
        default=None,
        metavar="FILE",
        help="quality_100 map written by `pixelfiq quality --calibrate` (default: the "
        "network's own, fitted on reference faces; see `pixelfiq models --verbose`)",
    )


def optional_inputs(parent: argparse.ArgumentParser) -> None:
    """Let INPUT be left out (``quality --calibrate DIR`` needs none); checked in the command."""
    for action in parent._actions:
        if action.dest == "inputs":
            action.nargs = "*"


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
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


def run_settings(args: argparse.Namespace) -> dict:
    """The keyword settings of :func:`pixelfiq_lib.batch.run_items` from parsed options."""
    import sys

    return dict(
        model=args.model,
        passes=args.passes,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        faces=args.faces,
        min_face_size=args.min_face_size,
        resume=args.resume,
        overwrite=getattr(args, "overwrite", False),
        shard=args.shard,
        map_method=getattr(args, "map", "plq"),
        region_map=_region_map(getattr(args, "region_map", "recommended")),
        settings=getattr(args, "settings", None),
        figures=getattr(args, "figures", "png"),
        engine=getattr(args, "engine", "local"),
        address=getattr(args, "address", None),
        progress=not args.quiet and sys.stderr.isatty(),
    )


def _region_map(name: str | None) -> str | None:
    """``--region-map``: a map name, or ``none`` (no region verdicts) as ``None``."""
    return None if name is None or name.strip().lower() == "none" else name


def say(text: str) -> None:
    """A closing line for the user: to stderr (stdout carries only data), even with --quiet."""
    import sys

    print(f"pixelfiq: {text}", file=sys.stderr, flush=True)


def report_run(run, where: str) -> int:
    """Print a batch run's summary and where its results are; the exit status (0 or 1)."""
    say(run.summary)
    maps = f"; maps <name>-<hash>_<face>.npy/.png in {run.maps_dir}" if run.maps_dir else ""
    say(where + maps)
    return 0 if run.all_ok else 1
