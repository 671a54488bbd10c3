"""The library's one chunking policy: how many faces go through the network at once.

On a CPU the per-face cost of a forward (and backward) pass *rises* with the batch
size (SFace, batch 32: forward 9.5 ms/face in chunks of 8 against 13.9 ms unchunked),
so faces are processed 8 at a time there; on an accelerator, 64 at a time. The
quality-gradient map holds T x D masked features per face in the autograd graph, so it
uses smaller chunks. Every function that chunks (SER-FIQ, the maps, the baselines, the
deletion curves, the command line, the evaluation) asks :func:`chunk_size`.
"""

from __future__ import annotations

import numbers

import torch

from ..errors import InvalidArgumentError

#: Faces per pass on a CPU and on an accelerator.
CPU_CHUNK, DEVICE_CHUNK = 8, 64
#: The same for passes that keep T stochastic heads per face in the autograd graph.
HEAVY_CPU_CHUNK, HEAVY_DEVICE_CHUNK = 2, 8


def chunk_size(
    device: torch.device | str, requested: int | None = None, *, heavy: bool = False
) -> int:
    """Faces per pass on ``device``: ``requested`` when given, else the policy above.

    Raises:
        InvalidArgumentError: ``requested`` is not a whole number >= 1.
    """
    if requested is not None:
        if (
            isinstance(requested, bool)
            or not isinstance(requested, numbers.Integral)
            or requested < 1
        ):
            raise InvalidArgumentError(f"chunk_size must be a whole number >= 1, got {requested!r}")
        return int(requested)
    on_cpu = torch.device(device).type == "cpu"
    if heavy:
        return HEAVY_CPU_CHUNK if on_cpu else HEAVY_DEVICE_CHUNK
    return CPU_CHUNK if on_cpu else DEVICE_CHUNK
