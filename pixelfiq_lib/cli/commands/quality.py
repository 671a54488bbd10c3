"""``pixelfiq quality``: options of :func:`pixelfiq_lib.batch.quality_table` and
:func:`pixelfiq_lib.batch.calibrate_quality_100`."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ... import batch, list_quality_methods
from ...errors import UsageError
from ..options import (
    add_engine_arguments,
    add_settings_option,
    common_parents,
    optional_inputs,
    report_run,
    run_settings,
    say,
)


def add_parser(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    q_parents = common_parents()  # fresh actions: INPUT becomes optional for quality only
    optional_inputs(q_parents["inputs"])
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
    add_settings_option(p)
    add_engine_arguments(p)
    p.add_argument(
        "--method",
        action="append",
        default=None,
        choices=list_quality_methods(),
        metavar="NAME",
        help="quality method instead of the SER-FIQ table; repeat for several, one column "
        f"quality_NAME each ({', '.join(list_quality_methods())}; see notebook 09)",
    )
    p.add_argument(
        "--calibrate",
        default=None,
        metavar="DIR",
        help="fit the quality_100 map and its percentile table to DIR's faces (typical, "
        "good faces of your own set) and write them to a settings file for --settings",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The results table only (no maps), to a file or stdout; with ``--calibrate DIR``
    the quality_100 settings file of DIR's faces."""
    batch.check_run(args.model, args.device)
    if args.calibrate is not None:
        return _calibrate(args)
    if not args.inputs:
        raise UsageError("give at least one INPUT (or --calibrate DIR)")
    if args.method:
        return _methods(args)
    kw = run_settings(args)
    model = kw.pop("model")
    if args.out is not None:
        run = batch.quality_table(model, args.inputs, args.out, aligned=args.aligned, **kw)
        return report_run(run, f"results in {run.csv_path}")
    if args.resume or args.overwrite:
        flag = "--resume" if args.resume else "--overwrite"
        raise UsageError(f"{flag} needs --out FILE.csv")
    if sys.stdout is None or sys.stdout.closed:
        raise UsageError("stdout is closed; give --out FILE.csv")
    with tempfile.TemporaryDirectory(prefix="pixelfiq-") as tmp:
        run = batch.quality_table(
            model, args.inputs, Path(tmp) / "results.csv", aligned=args.aligned, **kw
        )
        code = report_run(run, "results written to stdout")
        sys.stdout.write(run.csv_path.read_text(encoding="utf-8"))
        sys.stdout.flush()
        return code


def _calibrate(args: argparse.Namespace) -> int:
    """``quality --calibrate DIR``: score DIR's faces, fit quality_100, write the settings."""
    from ...core import format_percentiles

    if args.inputs:
        raise UsageError("--calibrate DIR takes no other INPUT")
    out = Path(args.out or "pixelfiq-quality-100.json")
    kw = run_settings(args)
    for unused in ("model", "resume", "overwrite", "settings", "shard"):
        kw.pop(unused)
    mapping, run = batch.calibrate_quality_100(
        args.model, args.calibrate, out, aligned=args.aligned, shard=args.shard, **kw
    )
    report_run(run, f"results in {run.csv_path}")
    n_ok = sum(r[2] == "ok" for r in run.rows)
    if mapping is None:
        say(f"error: --calibrate needs 5 scored faces in {args.calibrate}, got {n_ok}")
        return 1
    say(f"quality_100 = round(100 / (1 + exp(-{mapping.slope:.6g} (Q - {mapping.centre:.6g}))))")
    say("percentiles of the same faces:\n" + format_percentiles(mapping))
    say(f"settings in {out}; use them with --settings {out}")
    return 0 if run.all_ok else 1


def _methods(args: argparse.Namespace) -> int:
    """``quality --method NAME ...``: the per-face table with a column per method."""
    if args.resume or args.shard or getattr(args, "engine", "local") != "local":
        raise UsageError("--method writes a plain table: no --resume, --shard or --engine ray")
    settings = {
        "serfiq": {"n_passes": args.passes, "seed": args.seed},
        "faceqan": {"seed": args.seed},
    }
    rows = batch.methods_table(
        args.model,
        args.inputs,
        args.out,
        args.method,
        aligned=args.aligned,
        faces=args.faces,
        settings=settings,
        device=args.device,
    )
    n_ok = sum(r["status"] == "ok" for r in rows)
    say(f"{n_ok} faces scored with {', '.join(dict.fromkeys(args.method))} ({len(rows)} rows)")
    if args.out is None:
        sys.stdout.write(batch.table_csv(rows, list(dict.fromkeys(args.method))))
        sys.stdout.flush()
    else:
        say(f"results in {args.out}")
    return 0 if n_ok == len(rows) else 1
