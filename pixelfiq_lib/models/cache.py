"""Checksums, downloads and the cache of converted networks under ``config.cache_dir()/models``."""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import onnx

from ..config import cache_dir
from ..errors import ModelError
from ..files import atomic_write

# --------------------------------------------------------------------------------------
# Checksums and the model cache
# --------------------------------------------------------------------------------------

logger = logging.getLogger(__name__)


_CACHE_FORMAT = 2  # bump when prepare_onnx changes what it writes: old caches are ignored
_MAX_DOWNLOAD = 64 * 2**20


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(2**20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: str | Path, sha256: str, *, fix: str, algorithm: str = "sha256") -> Path:
    """Check that ``path`` exists and has the expected digest.

    Args:
        path: the file to check.
        sha256: expected hex digest (of ``algorithm``, SHA-256 by default).
        fix: what the user should do when the check fails (put into the message).
        algorithm: ``hashlib`` name of the digest.
    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    Raises:
        ModelError: the file is missing, truncated or altered; the message names the
            file, both digests and ``fix``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} is missing. To fix it: {fix}")
    actual = file_digest(path, algorithm)
    if actual != sha256:
        raise ModelError(
            f"model file {path} is damaged or truncated ({path.stat().st_size} bytes, "
            f"{algorithm} {actual}, expected {sha256}). To fix it: {fix}"
        )
    return path


def _models_dir() -> Path:
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def canonical_bytes(model: onnx.ModelProto) -> bytes:
    """The bytes a converted network is cached as: initializers and value infos sorted by
    name, serialized deterministically (tflite2onnx emits initializers in a random order,
    so the same conversion would otherwise give different files)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for field in (model.graph.initializer, model.graph.value_info):
        ordered = sorted(field, key=lambda t: t.name)
        del field[:]
        field.extend(ordered)
    return model.SerializeToString(deterministic=True)


def cached_path(key: str) -> Path:
    """Where the converted network ``key`` is cached (it may not exist)."""
    return _models_dir() / f"{key}-v{_CACHE_FORMAT}.onnx"


def cache_state(key: str, sha256: str) -> str:
    """``"absent"``, ``"ok"`` or ``"damaged"``: the cached conversion against its fixed digest."""
    path = cached_path(key)
    if not path.is_file():
        return "absent"
    try:
        return "ok" if file_digest(path) == sha256 else "damaged"
    except OSError:
        return "damaged"


def _cached_onnx(key: str, build: Callable[[], onnx.ModelProto], sha256: str) -> onnx.ModelProto:
    """Load ``<cache>/models/<key>-v<format>.onnx``, (re)building it when absent or damaged.

    The cached file is trusted only when its SHA-256 equals ``sha256``, a digest fixed in
    the code for each shipped network (computed from its verified source with
    :func:`canonical_bytes`). No checksum written beside the file is believed: an
    altered or truncated cache (even with a rewritten ``.sha256``) is rebuilt from the
    verified source, with a warning naming the file. A build whose bytes differ from
    ``sha256`` (another onnx or tflite2onnx version) is used but never cached, with a
    warning, so the cache only ever holds the known conversion.
    """
    path = cached_path(key)
    if path.is_file():
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() == sha256:
            return onnx.load_from_string(data)
        logger.warning(
            "cached model %s is damaged or altered (%d bytes, SHA-256 %s, expected %s); "
            "rebuilding it from the verified source",
            path,
            len(data),
            hashlib.sha256(data).hexdigest(),
            sha256,
        )
    start = time.perf_counter()
    data = canonical_bytes(build())
    logger.info("built %s in %.2f s", path.name, time.perf_counter() - start)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        logger.warning(
            "converting %s gave SHA-256 %s, not the expected %s (another onnx/tflite2onnx "
            "version?); it is used but not cached, and rebuilt at every load",
            path.name,
            actual,
            sha256,
        )
        return onnx.load_from_string(data)
    try:
        atomic_write(path, data)
    except OSError as exc:  # a read-only cache still lets the model load
        logger.warning("cannot cache %s (%s); it is rebuilt at every load", path, exc)
    return onnx.load_from_string(data)


def _download(url: str, timeout: float, manual: str = "") -> bytes:
    """Bytes at ``url`` (``https://`` or ``file://``), at most 64 MiB.

    ``manual`` ends the error message: how to place the file by hand instead.
    """
    if not url.startswith(("https://", "file://")):
        raise ModelError(f"refusing to download from {url!r}: only https:// and file:// URLs")
    request = urllib.request.Request(url, headers={"User-Agent": "pixelfiq"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (scheme checked)
            data = resp.read(_MAX_DOWNLOAD + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise ModelError(f"could not download {url}: {exc}. Check the network{manual}") from exc
    if len(data) > _MAX_DOWNLOAD:
        raise ModelError(f"{url} is larger than {_MAX_DOWNLOAD // 2**20} MiB; refusing it")
    return data
