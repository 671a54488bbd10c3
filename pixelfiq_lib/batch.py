"""Batch runs over real folders: the engine of ``pixelfiq explain`` and ``pixelfiq quality``.

**Inputs** (:func:`expand_inputs`). Each argument is a file, a folder or a glob pattern
(expanded here, ``**`` included, so quoted patterns work). Folders are walked
recursively in name order; in folders only files with an image extension
(:data:`IMAGE_EXTENSIONS`, any case) are inputs, other files and hidden entries (name
starting with ``.``, such as macOS ``._x.jpg``) are ignored and counted in one log
line. Files named on the command line or matched by a glob are always attempted.
Folders are entered once per real path, so symlink loops end, and a folder holding
:data:`OUTPUT_MARKER` (every ``explain --out`` folder) is never read as input.

**Output names** (:func:`output_stem`). ``<stem>-<hash>_<k>.npy`` / ``.png``: the file
name without its extension reduced to ASCII letters, digits, ``.``, ``-`` and ``_``
(anything else becomes ``_``, accents are dropped, leading dots are removed, at most
:data:`MAX_STEM` characters, ``image`` when nothing is left), then the first 8 hex
digits of the SHA-256 of the input's absolute path as bytes, then the face index
``k``. Two inputs with one name in different folders therefore never share a file,
and no name can hold a path separator or start with a dot.

**Results table** (:class:`ResultsTable`): :data:`COLUMNS`, one row per face, or one
row (``face`` empty) per input that failed. ``status`` is one of :data:`STATUSES`:
``ok``; ``no_face``, ``too_small``, ``unreadable`` (from the library's errors);
``skipped`` (not a regular file, such as a FIFO named ``x.jpg``, or a folder that
cannot be listed); ``error`` (anything unexpected, reason ``TypeName: message``).
``source`` is the path as given (bad bytes as ``\\xNN``); ``map_file`` is relative to
the table's folder. Rows are appended and flushed as faces finish; at the end the
file is rewritten atomically in input order, then face index. ``--resume`` keeps the
inputs whose rows are complete (``n_faces`` rows, maps present; a cut last line is
ignored) when the settings in ``<table>.settings.json`` match, and does the rest.

**Shards** (:func:`select_shard`). ``--shard i/n`` is 1-based: shard i takes the inputs
at positions k of the expanded list with ``k % n == i - 1``. A face's qualities do not
depend on the faces batched with it (see :func:`score_faces`), so the shards' rows
together equal an unsharded run's, and a resumed table equals an uninterrupted one
byte for byte (with the same seed and torch thread count).

**Streaming** (:func:`run_batch`). A worker thread decodes, detects and aligns one
input at a time into a small bounded queue; the calling thread scores batches of
aligned faces and writes every map as soon as it is made, so memory does not grow
with the number of images. Every file is written under a temporary name in its own
folder and renamed, so a killed run leaves only complete files (plus hidden
temporaries that the next run of this host removes).

Taught in: README.md (command-line use)
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import fnmatch
import glob
import hashlib
import io
import json
import logging
import os
import queue
import re
import socket
import stat
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import InvalidArgumentError, PixelfiqError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
COLUMNS = ("source", "face", "status", "quality", "quality_raw", "map_file", "error",
           "quality_se", "n_faces")
STATUSES = ("ok", "no_face", "unreadable", "too_small", "skipped", "error")
#: File written into every ``explain --out`` folder; folders holding it are not inputs.
OUTPUT_MARKER = ".pixelfiq-output"
#: Longest file-name stem kept before the hash (characters).
MAX_STEM = 60
#: Size in inches of the per-face figure (the size ``viz.plot_explanation`` uses).
FIGURE_SIZE = (7.5, 2.8)
_TEMP_PREFIX = ".pixelfiq-tmp-"
_QUEUE_INPUTS = 4  # decoded inputs waiting for the model, at most
_DONE = object()


# ------------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class InputItem:
    """One input file of a batch run.

    Attributes:
        path: the file path (``str``; undecodable bytes kept by ``surrogateescape``).
        source: printable text of ``path`` for tables and logs (:func:`display_path`).
        aligned: the file is an already aligned face crop (no detection).
        skip_reason: set when the entry cannot be processed at all (an unlistable folder).
    """

    path: str
    source: str
    aligned: bool = False
    skip_reason: str | None = None


def display_path(path: str | bytes | os.PathLike) -> str:
    """Printable text of a path: undecodable bytes as ``\\xNN``, control characters escaped."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode()
                   for c in text)


