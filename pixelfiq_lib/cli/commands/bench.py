"""``pixelfiq bench``: options of :func:`pixelfiq_lib.speed.run_benchmark`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ... import speed
from ...config import get_device
from ...speed_maps import map_rows_wanted
from .. import argtypes


def add_parser(sub, parents=None) -> None:
    """``pixelfiq bench`` and its options."""
    parser = sub.add_parser("bench", help="time the networks and the PLQ pipeline")
    parser.set_defaults(func=run)
    METHODS, BenchSettings = speed.METHODS, speed.BenchSettings

    d = BenchSettings()
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument(
        "--models", nargs="+", default=None, help="networks (default: every installed one)"
    )
    parser.add_argument(
        "--batches", nargs="+", type=argtypes.positive, default=[1, 8, 32], help="batch sizes"
    )
    parser.add_argument(
        "--passes", type=argtypes.passes, default=d.n_passes, help="SER-FIQ passes T"
    )
    parser.add_argument(
        "--repeats", type=argtypes.positive, default=d.repeats, help="timed calls (median kept)"
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--maps",
        nargs="+",
        default=["all"],
        metavar="MAP",
        help="map methods timed at batch 8 as map:NAME rows (forward+backward equivalents): "
        "'all' (default), 'none', or names",
    )
    parser.add_argument(
        "--chunk-size", type=argtypes.positive, default=None, help="faces per pass (default: PLQ's)"
    )
    parser.add_argument(
        "--few", type=argtypes.positive, default=d.few, help="images for naive_plq, captum_*"
    )
    parser.add_argument(
        "--few-repeats",
        type=argtypes.positive,
        default=d.few_repeats,
        help="timed rounds for those",
    )
    parser.add_argument(
        "--threads",
        type=argtypes.positive,
        default=None,
        help="torch CPU threads (default: torch's)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``pixelfiq bench``: write the JSON report and print a table; exit status."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.models or speed.ready_models()
    if not names:
        print("no installed network to benchmark (see `pixelfiq models`)")
        return 1
    s = speed.BenchSettings(
        n_passes=args.passes,
        repeats=args.repeats,
        chunk_size=args.chunk_size,
        few=args.few,
        few_repeats=args.few_repeats,
    )
    speed.warn_if_busy()
    maps = map_rows_wanted(args.maps)
    report = speed.run_benchmark(
        names, args.batches, get_device(args.device), s, args.methods, maps=maps
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(speed.format_table(report))
    print(f"written: {args.out}")
    return 0
