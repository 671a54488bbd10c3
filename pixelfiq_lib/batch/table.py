"""The results table of a batch run: rows, reading, resuming, appending."""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from ..errors import InvalidArgumentError, PixelfiqError
from ..files import atomic_write
from .inputs import COLUMNS, STATUSES, display_path
from .outputs import safe_join


# ------------------------------------------------------------------------ results table
def make_row(source: str, **fields: object) -> list[str]:
    """A results row in :data:`COLUMNS` order; floats get 6 decimals, missing fields ``""``."""
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise InvalidArgumentError(f"unknown result columns {sorted(unknown)}")
    fields["source"] = source
    return [_cell(fields.get(c, "")) for c in COLUMNS]


def _cell(value: object) -> str:
    return f"{value:.6f}" if isinstance(value, float) else str(value)


#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(text: str) -> str:
    """A cell safe for spreadsheets: text starting with ``= + - @`` (or tab, CR) gets a
    leading ``'``, as OWASP recommends; so does text starting with ``'``, which keeps the
    escaping reversible (:func:`unescape_cell`). Plain numbers (``-0.5``) are left alone.
    """
    if text.startswith("'") or (text.startswith(FORMULA_STARTS) and not _is_number(text)):
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """The cell as written before :func:`escape_cell`."""
    return text[1:] if text.startswith("'") else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text


def failure(exc: BaseException) -> tuple[str, str]:
    """``(status, reason)`` of an exception: a library error's ``.status``, else ``error``."""
    if isinstance(exc, PixelfiqError) and exc.status in STATUSES:
        status, reason = exc.status, str(exc)
    else:
        status, reason = "error", f"{type(exc).__name__}: {exc}"
    return status, " ".join(reason.split()) or type(exc).__name__


def read_results(path: str | os.PathLike) -> list[list[str]]:
    """Rows of a results CSV (header checked, cells unescaped); an unfinished last line
    is ignored.

    Raises:
        InvalidArgumentError: the file is not a pixelfiq results table.
    """
    text = Path(path).read_bytes().decode("utf-8", "backslashreplace")
    text = text[: text.rfind("\n") + 1]
    try:
        rows = [[unescape_cell(c) for c in r] for r in csv.reader(io.StringIO(text))]
    except csv.Error:  # a binary file: a NUL or a stray CR in a cell
        rows = [["(not CSV)"]]
    if not rows or tuple(rows[0]) != COLUMNS:
        raise InvalidArgumentError(
            f"{display_path(path)} is not a pixelfiq results table (its first line is not "
            "the header source,face,status,...); "
            "use another --out or remove the file"
        )
    return [r for r in rows[1:] if len(r) == len(COLUMNS)]


def finished_rows(
    rows: Sequence[list[str]], maps_dir: Path | None, figures: str = "png"
) -> list[list[str]]:
    """The rows of inputs that were finished: one failure row, or every face's row.

    An input with an ``error`` row (a transient failure) is not finished: ``--resume``
    does it again. Final statuses (``ok``, ``no_face``, ``unreadable``, ``too_small``,
    ``skipped``) are kept. With ``maps_dir`` an ``ok`` row also needs its ``.npy`` there
    (and its ``.png`` with ``figures="png"``).
    """
    groups: dict[str, list[list[str]]] = {}
    for row in rows:
        groups.setdefault(row[0], []).append(row)
    return [r for group in groups.values() if _finished(group, maps_dir, figures) for r in group]


def _finished(group: list[list[str]], maps_dir: Path | None, figures: str = "png") -> bool:
    recs = [dict(zip(COLUMNS, r)) for r in group]
    if any(r["status"] == "error" for r in recs):
        return False  # transient (a full disk, a failing device): retried by --resume
    if len(recs) == 1 and recs[0]["face"] == "":
        return True
    n = recs[0]["n_faces"]
    if not n.isdigit() or sorted(r["face"] for r in recs) != sorted(map(str, range(int(n)))):
        return False
    return maps_dir is None or all(
        _maps_exist(maps_dir, r["map_file"], figures == "png") for r in recs if r["status"] == "ok"
    )


