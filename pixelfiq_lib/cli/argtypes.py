"""Argument types of the command line: every number is checked while parsing (exit 2).

One place for the ranges, so that ``explain``, ``quality``, ``evaluate`` and ``bench``
refuse the same bad numbers the same way (argparse prints the usage and exits 2).
"""

from __future__ import annotations

import argparse

from ..core import MAX_PASSES, MAX_SEED

#: Largest count accepted by the size and count options (faces, repeats, pairs ...).
MAX_COUNT = 10**9


def int_range(low: int, high: int | None = None, name: str = "value"):
    """An argparse ``type`` accepting whole numbers in [low, high] (``high`` inclusive)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except (ValueError, AttributeError):
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            upper = f" and at most {high}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"{name} must be at least {low}{upper}, got {value}")
        return value

    parse.__name__ = name
    return parse


#: ``--passes``: T in [2, MAX_PASSES]; ``--seed``: [0, 2^63); sizes and counts >= 1.
passes = int_range(2, MAX_PASSES, "passes")
seed = int_range(0, MAX_SEED - 1, "seed")
positive = int_range(1, MAX_COUNT, "count")
non_negative = int_range(0, MAX_COUNT, "count")
