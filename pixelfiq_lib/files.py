"""Files: which names are images, and the one way the library writes a file.

Every file pixelfiq writes (converted models, maps, figures, tables) goes through
:func:`atomic_write`: written under a hidden temporary name in its own folder, then
renamed, so a killed process leaves either the old file or the new one, never half a
file. Temporaries carry the host and process id, so a later run can remove those of
dead processes (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _image_suffixes() -> frozenset[str]:
    """Every suffix whose format the decoder (Pillow) reads; JPEG 2000 only when built in."""
    base = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
    base |= {".pgm", ".ppm", ".pbm", ".pnm", ".gif"}  # netpbm (8/16-bit), GIF's first frame
    try:
        from PIL import features

        if features.check("jpg_2000"):
            base |= {".jp2", ".j2k"}
    except Exception:  # noqa: BLE001 - a Pillow without the features module: no JPEG 2000
        pass
    return frozenset(base)


#: File suffixes (lower case) that a folder search treats as images: every format the
#: decoder reads. A file named explicitly is decoded by its content, whatever its suffix.
IMAGE_SUFFIXES = _image_suffixes()
#: Prefix of the temporaries :func:`atomic_write` creates.
TEMP_PREFIX = ".pixelfiq-tmp-"


def is_image_name(name: str | os.PathLike) -> bool:
    """True when ``name`` ends with one of :data:`IMAGE_SUFFIXES` (any case)."""
    return os.path.splitext(os.fspath(name))[1].lower() in IMAGE_SUFFIXES


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:20] or "host"


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None] | bytes) -> None:
    """Write a file under a hidden temporary name in its folder, then rename it.

    Args:
        path: the final file.
        write: the bytes to write, or a function called with the open binary
            temporary file.
    """
    if isinstance(write, (bytes, bytearray, memoryview)):
        payload = bytes(write)
        write = lambda fh: fh.write(payload)  # noqa: E731
    path = Path(path)
    tmp = path.with_name(f"{TEMP_PREFIX}{_host()}-{os.getpid()}-{path.name}")
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
    prefix, removed = f"{TEMP_PREFIX}{_host()}-", 0
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            pid = name[len(prefix) :].split("-", 1)[0] if name.startswith(prefix) else ""
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
