"""The batch pipeline: decode and align on a worker thread, score in batches, write rows."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import json
import logging
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..files import atomic_write, remove_stale_temporaries
from .inputs import _DONE, _QUEUE_INPUTS, InputItem, display_path
from .record import mark_finished, resumable_rows, unwritable, write_record
from .record import settings_path as settings_path
from .scoring import face_row, failure_row, looks_like_a_face, score_faces
from .table import (
    ResultsTable,
    failure,
    input_key,
    inputs_path,
    match_resumed,
    read_input_keys,
)
from .table import finished_rows as finished_rows
from .table import read_results as read_results
from .table import summarise as summarise

log = logging.getLogger(__name__)
#: Threads writing maps and figures, and how many batches of writes may wait for them.
_WRITERS, _WRITE_BACKLOG = 2, 2


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
        model_sha256: the SHA-256 pinned for the network's weights (``""``: unknown).
        quality_100: the map raw Q -> quality_100 of ``--settings FILE``; ``None`` = the
            network's own (``model.quality_100``).
        settings_sha256: SHA-256 of the ``--settings`` file (``None`` without one).
        figures: ``"png"`` (a figure per face beside its map) or ``"none"`` (maps only).
        map_method: the map of ``explain`` (``core.maps.MAP_METHODS``; default plq).
        region_map: the map whose lowest region fills ``lowest_region`` (``run_items``
            passes the recommended map; the same as ``map_method`` reuses its maps, a
            different one is computed in addition); ``""`` = no region verdicts.
        aligned: the inputs are aligned crops (``"mixed"`` for the demo's inputs).
        command: the kind of run recorded (default ``explain`` with maps, else ``quality``).
        shard: ``(i, n)`` of a sharded run. inputs_sha256, n_inputs: the whole expanded
            input list (before sharding) that the table covers (:mod:`.record`).
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
    model_sha256: str = ""
    quality_100: object | None = None
    settings_sha256: str | None = None
    figures: str = "png"
    map_method: str = "plq"
    region_map: str = ""
    aligned: bool | str = False
    command: str = ""
    shard: tuple[int, int] | None = None
    inputs_sha256: str = ""
    n_inputs: int = 0

    def settings(self) -> dict[str, object]:
        """The settings that change results (recorded, and compared by ``--resume``)."""
        from .. import __version__

        out = {
            "command": self.command or ("explain" if self.maps_dir else "quality"),
            "model": self.model_name,
            "model_sha256": self.model_sha256,
            "n_passes": self.n_passes,
            "seed": self.seed,
            "faces": self.faces,
            "min_face_size": self.min_face_size,
            "map": self.map_method,
            "region_map": self.region_map,
            "aligned": self.aligned,
            "settings_sha256": self.settings_sha256,
            "pixelfiq": __version__,
        }
        if self.quality_100 is not None:
            out["quality_100"] = [self.quality_100.slope, self.quality_100.centre]
        return out

    def coverage(self, finished: bool = False) -> dict[str, object]:
        """What the table covers: the input list, the shard, whether the run finished."""
        return {
            "inputs_sha256": self.inputs_sha256,
            "n_inputs": self.n_inputs,
            "shard": list(self.shard) if self.shard else None,
            "finished": finished,
        }


@dataclass
class _Job:
    """An input after decoding: its aligned faces, or why it failed."""

    index: int
    item: InputItem
    faces: list = dataclasses.field(default_factory=list)
    status: str = "ok"
    reason: str = ""
    not_face: dict = dataclasses.field(default_factory=dict)  # face index -> bool (--aligned)


def prepare_table(
    items: Sequence[InputItem], opts: BatchOptions
) -> tuple[ResultsTable, list[InputItem]]:
    """Open the results table (fresh, or resumed) and list the inputs still to do.

    Raises:
        UsageError: ``--resume`` with other settings than the earlier run, a damaged
            earlier table or record, or an output that cannot be written.
    """
    if len({it.source for it in items}) != len(items):
        raise RuntimeError("two inputs have the same source name")  # display_path is 1:1
    keys = {it.source: input_key(it.path) for it in items}
    before = read_input_keys(opts.csv_path) if opts.resume else {}
    keep = resumable_rows(opts) if opts.resume else []
    keep = match_resumed(keep, before, keys)
    known = {r[0]: before[r[0]] for r in keep if r[0] not in keys and r[0] in before}
    table = ResultsTable(opts.csv_path, {it.source: k for k, it in enumerate(items)})
    try:
        opts.csv_path.parent.mkdir(parents=True, exist_ok=True)
        for folder in {opts.csv_path.parent, opts.maps_dir or opts.csv_path.parent}:
            remove_stale_temporaries(folder)
        write_record(opts.csv_path, opts.settings(), opts.coverage(finished=False))
        identities = json.dumps({**known, **keys}, indent=0, sort_keys=True).encode()
        atomic_write(inputs_path(opts.csv_path), lambda fh: fh.write(identities))
        table.start(keep)
    except OSError as exc:
        raise unwritable(opts.csv_path, exc) from exc
    done = {r[0] for r in keep}
    if keep:
        log.info("resuming: %d input(s) already finished", len(done))
    others = done - table.order.keys()
    if others:
        log.warning(
            "%d input(s) in %s are not inputs of this run; their rows are kept at the end",
            len(others),
            display_path(opts.csv_path),
        )
    return table, [it for it in items if it.source not in done]


def _produce(
    items: Sequence[InputItem], opts: BatchOptions, out: queue.Queue, stop: threading.Event
) -> None:
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
    from ..data import extract_faces

    if item.skip_reason:
        return _Job(index, item, status="skipped", reason=item.skip_reason)
    try:
        kind = _not_regular(item.path)
        if kind:
            return _Job(index, item, status="skipped", reason=f"not a regular file ({kind})")
        faces = extract_faces(
            item.path, aligned=item.aligned, faces=opts.faces, min_face_size=opts.min_face_size
        )
        not_face = {f.index: item.aligned and not looks_like_a_face(f.image) for f in faces}
        if any(not_face.values()):
            log.warning("%s: --aligned input does not look like a face (not_a_face=1)", item.source)
        return _Job(index, item, faces=list(faces), not_face=not_face)
    except Exception as exc:  # one bad input must never stop the run
        log.debug("input %s failed", item.source, exc_info=True)
        status, reason = failure(exc)
        return _Job(index, item, status=status, reason=reason)


def _not_regular(path: str) -> str:
    """``""`` for a regular file (or a missing one), else its kind (never opens the file)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink loop"
        return ""  # missing or dangling: the loader reports it as unreadable
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
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
                raise RuntimeError(
                    "the decoding thread stopped early; rerun with --resume"
                ) from None
            continue
        if job is _DONE:
            return
        yield job


