"""``pixelfiq merge``: join the shard tables of one run into one results table.

``--shard i/n`` writes ``<table>-shard<i>of<n>.csv`` (``results-shard1of4.csv`` in an
``explain`` folder, ``x-shard1of4.csv`` for ``quality --out x.csv``), each with its
``.settings.json``. ``merge`` checks that the shards are the n parts of one run (same
n, every part once, the same settings), then writes ``<table>.csv`` in the order an
unsharded run would have (shard i holds inputs i-1, i-1+n, ...), and its settings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import InvalidArgumentError
from ..files import atomic_write
from .inputs import COLUMNS, display_path
from .table import _csv_bytes, inputs_path, read_input_keys, read_results

SHARD_NAME = re.compile(r"(?P<stem>.+)-shard(?P<i>\d+)of(?P<n>\d+)(?P<suffix>\.csv)")


def shard_tables(args: list[str]) -> list[Path]:
    """CSV files named on the command line, folders expanded to their shard tables."""
    paths: list[Path] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if SHARD_NAME.fullmatch(p.name))
            if not found:
                raise InvalidArgumentError(f"no *-shardIofN.csv tables in {display_path(path)}")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise InvalidArgumentError(f"no such shard table: {display_path(path)}")
    return paths


def merge_shards(paths: list[Path], out: Path | None = None) -> tuple[Path, list[list[str]]]:
    """Merge the shard tables ``paths`` into ``out`` (default: the name without the suffix).

    Returns:
        The merged table's path and its rows.
    Raises:
        InvalidArgumentError: a name that is not ``*-shardIofN.csv``, shards of different
            tables or counts, a missing or repeated part, a file that is not a results
            table, or shards run with other settings.
    """
    parts: dict[int, Path] = {}
    keys = set()
    for path in paths:
        match = SHARD_NAME.fullmatch(path.name)
        if not match:
            raise InvalidArgumentError(f"{display_path(path)} is not named <table>-shardIofN.csv")
        i, n = int(match["i"]), int(match["n"])
        keys.add((path.parent.resolve(), match["stem"], n))
        if i in parts or not 1 <= i <= n:
            raise InvalidArgumentError(f"shard {i}/{n} is given twice or is out of range")
        parts[i] = path
    if len(keys) != 1:
        raise InvalidArgumentError("the shard tables come from different runs or shard counts")
    ((folder, stem, n),) = keys
    missing = sorted(set(range(1, n + 1)) - set(parts))
    if missing:
        raise InvalidArgumentError(f"shards {missing} of {n} are missing; run them first")
    settings = [_settings(parts[i]) for i in range(1, n + 1)]
    if any(s != settings[0] for s in settings):
        diff = {k for s in settings for k in s if s.get(k) != settings[0].get(k)}
        raise InvalidArgumentError(
            f"the shards were run with other settings ({', '.join(sorted(diff))} differ); "
            "rerun them with the same ones"
        )
    groups = [_groups(read_results(parts[i])) for i in range(1, n + 1)]
    rows = [
        row
        for j in range(max(len(g) for g in groups))
        for g in groups
        if j < len(g)
        for row in g[j]
    ]
    out = out or folder / f"{stem}.csv"
    atomic_write(out, lambda fh: fh.write(_csv_bytes([COLUMNS, *rows])))
    meta = json.dumps(settings[0], indent=1, sort_keys=True).encode()
    atomic_write(out.with_name(f"{out.stem}.settings.json"), lambda fh: fh.write(meta))
    keys = {k: v for i in range(1, n + 1) for k, v in read_input_keys(parts[i]).items()}
    identities = json.dumps(keys, indent=0, sort_keys=True).encode()
    atomic_write(inputs_path(out), lambda fh: fh.write(identities))  # so --resume works on it
    return out, rows


def _settings(table: Path) -> dict:
    path = table.with_name(f"{table.stem}.settings.json")
    if not path.is_file():
        raise InvalidArgumentError(
            f"{display_path(path)} is missing: cannot check that the shards match"
        )
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"{display_path(path)} cannot be read: {exc}") from exc


def _groups(rows: list[list[str]]) -> list[list[list[str]]]:
    """Rows grouped by input, in the order of the table."""
    groups: dict[str, list[list[str]]] = {}
    for row in rows:
        groups.setdefault(row[0], []).append(row)
    return list(groups.values())
