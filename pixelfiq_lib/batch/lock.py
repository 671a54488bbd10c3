"""The output lock: one run at a time writes a given results table.

Two runs appending to one ``results.csv`` lose rows (each start swaps in a new file,
the other run appends to a file that no longer exists). A run therefore holds
``.<table>.lock`` beside its table (an OS file lock via :mod:`filelock`, released by the
operating system even when the run is killed) and writes its pid and host into
``.<table>.lock.owner``; a second run into the same table exits 2 with
"another pixelfiq run (pid N on HOST) is writing here". Shards write different tables
(``results-shardIofN.csv``) and so run in parallel into one folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import InvalidArgumentError


def lock_paths(csv_path: Path) -> tuple[Path, Path]:
    """The lock file and its owner note for the table ``csv_path``."""
    lock = csv_path.with_name(f".{csv_path.name}.lock")
    return lock, lock.with_name(lock.name + ".owner")


@contextlib.contextmanager
def output_lock(csv_path: Path) -> Iterator[None]:
    """Hold the lock of ``csv_path`` for the duration of the block.

    Raises:
        InvalidArgumentError: another run holds it (the message gives its pid and host).
    """
    lock_path, owner_path = lock_paths(csv_path)
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:  # (an OSError too: caught first)
        raise InvalidArgumentError(
            f"another pixelfiq run ({_owner(owner_path)}) is writing here "
            f"({csv_path}); wait for it to finish, or use another --out "
            "(parallel shards with --shard write separate tables)"
        ) from None
    except OSError as exc:  # a read-only file system, no permission
        raise InvalidArgumentError(
            f"cannot write {csv_path}: {exc.strerror or exc}; give an --out where pixelfiq "
            "may write"
        ) from exc
    try:
        owner = {"pid": os.getpid(), "host": socket.gethostname()}
        with contextlib.suppress(OSError):
            owner_path.write_text(json.dumps(owner))
        yield
    finally:
        with contextlib.suppress(OSError):
            owner_path.unlink()
        lock.release()  # the lock file stays: unlinking it would let two runs lock


def _owner(path: Path) -> str:
    try:
        owner = json.loads(path.read_text())
        return f"pid {int(owner['pid'])} on {owner['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"


def check_free(csv_path: Path) -> None:
    """Refuse at once when another run holds the lock of ``csv_path`` (creates nothing:
    only an existing lock file is tried).

    Raises:
        InvalidArgumentError: another run holds it (the message gives its pid and host).
    """
    if lock_paths(csv_path)[0].exists():
        with output_lock(csv_path):
            pass
