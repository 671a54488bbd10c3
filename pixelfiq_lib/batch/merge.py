"""``pixelfiq merge``: join the shard tables of one run into one results table.

``--shard i/n`` writes ``<table>-shard<i>of<n>.csv`` (``results-shard1of4.csv`` in an
``explain`` folder, ``x-shard1of4.csv`` for ``quality --out x.csv``), each with its
``.settings.json`` (:mod:`.record`: the settings, the hash and length of the whole
input list, ``i/n`` and whether the shard finished). ``merge`` checks that the shards
are the n finished parts of one run (same n, every part once, the same input list and
settings, each holding exactly the inputs of its part and no input twice), then writes
``<table>.csv`` in the order an unsharded run would have (shard i holds inputs i-1,
i-1+n, ...), with its record and input identities, so ``--resume`` works on it. An
``--out`` that is one of the shards is refused; one that holds other results needs
``overwrite``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import InvalidArgumentError, UsageError
from ..files import atomic_write
from .inputs import COLUMNS, display_path
from .record import read_record, settings_of, settings_path, unwritable, write_record
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


def merge_shards(
    paths: list[Path], out: Path | None = None, *, overwrite: bool = False
) -> tuple[Path, list[list[str]]]:
    """Merge the shard tables ``paths`` into ``out`` (default: the name without the suffix).

    Returns:
        The merged table's path and its rows.
    Raises:
        InvalidArgumentError: a name that is not ``*-shardIofN.csv``, shards of different
            tables or counts, a missing or repeated part, a file that is not a results
            table, an unfinished shard, shards of other input lists or settings, a shard
            that does not hold exactly its part, ``out`` among the shards, or ``out``
            holding other results without ``overwrite``.
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
    out = out or folder / f"{stem}.csv"
    _check_out(out, list(parts.values()))
    missing = sorted(set(range(1, n + 1)) - set(parts))
    if missing:
        raise InvalidArgumentError(f"shards {missing} of {n} are missing; run them first")
    records = [_record(parts[i], i, n) for i in range(1, n + 1)]
    covered = {(r["coverage"].get("inputs_sha256"), r["coverage"].get("n_inputs")) for r in records}
    if len(covered) != 1:
        raise InvalidArgumentError(
            "the shards were run on different input lists (a file added or removed between "
            "them, or other INPUTs); run every shard on the same INPUTs"
        )
    settings = [settings_of(r) for r in records]
    if any(s != settings[0] for s in settings):
        diff = {
            k for s in settings for k in set(s) | set(settings[0]) if s.get(k) != settings[0].get(k)
        }
        raise InvalidArgumentError(
            f"the shards were run with other settings ({', '.join(sorted(diff))} differ); "
            "rerun them with the same ones"
        )
    total = records[0]["coverage"]["n_inputs"]
    groups = [_groups(read_results(parts[i])) for i in range(1, n + 1)]
    _check_parts(groups, total, n, parts)
    rows = [
        row
        for j in range(max(len(g) for g in groups))
        for g in groups
        if j < len(g)
        for row in g[j]
    ]
    _check_replace(out, records[0], overwrite)
    coverage = {**records[0]["coverage"], "shard": None, "finished": True}
    keys = {k: v for i in range(1, n + 1) for k, v in read_input_keys(parts[i]).items()}
    identities = json.dumps(keys, indent=0, sort_keys=True).encode()
    try:
        atomic_write(out, lambda fh: fh.write(_csv_bytes([COLUMNS, *rows])))
        write_record(out, settings[0], coverage)
        atomic_write(inputs_path(out), lambda fh: fh.write(identities))  # for --resume
    except OSError as exc:
        raise unwritable(out, exc) from exc
    return out, rows


def _check_out(out: Path, shards: list[Path]) -> None:
    real = os.path.realpath(out)
    for path in shards:
        if real in (os.path.realpath(path), os.path.realpath(settings_path(path))):
            raise InvalidArgumentError(
                f"--out {display_path(out)} is one of the shards being merged; give another name"
            )


def _record(table: Path, i: int, n: int) -> dict:
    """The shard's record, checked: it says what it covers, that it is ``i/n``, finished."""
    try:
        record = read_record(table)
    except UsageError as exc:
        raise InvalidArgumentError(f"cannot check shard {i}/{n}: {exc}") from exc
    coverage = record.get("coverage")
    if not isinstance(coverage, dict) or "inputs_sha256" not in coverage:
        raise InvalidArgumentError(
            f"{display_path(table)} was written by an earlier pixelfiq that does not record "
            "what a shard covers; run that shard again"
        )
    if coverage.get("shard") != [i, n]:
        raise InvalidArgumentError(
            f"{display_path(table)} is named shard {i}/{n} but its record says "
            f"{coverage.get('shard')}; it was renamed or copied: run that shard again"
        )
    if not coverage.get("finished"):
        raise InvalidArgumentError(
            f"shard {i}/{n} ({display_path(table)}) did not finish (it was stopped, or is "
            "still running); finish it with --resume, then merge"
        )
    return record


def _check_parts(groups: list, total: int, n: int, parts: dict[int, Path]) -> None:
    """Each shard holds exactly the inputs of its part, each with all its face rows (or
    one failure row), and no input is in two shards."""
    seen: dict[str, int] = {}
    for i, shard in enumerate(groups, start=1):
        expected = len(range(i - 1, total, n))
        if len(shard) != expected:
            raise InvalidArgumentError(
                f"shard {i}/{n} ({display_path(parts[i])}) holds {len(shard)} inputs, its "
                f"part of the {total} inputs is {expected}; run it again with --overwrite"
            )
        for group in shard:
            faces = sorted(r[1] for r in group)
            n_faces = group[0][8]
            whole = faces == [""] or (
                n_faces.isdigit() and faces == sorted(map(str, range(int(n_faces))))
            )
            if not whole:
                raise InvalidArgumentError(
                    f"shard {i}/{n} ({display_path(parts[i])}) lacks face rows of "
                    f"{group[0][0]}; run it again with --overwrite"
                )
            other = seen.setdefault(group[0][0], i)
            if other != i:
                raise InvalidArgumentError(
                    f"the input {group[0][0]} is in shard {other}/{n} and in shard {i}/{n}; "
                    "the shards overlap: run them again on the same INPUTs"
                )


def _check_replace(out: Path, record: dict, overwrite: bool) -> None:
    """Replace ``out`` only when it is a merge of the same run, or with ``overwrite``."""
    if overwrite or not (out.exists() or settings_path(out).exists()):
        return
    try:
        read_results(out)
        before = read_record(out)
    except (InvalidArgumentError, UsageError, OSError) as exc:
        raise InvalidArgumentError(
            f"--out {display_path(out)} exists and is not a pixelfiq results table with its "
            "record; refusing to overwrite it (remove it or give another name)"
        ) from exc
    same = settings_of(before) == settings_of(record) and (
        before.get("coverage", {}).get("inputs_sha256") == record["coverage"]["inputs_sha256"]
    )
    if not same:
        raise InvalidArgumentError(
            f"--out {display_path(out)} holds the results of another run; give --overwrite "
            "to replace it, or another --out"
        )


def _groups(rows: list[list[str]]) -> list[list[list[str]]]:
    """Rows grouped by input, in the order of the table."""
    groups: dict[str, list[list[str]]] = {}
    for row in rows:
        groups.setdefault(row[0], []).append(row)
    return list(groups.values())