def _maps_exist(folder: Path, map_file: str, png: bool = True) -> bool:
    try:
        npy = safe_join(folder, map_file)
    except InvalidArgumentError:
        return False
    return npy.is_file() and (not png or npy.with_suffix(".png").is_file())


def _csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    """CSV text of ``rows``, every cell through :func:`escape_cell`."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([escape_cell(c) for c in r] for r in rows)
    return buf.getvalue().encode("utf-8", "backslashreplace")


class ResultsTable:
    """The results CSV of one run: appended during the run, rewritten in order at the end.

    Args:
        path: the CSV file.
        order: ``source -> position`` of the run's inputs (the final sort key).
    """

    def __init__(self, path: str | os.PathLike, order: dict[str, int]) -> None:
        self.path = Path(path)
        self.order = order
        self._fh: BinaryIO | None = None

    def start(self, keep: Sequence[list[str]] = ()) -> None:
        """Write the header and ``keep`` atomically, then open the file for appending."""
        atomic_write(self.path, lambda fh: fh.write(_csv_bytes([COLUMNS, *keep])))
        self._fh = open(self.path, "ab")

    def append(self, row: Sequence[str]) -> None:
        """Append one row and flush it to the operating system."""
        self._fh.write(_csv_bytes([row]))
        self._fh.flush()

    def close(self) -> None:
        """Close the appending handle (the file keeps the rows written so far)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def finish(self) -> list[list[str]]:
        """Rewrite the file atomically in input order, then face index; return the rows."""
        self.close()
        rows = read_results(self.path)
        last = len(self.order)
        rows.sort(key=lambda r: (self.order.get(r[0], last), int(r[1]) if r[1].isdigit() else -1))
        atomic_write(self.path, lambda fh: fh.write(_csv_bytes([COLUMNS, *rows])))
        return rows


# ----------------------------------------------------------------- resume: input identity
def input_key(path: str) -> str:
    """What identifies an input across runs: its resolved path, size and mtime.

    So a resume from another working directory, or with absolute instead of relative
    paths, finds the same inputs; a file changed since is done again.
    """
    real = os.path.realpath(path)
    try:
        st = os.stat(path)
    except OSError:
        return f"{real}||"
    return f"{real}|{st.st_size}|{st.st_mtime_ns}"


def inputs_path(csv_path: Path) -> Path:
    """Where a table's input identities are kept: ``results.csv`` -> ``results.inputs.json``."""
    return csv_path.with_name(f"{csv_path.stem}.inputs.json")


def read_input_keys(csv_path: Path) -> dict[str, str]:
    """``source -> input_key`` of an earlier run (empty when absent or unreadable)."""
    try:
        data = json.loads(inputs_path(csv_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def match_resumed(
    rows: Sequence[list[str]], before: dict[str, str], now: dict[str, str]
) -> list[list[str]]:
    """Kept rows with their ``source`` renamed to this run's name of the same input.

    Args:
        rows: finished rows of the earlier run.
        before: ``source -> key`` of the earlier run; now: the same for this run.
    Rows whose input is not identified (an older table) keep their source text.
    """
    by_key = {key: source for source, key in now.items()}
    out = []
    for row in rows:
        key = before.get(row[0])
        if key is None:  # an older table: matched by the source text
            out.append(list(row))
        elif key in by_key:
            out.append([by_key[key], *row[1:]])
        elif row[0] not in now:  # not an input of this run: kept at the end
            out.append(list(row))
        # else: the same name is now another or a changed file: done again
    return out


def summarise(rows: Sequence[Sequence[str]]) -> tuple[str, bool]:
    """The closing summary line and whether every row is ``ok``.

    Example:
        ``"7 faces ok from 3 images; 2 inputs failed: unreadable 1, no_face 1"``
    """
    ok = [r for r in rows if r[2] == "ok"]
    bad = Counter(r[2] for r in rows if r[2] != "ok")
    images = len({r[0] for r in ok})
    text = f"{len(ok)} faces ok from {images} images"
    if bad:
        reasons = ", ".join(f"{s} {bad[s]}" for s in STATUSES if bad[s])
        text += f"; {sum(bad.values())} failed: {reasons}"
    return text, not bad
