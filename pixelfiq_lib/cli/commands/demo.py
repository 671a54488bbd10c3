"""``pixelfiq demo``: :func:`pixelfiq_lib.batch.demo`, the main job of ``make demo``."""

from __future__ import annotations

import argparse

from ... import batch
from ..options import report_run, run_settings, say


def add_parser(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    from ...data import MIN_FACE_SIZE

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
        func=run,
        aligned=False,
        faces="all",
        min_face_size=MIN_FACE_SIZE,
        resume=False,
        shard=None,
    )


def run(args: argparse.Namespace) -> int:
    """Explain insightface's sample photos (6 faces in a group photo, one aligned crop)."""
    kw = run_settings(args)
    run, overview = batch.demo(args.out, **kw)
    code = report_run(run, f"results in {run.csv_path}")
    figures = sorted(run.maps_dir.glob("*-*_*.png"))
    say(
        f"{len(figures)} figures (aligned face | PLQ map | overlay), e.g. {figures[0]}"
        if figures
        else "no figures were made"
    )
    if overview is not None:
        say(f"all faces and maps in one picture: {overview}")
    return code
