"""``pixelfiq explain|quality --engine ray``: the batch run on a Ray cluster (Ray Data).

The input list becomes a Ray Dataset of paths. CPU tasks decode, detect and align each
input (the same :func:`pipeline._extract` as the thread pipeline, one row per face or
one failure row per input); an actor pool scores faces in batches, each actor loading
the network once (on one GPU per actor when the cluster has GPUs and ``--device`` is
not ``cpu``), and writes the maps and figures with the same :func:`.scoring.face_row`
as the single-process run, so the rows, statuses and columns are the same. The rows
go to Parquet shards (``results.csv``'s columns, as text, plus ``map_path``, the map's
absolute path) and to ``results.csv`` in input order.

Maps are written by the actors: on a multi-node cluster ``--out`` must be a folder
every node sees (a shared file system). An ``--address`` is tried before the run, in a
separate process, for at most :data:`CONNECT_TIMEOUT_S` seconds (``ray.init`` itself
retries an unreachable cluster forever): a cluster that does not answer in that time
is refused with exit 2 (:func:`check_address`). Ray is imported only here: ``import
pixelfiq_lib`` never needs it (optional extra ``pixelfiq[scale]``).

Taught in: README.md (running on a cluster)
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import ray

from ..errors import UsageError
from .inputs import COLUMNS, InputItem
from .pipeline import BatchOptions, _extract, prepare_table
from .record import mark_finished
from .scoring import face_row, failure_row, score_faces

log = logging.getLogger(__name__)

#: CPU cores per scoring actor on a cluster without GPUs (torch threads of each actor).
CORES_PER_ACTOR = 4
#: Inputs per decoding task, and the CPU share each decoding task reserves.
DECODE_BATCH, DECODE_CPUS = 4, 0.5
#: Seconds an ``--address`` has to answer (``PIXELFIQ_RAY_CONNECT_TIMEOUT`` overrides it).
CONNECT_TIMEOUT_S = 30.0
_PROBE = (
    "import sys, ray; ray.init(address=sys.argv[1], log_to_driver=False, "
    "include_dashboard=False); ray.shutdown()"
)
_FACE = ("index", "path", "source", "aligned", "face", "n_faces", "image", "row", "not_face")


def parquet_dir(csv_path: Path) -> Path:
    """Where the Parquet shards of a run go: ``results.csv`` -> ``results.parquet/``."""
    return csv_path.with_name(f"{csv_path.stem}.parquet")


def _decode(batch: dict[str, np.ndarray], opts: BatchOptions) -> dict[str, list]:
    """CPU task: each input -> one row per aligned face, or one failure row (``face`` -1)."""
    out: dict[str, list] = {k: [] for k in _FACE}
    for index, path, source, aligned, skip in zip(
        batch["index"], batch["path"], batch["source"], batch["aligned"], batch["skip_reason"]
    ):
        item = InputItem(str(path), str(source), bool(aligned), str(skip) or None)
        job = _extract(int(index), item, opts)
        if job.status == "ok" and not job.faces:
            job.status, job.reason = "no_face", "no face found"
        if job.status != "ok":
            faces = [(-1, b"", failure_row(item, job.status, job.reason), False)]
        else:
            faces = [
                (f.index, f.image.tobytes(), [], bool(job.not_face.get(f.index, False)))
                for f in job.faces
            ]
        for k, image, row, not_face in faces:
            values = (int(index), item.path, item.source, item.aligned, k, len(job.faces))
            for key, value in zip(_FACE, (*values, image, row, not_face)):
                out[key].append(value)
    return out


class _Scorer:
    """Actor: loads the network once, scores batches of faces, writes their files."""

    def __init__(self, opts: BatchOptions, device: str, threads: int) -> None:
        import torch

        from ..models import load_model

        if device == "cpu":
            torch.set_num_threads(max(1, threads))
        self.opts = opts
        self.model = load_model(opts.model_name, device=device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        n = len(batch["index"])
        todo = [i for i in range(n) if int(batch["face"][i]) >= 0]
        images = [
            np.frombuffer(batch["image"][i], np.uint8).reshape(112, 112, 3).copy() for i in todo
        ]
        scores = dict(zip(todo, score_faces(self.model, images, self.opts))) if todo else {}
        out: dict[str, list] = {c: [] for c in (*COLUMNS, "map_path", "index")}
        for i in range(n):
            if i in scores:
                item = InputItem(str(batch["path"][i]), str(batch["source"][i]))
                face = types.SimpleNamespace(
                    index=int(batch["face"][i]), image=images[todo.index(i)]
                )
                n_faces, not_face = int(batch["n_faces"][i]), bool(batch["not_face"][i])
                row = face_row(item, face, n_faces, scores[i], self.opts, not_face)
            else:
                row = [str(c) for c in batch["row"][i]]
            for column, cell in zip(COLUMNS, row):
                out[column].append(cell)
            maps = self.opts.maps_dir
            out["map_path"].append(str(Path(maps).resolve() / row[5]) if maps and row[5] else "")
            out["index"].append(int(batch["index"][i]))
        return out


def _plan(device: str | None, batch_size: int | None) -> dict:
    """Actors, their resources and batch size, from the cluster and ``--device``."""
    from ..core.batching import chunk_size

    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    if gpus and (device is None or device.startswith("cuda")):
        return dict(
            actors=gpus,
            num_gpus=1,
            num_cpus=1,
            device="cuda",
            threads=1,
            batch=chunk_size("cuda", batch_size),
        )
    actors = max(1, cpus // CORES_PER_ACTOR)
    return dict(
        actors=actors,
        num_gpus=0,
        num_cpus=1,
        device="cpu",
        threads=max(1, cpus // actors),
        batch=chunk_size("cpu", batch_size),
    )


def run_ray(
    items: Sequence[InputItem | str],
    opts: BatchOptions,
    *,
    device: str | None = None,
    address: str | None = None,
    batch_size: int | None = None,
    check: bool = True,
) -> list[list[str]]:
    """Process inputs on a Ray cluster into ``results.csv``, Parquet shards and maps.

    Args:
        items: inputs in order (already sharded): :class:`InputItem` objects, or paths of files
            and folders (expanded like the command's INPUTs, as not aligned).
        opts: the run's settings (``resume`` is not supported here).
        device: ``None`` (GPUs when the cluster has them), ``"cpu"`` or ``"cuda"``.
        address: a cluster to join (``"auto"``, ``"ray://host:10001"``); ``None`` joins
            the one this process already started, else starts a local one.
        batch_size: faces per model call; ``None`` = the policy of the actors' device.
        check: try ``address`` first (:func:`check_address`); ``False`` when done already.
    Returns:
        Every row of the final table, in input order.
    Example:
        >>> opts = BatchOptions(csv_path=Path("out/results.csv"), maps_dir=Path("out"))
        >>> rows = run_ray(["photos/"], opts, address="auto")
    """
    from .inputs import expand_inputs

    paths = [os.fspath(it) for it in items if not isinstance(it, InputItem)]
    if paths:
        items = [it for it in items if isinstance(it, InputItem)] + expand_inputs(paths)
    started = not ray.is_initialized()
    if started and address and check:
        check_address(address)
    if started:
        ray.init(address=address, log_to_driver=False, include_dashboard=False)
    try:
        return _run(items, opts, device, batch_size)
    finally:
        if started:
            ray.shutdown()


def connect_timeout() -> float:
    """Seconds an ``--address`` may take to answer (:data:`CONNECT_TIMEOUT_S`)."""
    try:
        return max(1.0, float(os.environ.get("PIXELFIQ_RAY_CONNECT_TIMEOUT", CONNECT_TIMEOUT_S)))
    except ValueError:
        return CONNECT_TIMEOUT_S


def check_address(address: str) -> None:
    """Refuse a cluster address that does not answer within :func:`connect_timeout`.

    A ``host:port`` (or ``ray://host:port``) that refuses connections fails at once;
    otherwise a separate process joins the cluster and leaves it, and is stopped when
    it takes longer than the timeout.

    Raises:
        UsageError: nothing answers at ``address``, or it is not a Ray cluster.
    """
    timeout = connect_timeout()
    hint = "check it (`ray status` on the head node), or leave --address out for a local cluster"
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if host and port.isdigit():
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise UsageError(
                f"--address {address!r} cannot be reached ({reason}); {hint}"
            ) from None
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, address],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"--address {address!r}: no Ray cluster answered within {timeout:g} s; {hint}"
        ) from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        reason = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise UsageError(f"--address {address!r} is not a Ray cluster here ({reason}); {hint}")


def _run(items, opts: BatchOptions, device, batch_size) -> list[list[str]]:
    ray.data.DataContext.get_current().enable_progress_bars = opts.progress
    table, todo = prepare_table(items, opts)
    plan = _plan(device, batch_size)
    log.info("ray: %s", plan)
    if opts.maps_dir is not None:
        Path(opts.maps_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    records = [
        {
            "index": k,
            "path": it.path,
            "source": it.source,
            "aligned": it.aligned,
            "skip_reason": it.skip_reason or "",
        }
        for k, it in enumerate(todo)
    ]
    try:
        if not records:
            rows = table.finish()
            mark_finished(opts.csv_path)
            return rows
        blocks = max(1, min(len(records) // DECODE_BATCH, 200))
        ds = ray.data.from_items(records, override_num_blocks=blocks)
        ds = ds.map_batches(
            _decode, fn_kwargs={"opts": opts}, batch_size=DECODE_BATCH, num_cpus=DECODE_CPUS
        )
        ds = ds.map_batches(
            _Scorer,
            fn_constructor_kwargs={
                "opts": opts,
                "device": plan["device"],
                "threads": plan["threads"],
            },
            batch_size=plan["batch"],
            compute=ray.data.ActorPoolStrategy(size=plan["actors"]),
            num_cpus=plan["num_cpus"],
            num_gpus=plan["num_gpus"],
        ).materialize()
        target = parquet_dir(opts.csv_path)
        if target.is_dir():
            shutil.rmtree(target)
        ds.drop_columns(["index"]).write_parquet(os.fspath(target.resolve()))
        rows = sorted(ds.iter_rows(), key=lambda r: r["index"])
        for r in rows:
            table.append([str(r[c]) for c in COLUMNS])
        n_ok = sum(r["status"] == "ok" for r in rows)
        elapsed = time.perf_counter() - start
        log.info("ray: %d faces in %.1f s: %.2f faces/s", n_ok, elapsed, n_ok / elapsed)
    finally:
        table.close()
    rows = table.finish()
    mark_finished(opts.csv_path)
    return rows