def is_image_name(name: str) -> bool:
    """True when ``name`` ends with one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def expand_inputs(args: Sequence[str], *, aligned: bool = False,
                  exclude: Iterable[str | os.PathLike] = ()) -> list[InputItem]:
    """Turn command-line INPUTs (files, folders, glob patterns) into the ordered input list.

    Args:
        args: the INPUT arguments, in command-line order.
        aligned: mark every input as an already aligned face crop.
        exclude: folders never read as input (the run's own output folder).
    Returns:
        Inputs in argument order, folders and glob matches sorted by name, each path once
        (possibly none: an empty folder is not an error here).
    Raises:
        InvalidArgumentError: an argument is neither an existing path nor a pattern
            that matches something.
    """
    walker = _Walker({os.path.realpath(p) for p in exclude})
    items: dict[str, InputItem] = {}
    missing = []
    for arg in args:
        found = list(walker.expand(arg))
        if not found and not os.path.lexists(arg):
            missing.append(arg)
        for path, reason in found:
            key = os.path.abspath(path)
            items.setdefault(key, InputItem(path, display_path(os.path.normpath(path)),
                                            aligned, reason))
    if missing:
        raise InvalidArgumentError(
            "no such file or folder, and no match for the pattern: "
            + ", ".join(display_path(m) for m in missing))
    walker.log_ignored()
    return list(items.values())


class _Walker:
    """Loop-safe expansion of files, folders and glob patterns (state: folders seen)."""

    def __init__(self, excluded: set[str]) -> None:
        self.excluded = excluded
        self.visited: set[str] = set()
        self.n_ignored, self.example = 0, ""

    def expand(self, arg: str) -> Iterator[tuple[str, str | None]]:
        """Yield ``(path, skip_reason)`` for one argument (nothing when it matches nothing)."""
        if os.path.lexists(arg) and not os.path.isdir(arg):
            yield arg, None
        elif os.path.isdir(arg):
            for path, reason in self.walk(arg):
                if reason or is_image_name(path):
                    yield path, reason
                else:
                    self._ignore(path)
        elif glob.has_magic(arg):
            yield from self.glob(arg)

    def glob(self, pattern: str) -> Iterator[tuple[str, str | None]]:
        """Shell-like matches of ``pattern``; ``**`` is walked here, never by ``glob``."""
        if "**" not in pattern:
            for path in sorted(glob.glob(pattern)):
                if os.path.isdir(path):
                    yield from self.expand(path)
                elif not self._is_output(os.path.dirname(path) or "."):
                    yield path, None
            return
        parts = pattern.split(os.sep)
        cut = next(i for i, part in enumerate(parts) if glob.has_magic(part))
        base = os.sep.join(parts[:cut]) or ("/" if pattern.startswith(os.sep) else ".")
        if not os.path.isdir(base):
            return
        for path, reason in self.walk(base):
            rel = os.path.relpath(path, base).split(os.sep)
            if reason or _match_parts(parts[cut:], rel):
                yield (path if parts[:cut] else os.path.relpath(path)), reason

    def walk(self, root: str) -> Iterator[tuple[str, str | None]]:
        """Every non-hidden file under ``root`` in name order, each real folder once."""
        stack = [iter([root])]
        while stack:
            path = next(stack[-1], None)
            if path is None:
                stack.pop()
            elif not os.path.isdir(path):
                yield path, None
            elif self._enter(path):
                entries, reason = _list_dir(path)
                if reason:
                    yield path, reason
                for hidden in (e for e in entries if os.path.basename(e).startswith(".")):
                    self._ignore(hidden)
                stack.append(e for e in entries if not os.path.basename(e).startswith("."))

    def _enter(self, folder: str) -> bool:
        real = os.path.realpath(folder)
        if real in self.visited or self._is_output(folder):
            log.debug("not entering %s (seen, or an output folder)", display_path(folder))
            return False
        self.visited.add(real)
        return True

    def _is_output(self, folder: str) -> bool:
        return os.path.realpath(folder) in self.excluded or \
            os.path.exists(os.path.join(folder, OUTPUT_MARKER))

    def _ignore(self, path: str) -> None:
        self.n_ignored += 1
        self.example = self.example or path

    def log_ignored(self) -> None:
        """One log line about the files and folders in folders that were not inputs."""
        if self.n_ignored:
            log.info("ignored %d hidden or non-image entries in folders, e.g. %s",
                     self.n_ignored, display_path(self.example))


def _list_dir(folder: str) -> tuple[list[str], str | None]:
    """Sorted entries of ``folder`` (paths), or a reason it cannot be listed."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        return [], f"cannot list the folder ({type(exc).__name__}: {exc.strerror or exc})"
    return [os.path.join(folder, n) for n in names], None


def _match_parts(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Match path components against pattern components; ``**`` spans any number."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match_parts(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) \
        and _match_parts(pattern[1:], parts[1:])


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``--shard i/n`` (1-based: ``1/4`` ... ``4/4``).

    Raises:
        InvalidArgumentError: not two integers with 1 <= i <= n.
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    i, n = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not 1 <= i <= n:
        raise InvalidArgumentError(
            f"--shard must be i/n with 1 <= i <= n (1-based, e.g. 1/4), got {text!r}")
    return i, n


def select_shard(items: Sequence[InputItem], shard: tuple[int, int] | None) -> list[InputItem]:
    """Inputs of shard ``i/n``: positions k of the expanded list with k % n == i - 1."""
    if shard is None:
        return list(items)
    i, n = shard
    return [item for k, item in enumerate(items) if k % n == i - 1]


# ------------------------------------------------------------------------ output files
def output_stem(path: str | bytes | os.PathLike) -> str:
    """Safe, unique file-name stem for the outputs of one input (see the module doc).

    Example:
        >>> output_stem("../photos/Jürgen 1.jpg")  # 'Jurgen_1-<8 hex digits>'
    """
    raw = os.fsencode(path)
    stem = os.path.splitext(os.path.basename(raw.rstrip(b"/")))[0]
    text = unicodedata.normalize("NFKD", stem.decode("utf-8", "replace"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip("._-")[:MAX_STEM].rstrip("._-")
    digest = hashlib.sha256(os.path.abspath(raw)).hexdigest()[:8]
    return f"{safe or 'image'}-{digest}"


def safe_join(folder: str | os.PathLike, name: str) -> Path:
    """``folder / name`` after checking that ``name`` is one plain file name.

    Raises:
        InvalidArgumentError: ``name`` is empty, hidden, ``..``, holds a separator or
            NUL, or is longer than 255 bytes.
    """
    bad = not name or name.startswith(".") or any(c in name for c in ("/", "\\", "\0")) \
        or len(os.fsencode(name)) > 255 or os.path.isabs(name)
    if bad:
        raise InvalidArgumentError(f"unsafe output file name {name!r}")
    return Path(folder) / name


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:20] or "host"


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write a file under a hidden temporary name in its folder, then rename it.

    Args:
        path: the final file.
        write: called with the open binary temporary file.
    """
    path = Path(path)
    tmp = path.with_name(f"{_TEMP_PREFIX}{_host()}-{os.getpid()}-{path.name}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete temporaries left in ``folder`` by killed runs of this host; returns the count."""
    prefix, removed = f"{_TEMP_PREFIX}{_host()}-", 0
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            pid = name[len(prefix):].split("-", 1)[0] if name.startswith(prefix) else ""
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
                    removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_face_files(folder: Path, stem: str, face_img: np.ndarray, plq: np.ndarray,
                     quality: float, q_se: float) -> None:
    """Write ``<stem>.npy`` (float32 (112, 112) map in [0, 1]) and ``<stem>.png``.

    The figure is :func:`viz.plot_explanation` drawn on a stand-alone ``Figure``
    (no pyplot state, no backend switch), so it is safe in notebooks and threads.

    Args:
        folder: the output folder.
        stem: file stem from :func:`output_stem` plus ``_<k>``.
        face_img: (112, 112, 3) uint8 RGB aligned face.
        plq: (112, 112) map in [0, 1].
        quality, q_se: Q̂ and its Monte-Carlo error, printed on the figure.
    """
    from matplotlib.figure import Figure

    from .viz import plot_explanation

    arr = np.clip(np.asarray(plq, dtype=np.float32), 0.0, 1.0)
    atomic_write(safe_join(folder, f"{stem}.npy"), lambda fh: np.save(fh, arr))
    fig = Figure(figsize=FIGURE_SIZE)
    plot_explanation(face_img, arr, quality, axes=fig.subplots(1, 3), q_se=q_se)
    atomic_write(safe_join(folder, f"{stem}.png"),
                 lambda fh: fig.savefig(fh, format="png", dpi=100))


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


def failure(exc: BaseException) -> tuple[str, str]:
    """``(status, reason)`` of an exception: a library error's ``.status``, else ``error``."""
    if isinstance(exc, PixelfiqError) and exc.status in STATUSES:
        status, reason = exc.status, str(exc)
    else:
        status, reason = "error", f"{type(exc).__name__}: {exc}"
    return status, " ".join(reason.split()) or type(exc).__name__


def read_results(path: str | os.PathLike) -> list[list[str]]:
    """Rows of a results CSV (header checked); an unfinished last line is ignored.

    Raises:
        InvalidArgumentError: the file is not a pixelfiq results table.
    """
    text = Path(path).read_bytes().decode("utf-8", "backslashreplace")
    text = text[: text.rfind("\n") + 1]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise InvalidArgumentError(
            f"{display_path(path)} is not a pixelfiq results table (header {rows[:1]}); "
            "use another --out or remove the file")
    return [r for r in rows[1:] if len(r) == len(COLUMNS)]


def finished_rows(rows: Sequence[list[str]], maps_dir: Path | None) -> list[list[str]]:
    """The rows of inputs that were finished: one failure row, or every face's row.

    With ``maps_dir`` an ``ok`` row also needs its ``.npy`` and ``.png`` there.
    """
    groups: dict[str, list[list[str]]] = {}
    for row in rows:
        groups.setdefault(row[0], []).append(row)
    return [r for group in groups.values() if _finished(group, maps_dir) for r in group]


def _finished(group: list[list[str]], maps_dir: Path | None) -> bool:
    recs = [dict(zip(COLUMNS, r)) for r in group]
    if len(recs) == 1 and recs[0]["face"] == "":
        return True
    n = recs[0]["n_faces"]
    if not n.isdigit() or sorted(r["face"] for r in recs) != sorted(map(str, range(int(n)))):
        return False
    return maps_dir is None or all(_maps_exist(maps_dir, r["map_file"])
                                   for r in recs if r["status"] == "ok")


def _maps_exist(folder: Path, map_file: str) -> bool:
    try:
        npy = safe_join(folder, map_file)
    except InvalidArgumentError:
        return False
    return npy.is_file() and npy.with_suffix(".png").is_file()


def _csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
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
        rows.sort(key=lambda r: (self.order.get(r[0], last),
                                 int(r[1]) if r[1].isdigit() else -1))
        atomic_write(self.path, lambda fh: fh.write(_csv_bytes([COLUMNS, *rows])))
        return rows


# ---------------------------------------------------------------------------- pipeline
@dataclass(frozen=True)
class BatchOptions:
    """Settings of one batch run.

    Attributes:
        csv_path: the results table.
        maps_dir: folder for ``.npy``/``.png`` maps (``explain``); ``None`` = quality only.
        n_passes, seed: SER-FIQ settings (the dropout masks come from ``seed``).
        batch_size: faces per model call.
        faces: ``"all"`` or ``"largest"`` face per image.
        min_face_size: faces narrower than this (pixels) are too small.
        resume: keep the finished rows of an earlier run with the same settings.
        progress: show a tqdm bar on stderr.
        model_name: recorded in the settings file that ``--resume`` checks.
    """

    csv_path: Path
    maps_dir: Path | None = None
    n_passes: int = 100
    seed: int = 0
    batch_size: int = 8
    faces: str = "all"
    min_face_size: float = 40.0
    resume: bool = False
    progress: bool = False
    model_name: str = "sface"

    def settings(self) -> dict[str, object]:
        """The settings that change results (checked by ``--resume``)."""
        return {"command": "explain" if self.maps_dir else "quality", "model": self.model_name,
                "n_passes": self.n_passes, "seed": self.seed, "faces": self.faces,
                "min_face_size": self.min_face_size}


@dataclass
class _Job:
    """An input after decoding: its aligned faces, or why it failed."""

    index: int
    item: InputItem
    faces: list = dataclasses.field(default_factory=list)
    status: str = "ok"
    reason: str = ""


def prepare_table(items: Sequence[InputItem],
                  opts: BatchOptions) -> tuple[ResultsTable, list[InputItem]]:
    """Open the results table (fresh, or resumed) and list the inputs still to do.

    Raises:
        InvalidArgumentError: ``--resume`` with other settings than the earlier run.
    """
    opts.csv_path.parent.mkdir(parents=True, exist_ok=True)
    for folder in {opts.csv_path.parent, opts.maps_dir or opts.csv_path.parent}:
        remove_stale_temporaries(folder)
    table = ResultsTable(opts.csv_path, {it.source: k for k, it in enumerate(items)})
    keep = _resumable_rows(opts) if opts.resume else []
    settings = json.dumps(opts.settings(), indent=1, sort_keys=True).encode()
    atomic_write(settings_path(opts.csv_path), lambda fh: fh.write(settings))
    table.start(keep)
    done = {r[0] for r in keep}
    if keep:
        log.info("resuming: %d input(s) already finished", len(done))
    others = done - table.order.keys()
    if others:
        log.warning("%d input(s) in %s are not inputs of this run; their rows are kept at "
                    "the end", len(others), display_path(opts.csv_path))
    return table, [it for it in items if it.source not in done]


def settings_path(csv_path: Path) -> Path:
    """Where a run's settings are kept: ``results.csv`` -> ``results.settings.json``."""
    return csv_path.with_name(f"{csv_path.stem}.settings.json")


def _resumable_rows(opts: BatchOptions) -> list[list[str]]:
    if not opts.csv_path.is_file():
        log.info("nothing to resume in %s; starting a new table", display_path(opts.csv_path))
        return []
    meta = settings_path(opts.csv_path)
    if meta.is_file():
        before = json.loads(meta.read_text())
        diff = {k: (before.get(k), v) for k, v in opts.settings().items() if before.get(k) != v}
        if diff:
            raise InvalidArgumentError(
                f"--resume: the earlier run used other settings {diff} (earlier, now); "
                "use the same ones or another --out")
    return finished_rows(read_results(opts.csv_path), opts.maps_dir)


def _produce(items: Sequence[InputItem], opts: BatchOptions, out: queue.Queue,
             stop: threading.Event) -> None:
    """Worker thread: decode, detect and align each input, in order, into ``out``."""
    for index, item in enumerate(items):
        if stop.is_set():
            return
        _put(out, _extract(index, item, opts), stop)
    _put(out, _DONE, stop)


def _put(out: queue.Queue, obj: object, stop: threading.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(queue.Full):
            out.put(obj, timeout=0.2)
            return


def _extract(index: int, item: InputItem, opts: BatchOptions) -> _Job:
    """Aligned faces of one input, or the status and reason of its failure (never raises)."""
    from .data import extract_faces

    if item.skip_reason:
        return _Job(index, item, status="skipped", reason=item.skip_reason)
    try:
        kind = _not_regular(item.path)
        if kind:
            return _Job(index, item, status="skipped", reason=f"not a regular file ({kind})")
        faces = extract_faces(item.path, aligned=item.aligned, faces=opts.faces,
                              min_face_size=opts.min_face_size)
        return _Job(index, item, faces=list(faces))
    except Exception as exc:  # one bad input must never stop the run
        log.debug("input %s failed", item.source, exc_info=True)
        status, reason = failure(exc)
        return _Job(index, item, status=status, reason=reason)


def _not_regular(path: str) -> str:
    """``""`` for a regular file (or a missing one), else its kind (never opens the file)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return ""  # missing or dangling: the loader reports it as unreadable
    kinds = {stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket",
             stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device"}
    return next((name for test, name in kinds.items() if test(mode)), "")


def _jobs(out: queue.Queue, worker: threading.Thread) -> Iterator[_Job]:
    """Jobs from the worker until it is done.

    Raises:
        RuntimeError: the worker ended without finishing (it catches every error, so
            this is a bug); the rows so far are kept for ``--resume``.
    """
    while True:
        try:
            job = out.get(timeout=0.5)
        except queue.Empty:
            if not worker.is_alive() and out.empty():
                raise RuntimeError("the decoding thread stopped early; rerun with --resume")
            continue
        if job is _DONE:
            return
        yield job


@dataclass
class _Score:
    q: float
    q_raw: float
    q_se: float
    plq: np.ndarray | None


def score_faces(model, faces: Sequence, opts: BatchOptions) -> list[_Score | Exception]:
    """Quality (and maps for ``explain``) of aligned faces; a failing face gets its exception.

    The whole batch goes through one call. The library computes each face's quality
    with the same tensor shapes whatever its batch, so the qualities in results.csv
    are bit-identical across batch compositions, which is what makes ``--resume`` and
    ``--shard`` reproduce an uninterrupted run exactly; maps agree to float32 rounding
    (< 1e-5). A batch that fails is retried one face at a time.
    """
    try:
        return _score_chunk(model, faces, opts)
    except Exception as exc:
        if len(faces) == 1:
            return [exc]
        return [s for face in faces for s in score_faces(model, [face], opts)]


def _score_chunk(model, faces: Sequence, opts: BatchOptions) -> list[_Score]:
    from .backprop import pixel_quality_map
    from .data import to_tensor
    from .quality import serfiq_quality

    x = to_tensor(list(faces))
    kw = dict(n_passes=opts.n_passes, seed=opts.seed)
    if opts.maps_dir is None:
        res, plq = serfiq_quality(model, x, **kw), [None] * len(faces)
    else:
        out = pixel_quality_map(model, x, chunk_size=len(faces), **kw)
        res, plq = out.quality, list(out.plq.detach().cpu().numpy())
    vals = [t.detach().cpu().double().tolist() for t in (res.q, res.q_raw, res.q_se)]
    return [_Score(*v, p) for *v, p in zip(*vals, plq)]


class _Runner:
    """Main-thread side of a run: batches faces, writes files and rows, shows progress."""

    def __init__(self, get_model: Callable[[], object], opts: BatchOptions,
                 table: ResultsTable, total: int) -> None:
        from tqdm import tqdm

        self.get_model, self.opts, self.table = get_model, opts, table
        self.pending: list[tuple[_Job, object]] = []
        self.left: dict[int, int] = {}
        self.n_faces, self.start = 0, 0.0  # the clock starts once the model is loaded
        self.bar = tqdm(total=total, unit="img", disable=not opts.progress, dynamic_ncols=True,
                        smoothing=0.1, leave=False)

    def add(self, job: _Job) -> None:
        """Take one decoded input: record its failure, or queue its faces for the model."""
        if job.status != "ok":
            log.info("%s: %s (%s)", job.item.source, job.status, job.reason)
            self.table.append(make_row(job.item.source, status=job.status, error=job.reason,
                                       n_faces=0))
            self.bar.update(1)
            return
        if not job.faces:
            job.status, job.reason = "no_face", "no face found"
            return self.add(job)
        self.left[job.index] = len(job.faces)
        self.pending.extend((job, face) for face in job.faces)
        while len(self.pending) >= self.opts.batch_size:
            self.flush(self.opts.batch_size)

    def flush(self, size: int | None = None) -> None:
        """Score and write the first ``size`` pending faces (all when ``None``)."""
        size = len(self.pending) if size is None else size
        todo, self.pending = self.pending[:size], self.pending[size:]
        if todo:
            model = self.get_model()
            self.start = self.start or time.perf_counter()
            scores = score_faces(model, [face for _, face in todo], self.opts)
            for (job, face), score in zip(todo, scores):
                self._finish_face(job, face, score)

    def _finish_face(self, job: _Job, face, score: _Score | Exception) -> None:
        row = self._face_row(job, face, score)
        self.table.append(row)
        self.n_faces += row[2] == "ok"
        self.left[job.index] -= 1
        if not self.left[job.index]:
            del self.left[job.index]
            self.bar.set_postfix_str(f"{self.n_faces} faces, {self.rate():.2f} faces/s",
                                     refresh=False)
            self.bar.update(1)

    def rate(self) -> float:
        """Faces scored per second since the model was ready."""
        return self.n_faces / max(time.perf_counter() - self.start, 1e-9) if self.start else 0.0

    def _face_row(self, job: _Job, face, score: _Score | Exception) -> list[str]:
        source, k, n = job.item.source, face.index, len(job.faces)
        try:
            if isinstance(score, Exception):
                raise score
            map_file = ""
            if self.opts.maps_dir is not None:
                stem = f"{output_stem(job.item.path)}_{k}"
                write_face_files(self.opts.maps_dir, stem, face.image, score.plq, score.q,
                                 score.q_se)
                map_file = f"{stem}.npy"
            return make_row(source, face=k, status="ok", quality=score.q,
                            quality_raw=score.q_raw, map_file=map_file,
                            quality_se=score.q_se, n_faces=n)
        except Exception as exc:  # a face that fails is recorded, the run goes on
            log.debug("face %d of %s failed", k, source, exc_info=True)
            status, reason = failure(exc)
            log.info("%s face %d: %s (%s)", source, k, status, reason)
            return make_row(source, face=k, status=status, error=reason, n_faces=n)


def run_batch(items: Sequence[InputItem], get_model: Callable[[], object],
              opts: BatchOptions) -> list[list[str]]:
    """Process inputs into the results table (and maps); the engine of the CLI.

    Args:
        items: inputs in order (already sharded); their positions order the table.
        get_model: returns the :class:`~models.FRModel`; called only when there is a
            face to score, so a finished ``--resume`` or a failing setting costs no load.
        opts: the run's settings.
    Returns:
        Every row of the final table (earlier finished rows included with ``resume``).
    Raises:
        InvalidArgumentError: ``--resume`` with other settings than the earlier run.
    """
    table, todo = prepare_table(items, opts)
    jobs: queue.Queue = queue.Queue(maxsize=_QUEUE_INPUTS)
    stop = threading.Event()
    worker = threading.Thread(target=_produce, args=(todo, opts, jobs, stop),
                              name="pixelfiq-decode", daemon=True)
    runner = _Runner(get_model, opts, table, len(todo))
    try:
        with _progress_logging(opts.progress):
            worker.start()
            for job in _jobs(jobs, worker):
                runner.add(job)
            runner.flush()
        if runner.n_faces:
            log.info("%d faces in %.1f s: %.2f faces/s", runner.n_faces,
                     time.perf_counter() - runner.start, runner.rate())
    finally:
        stop.set()
        runner.bar.close()
        table.close()
    return table.finish()


@contextlib.contextmanager
def _progress_logging(active: bool) -> Iterator[None]:
    """Route log lines through tqdm while a progress bar is shown."""
    if not active:
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield


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
