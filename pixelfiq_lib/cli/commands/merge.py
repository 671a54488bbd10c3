"""``pixelfiq merge``: :func:`pixelfiq_lib.batch.merge_tables`."""

from __future__ import annotations

import argparse

from ... import batch
from ..options import say


def add_parser(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
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
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an --out that holds the results of another run",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The shard tables of one run, checked and joined in input order."""
    path, rows, paths = batch.merge_tables(args.shards, args.out, overwrite=args.overwrite)
    n_inputs = len({row[0] for row in rows})
    say(f"{len(rows)} rows of {n_inputs} inputs from {len(paths)} shards merged into {path}")
    return 0