class _Runner:
    """Main-thread side of a run: batches faces, shows progress, appends rows.

    Map and figure files are written by a small thread pool while the next batch is
    scored (numpy's save, PIL's PNG encoder and torch release the GIL); rows are
    appended once their files are written, so a row ``ok`` always has its files.
    """

    def __init__(
        self, get_model: Callable[[], object], opts: BatchOptions, table: ResultsTable, total: int
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from tqdm import tqdm

        self.get_model, self.opts, self.table = get_model, opts, table
        self.pending: list[tuple[_Job, object]] = []
        self.writing: collections.deque = collections.deque()
        self.writers = (
            ThreadPoolExecutor(_WRITERS, thread_name_prefix="pixelfiq-write")
            if opts.maps_dir is not None
            else None
        )
        self.left: dict[int, int] = {}
        self.n_faces, self.start = 0, 0.0  # the clock starts once the model is loaded
        self.bar = tqdm(
            total=total,
            unit="img",
            disable=not opts.progress,
            dynamic_ncols=True,
            smoothing=0.1,
            leave=False,
        )

    def add(self, job: _Job) -> None:
        """Take one decoded input: record its failure, or queue its faces for the model."""
        if job.status != "ok":
            self.table.append(failure_row(job.item, job.status, job.reason))
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
        """Score the first ``size`` pending faces (all when ``None``); queue their writes."""
        size = len(self.pending) if size is None else size
        todo, self.pending = self.pending[:size], self.pending[size:]
        if todo:
            model = self.get_model()
            self.start = self.start or time.perf_counter()
            scores = score_faces(model, [face for _, face in todo], self.opts)
            for (job, face), score in zip(todo, scores):
                args = (job.item, face, len(job.faces), score, self.opts)
                args += (job.not_face.get(face.index, False),)
                if self.writers is None:
                    self._finish_face(job, face_row(*args))
                else:
                    self.writing.append((job, self.writers.submit(face_row, *args)))
        self.drain(wait_for=_WRITE_BACKLOG * self.opts.batch_size)

    def drain(self, wait_for: int = 0) -> None:
        """Append the rows of finished writes, waiting until at most ``wait_for`` remain."""
        while self.writing and (len(self.writing) > wait_for or self.writing[0][1].done()):
            job, future = self.writing.popleft()
            self._finish_face(job, future.result())

    def close(self) -> None:
        """Finish the queued writes (their rows are appended) and stop the pool."""
        try:
            self.drain()
        finally:
            if self.writers is not None:
                self.writers.shutdown(wait=True)
            self.bar.close()

    def _finish_face(self, job: _Job, row: list[str]) -> None:
        self.table.append(row)
        self.n_faces += row[2] == "ok"
        self.left[job.index] -= 1
        if not self.left[job.index]:
            del self.left[job.index]
            self.bar.set_postfix_str(
                f"{self.n_faces} faces, {self.rate():.2f} faces/s", refresh=False
            )
            self.bar.update(1)

    def rate(self) -> float:
        """Faces scored per second since the model was ready."""
        return self.n_faces / max(time.perf_counter() - self.start, 1e-9) if self.start else 0.0


def run_batch(
    items: Sequence[InputItem], get_model: Callable[[], object], opts: BatchOptions
) -> list[list[str]]:
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
    worker = threading.Thread(
        target=_produce, args=(todo, opts, jobs, stop), name="pixelfiq-decode", daemon=True
    )
    runner = _Runner(get_model, opts, table, len(todo))
    try:
        with _progress_logging(opts.progress):
            worker.start()
            for job in _jobs(jobs, worker):
                runner.add(job)
            runner.flush()
            runner.close()
        if runner.n_faces:
            log.info(
                "%d faces in %.1f s: %.2f faces/s",
                runner.n_faces,
                time.perf_counter() - runner.start,
                runner.rate(),
            )
    finally:
        stop.set()
        runner.close()
        table.close()
    rows = table.finish()
    mark_finished(opts.csv_path)
    return rows


@contextlib.contextmanager
def _progress_logging(active: bool) -> Iterator[None]:
    """Route log lines through tqdm while a progress bar is shown."""
    if not active:
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield
