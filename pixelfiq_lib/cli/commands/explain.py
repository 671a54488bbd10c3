"""``pixelfiq explain``: options of :func:`pixelfiq_lib.batch.explain_folder`."""

from __future__ import annotations

import argparse

from ... import batch
from ..options import add_engine_arguments, add_settings_option, report_run, run_settings, say


def add_parser(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "explain",
        parents=[parents["inputs"], parents["model"], parents["logs"]],
        help="PLQ maps, figures and results.csv",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_settings_option(p)
    p.add_argument(
        "--figures",
        choices=("png", "none"),
        default="png",
        help="a PNG figure per face beside its .npy map, or maps only (default png)",
    )
    add_engine_arguments(p)
    p.add_argument(
        "--map",
        default="plq",
        metavar="NAME",
        help="map method (default plq, the paper's map); recommended: the map the "
        "localisation benchmark recommends for 'what lowered this face's quality?' (the "
        "settings file records which); counterfactual, plq_smooth, quality_gradient, "
        "occlusion, ... (README; an unknown name lists them). Maps other than plq, "
        "counterfactual_prior and counterfactual_gradient are written as per-face ranks "
        "in [0, 1]",
    )
    p.add_argument(
        "--region-map",
        default="recommended",
        metavar="NAME",
        help="the map whose lowest region (against typical faces) fills the lowest_region "
        "column and the figure's verdict (default recommended; computed in addition when "
        "--map is another method, about 10 forward+backward passes per face on SFace); "
        "none: no region verdicts, the fastest run",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Maps, figures and the results table in ``--out``."""
    from ...core import packaged_stability

    run = batch.explain_folder(args.model, args.inputs, args.out, aligned=args.aligned, **_kw(args))
    check = packaged_stability(args.model)
    if check is not None and not check.judgeable:
        say(f"warning: {check.note()}")
    return report_run(run, f"results in {run.csv_path}")


def _kw(args: argparse.Namespace) -> dict:
    kw = run_settings(args)
    kw.pop("model")
    return kw
