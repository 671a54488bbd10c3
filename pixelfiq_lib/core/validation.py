"""Checks of the method's numeric settings, shared by SER-FIQ and the maps.

Each raises :class:`~pixelfiq_lib.errors.InvalidArgumentError` (also a ``ValueError``)
with the name of the setting; :meth:`~.quality.SerfiqSettings.resolved` calls them.
"""

from __future__ import annotations

import math
import numbers

from ..errors import InvalidArgumentError
from .constants import MAX_PASSES, MAX_SEED


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def check_passes(n_passes: object) -> int:
    """``n_passes`` as an int in [2, :data:`MAX_PASSES`].

    Raises:
        InvalidArgumentError: not a whole number in that range.
    """
    n = _whole("n_passes", n_passes)
    if not 2 <= n <= MAX_PASSES:
        raise InvalidArgumentError(
            f"n_passes must be in [2, {MAX_PASSES}] (2 to compare embeddings; the paper "
            f"uses 100), got {n}"
        )
    return n


def check_seed(seed: object) -> int:
    """``seed`` as an int in [0, 2^63).

    Raises:
        InvalidArgumentError: not a whole number in that range.
    """
    value = _whole("seed", seed)
    if not 0 <= value < MAX_SEED:
        raise InvalidArgumentError(f"seed must be in [0, 2^63), got {value}")
    return value


def finite(
    name: str, value: object, *, low: float | None = None, high: float | None = None
) -> float:
    """``value`` as a finite float, strictly inside (low, high) when they are given.

    Raises:
        InvalidArgumentError: not a finite number in that range.
    """
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, (bool, str)) or not math.isfinite(number):
        raise InvalidArgumentError(f"{name} must be a finite number, got {value!r}")
    if (low is not None and number <= low) or (high is not None and number >= high):
        bounds = f"({low if low is not None else '-inf'}, {high if high is not None else 'inf'})"
        raise InvalidArgumentError(f"{name} must be in {bounds}, got {number}")
    return number


def positive(name: str, value: object) -> float:
    """``value`` as a finite float > 0.

    Raises:
        InvalidArgumentError: not a finite positive number.
    """
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, (bool, str)) or not math.isfinite(number) or number <= 0:
        raise InvalidArgumentError(f"{name} must be a finite positive number, got {value!r}")
    return number
