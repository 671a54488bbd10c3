"""Progress bars of the evaluation's long stages (tqdm on stderr), off unless switched on.

``pixelfiq evaluate`` switches them on (``--quiet`` keeps them off); library calls and
tests stay silent by default. Use :func:`show_progress` as a context manager or call
:func:`set_progress`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_STATE = {"on": False}


def set_progress(on: bool) -> bool:
    """Switch the bars on or off; returns the previous setting."""
    before, _STATE["on"] = _STATE["on"], bool(on)
    return before


@contextlib.contextmanager
def show_progress(on: bool = True) -> Iterator[None]:
    """Bars on (or off) inside the ``with`` block, restored after."""
    before = set_progress(on)
    try:
        yield
    finally:
        set_progress(before)


def progress_enabled() -> bool:
    """Whether bars are shown now."""
    return _STATE["on"]


def progress(items: Iterable[T], desc: str, *, total: int | None = None, unit: str = "it"):
    """``items`` wrapped in a tqdm bar when bars are on (else returned unchanged)."""
    if not _STATE["on"]:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, total=total, unit=unit, dynamic_ncols=True, leave=False)


def stage_bar(desc: str, total: int, unit: str = "stage"):
    """A manually advanced tqdm bar (``update``, ``set_postfix_str``, ``close``); a no-op
    bar when bars are off."""
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, unit=unit, disable=not _STATE["on"], dynamic_ncols=True, leave=False
    )
