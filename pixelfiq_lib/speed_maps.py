"""``pixelfiq bench``'s map rows: every registered map method at :data:`MAP_BATCH` faces.

One row per method, named ``map:NAME``, timed with the settings of the benchmarks and
``explain`` (:func:`~pixelfiq_lib.core.maps.map_settings`, the run's T and seed) on a
batch of :data:`MAP_BATCH` faces, interleaved with the floor (``forward_backward``) on
the same batch: ``ratio_to_floor`` is the method's forward+backward equivalents per
face. The paper's map is ``map:plq``; a map's cost relative to it is a ratio of these rows.

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from .core.maps import list_map_methods, map_settings, quality_map, resolve_map_method
from .evaluation.runinfo import peak_memory_mb

if TYPE_CHECKING:
    from .models import FRModel
    from .speed import BenchSettings

#: Faces per timed call of a map method (CPU chunks of 8: one chunk).
MAP_BATCH = 8
PREFIX = "map:"
FLOOR = "forward_backward"


def bench_maps(
    model: FRModel,
    faces: torch.Tensor,
    names: Sequence[str],
    s: BenchSettings,
    log: Callable[[str], None] = print,
    *,
    floor: Callable,
    timer: Callable,
    fill: Callable,
) -> list[dict]:
    """Rows ``map:NAME`` with images/s, forward+backward equivalents and peak memory.

    Measured once per network on :data:`MAP_BATCH` faces (``s.few_repeats`` rounds,
    median), each round timing the floor and every method in turn. ``floor(model, x, s)``,
    ``timer(fns, device, repeats)`` and ``fill(faces, n)`` are :mod:`.speed`'s
    ``run_forward_backward``, ``time_interleaved`` and ``fill_batch``.
    """
    names = list(dict.fromkeys(resolve_map_method(n) for n in names))
    if not names:
        return []
    x = fill(faces, MAP_BATCH).to(model.device)
    kw = map_settings(s.n_passes, s.seed)
    fns = {FLOOR: lambda: floor(model, x, s)}
    fns |= {n: (lambda n=n: quality_map(model, x, n, **kw[n])) for n in names}
    seconds = timer(fns, x.device, s.few_repeats)
    rows = []
    for n in names:
        mem = peak_memory_mb(fns[n], x.device)
        ratio = seconds[n] / seconds[FLOOR]
        rows.append(
            dict(
                model=model.name,
                device=str(x.device),
                batch=MAP_BATCH,
                method=PREFIX + n,
                images_per_s=MAP_BATCH / seconds[n],
                ratio_to_floor=ratio,
                ratio_to_kernel=None,
                peak_mem_mb=mem,
            )
        )
        log(f"{model.name:>14} {x.device} batch {MAP_BATCH} {PREFIX + n:>30}: {ratio:6.1f} fwd+bwd")
    return rows


def map_rows_wanted(names: list[str]) -> list[str]:
    """``--maps``: ``["all"]`` -> every registered map, ``["none"]`` -> none, else the
    names checked (an unknown one raises InvalidArgumentError: exit 2)."""
    if names in (["all"], ["none"]):
        return list_map_methods() if names == ["all"] else []
    return [resolve_map_method(n) for n in names]
