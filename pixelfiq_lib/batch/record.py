"""What a results table says about how it was made: ``<table>.settings.json``.

Every setting that changes a row is recorded (network and the SHA-256 pinned for its
weights, map method, passes, seed, aligned, faces, minimum face size, the quality_100
map and the content hash of ``--settings``, the pixelfiq version) together with what
the table covers: the hash of the whole expanded input list, its length, the shard
``i/n`` and whether the run finished. The record is written atomically when the run
starts (``finished: false``) and again when it ends (``finished: true``).

``--resume`` compares the settings both ways (a setting recorded before and missing
now, or the reverse, differs too) and refuses any difference, naming each setting with
both values; ``merge`` refuses unfinished shards and shards of other input lists or
settings (:mod:`.merge`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import InvalidArgumentError, UsageError
from ..files import atomic_write
from .inputs import InputItem, display_path

log = logging.getLogger(__name__)

#: Version of the record's layout; a record without ``format`` is of pixelfiq 0.1.0.
FORMAT = 2
#: Settings the record of pixelfiq 0.1.0 did not hold: not compared when resuming such a
#: table (with a warning). Its ``map`` was recorded only when it was not ``plq``.
NOT_RECORDED_BEFORE = ("aligned", "model_sha256", "settings_sha256", "pixelfiq")
#: Keys of the record that are not settings.
NOT_SETTINGS = ("format", "coverage")


def settings_path(csv_path: Path) -> Path:
    """Where a run's settings are kept: ``results.csv`` -> ``results.settings.json``."""
    return csv_path.with_name(f"{csv_path.stem}.settings.json")


def inputs_digest(items: Sequence[InputItem]) -> str:
    """SHA-256 of the expanded input list (resolved paths and ``aligned``, in order)."""
    h = hashlib.sha256()
    for it in items:
        h.update(os.fsencode(os.path.realpath(it.path)) + b"\0" + bytes([it.aligned]) + b"\n")
    return h.hexdigest()


def file_sha256(path: str | os.PathLike | None) -> str | None:
    """SHA-256 of a file's bytes (``None`` for no file)."""
    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise UsageError(f"--settings {os.fspath(path)!r} cannot be read: {exc.strerror}") from exc


def write_record(csv_path: Path, settings: dict, coverage: dict) -> None:
    """Write ``<table>.settings.json`` atomically (``settings`` plus ``coverage``)."""
    record = {"format": FORMAT, **settings, "coverage": coverage}
    data = json.dumps(record, indent=1, sort_keys=True).encode()
    atomic_write(settings_path(csv_path), lambda fh: fh.write(data))


def mark_finished(csv_path: Path) -> None:
    """Set ``coverage.finished`` in the table's record: the run wrote every input's rows."""
    record = read_record(csv_path)
    record.setdefault("coverage", {})["finished"] = True
    data = json.dumps(record, indent=1, sort_keys=True).encode()
    atomic_write(settings_path(csv_path), lambda fh: fh.write(data))


def read_record(csv_path: Path) -> dict:
    """The record of the table ``csv_path``.

    Raises:
        UsageError: it is missing, unreadable or not a settings record.
    """
    path = settings_path(csv_path)
    where = display_path(path)
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{where} is missing, so the settings of {display_path(csv_path)} cannot be "
            "checked; use --overwrite to start again, or another --out"
        ) from None
    except OSError as exc:
        raise UsageError(f"{where} cannot be read: {exc.strerror or exc}") from exc
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, too deeply nested
        raise UsageError(
            f"{where} is damaged (not a pixelfiq settings record); use --overwrite to "
            "start again, or another --out"
        ) from exc
    if not isinstance(record, dict):
        raise UsageError(f"{where} is damaged (not a pixelfiq settings record)")
    return record


def settings_of(record: dict) -> dict:
    """The settings of a record, with the defaults of earlier records filled in (pixelfiq
    0.1.0's ``map``; ``region_map`` = the map shown, which named the regions before)."""
    settings = {k: v for k, v in record.items() if k not in NOT_SETTINGS}
    if "format" not in record:
        settings.setdefault("map", "plq")
    if "region_map" not in record:  # before region_map: the verdicts came from the map shown
        shown = settings.get("map", "plq") if settings.get("command") != "quality" else ""
        settings["region_map"] = shown
    return settings


def compare_settings(record: dict, now: dict, csv_path: Path) -> None:
    """Refuse ``--resume`` when any setting differs, in either direction.

    Raises:
        UsageError: the earlier run used other settings (each named with both values).
    """
    before = settings_of(record)
    skip: tuple[str, ...] = ()
    if "format" not in record:
        skip = tuple(k for k in NOT_RECORDED_BEFORE if k not in before)
        if skip:
            log.warning(
                "%s was written by an earlier pixelfiq that did not record %s; "
                "resuming on trust that they are the same",
                display_path(settings_path(csv_path)),
                ", ".join(skip),
            )
    keys = sorted((set(before) | set(now)) - set(skip))
    diff = [k for k in keys if before.get(k) != now.get(k)]
    if diff:
        text = "; ".join(f"{k} was {_show(before.get(k))}, now {_show(now.get(k))}" for k in diff)
        raise UsageError(
            f"--resume: the earlier run used other settings ({text}); use the same ones, "
            "--overwrite to start again, or another --out"
        )


def _show(value: object) -> str:
    return "not set" if value is None else json.dumps(value)


def unwritable(path: Path, exc: OSError) -> UsageError:
    """The refusal of an output that cannot be written (read-only, no permission, full)."""
    return UsageError(
        f"cannot write {display_path(path)}: {exc.strerror or exc}; give an --out "
        "where pixelfiq may write"
    )


def resumable_rows(opts) -> list[list[str]]:
    """The finished rows of the earlier run into ``opts.csv_path`` (``--resume``).

    Raises:
        UsageError: other settings, a damaged record or a file that is not a table.
    """
    from .table import finished_rows, read_results

    if not opts.csv_path.is_file():
        log.info("nothing to resume in %s; starting a new table", display_path(opts.csv_path))
        return []
    compare_settings(read_record(opts.csv_path), opts.settings(), opts.csv_path)
    try:
        rows = read_results(opts.csv_path)
    except InvalidArgumentError as exc:
        raise UsageError(f"--resume: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"--resume: cannot read {display_path(opts.csv_path)}: {exc}") from exc
    return finished_rows(rows, opts.maps_dir, opts.figures)
