"""``quality_100``: SER-FIQ's raw Q on the 0-100 integer scale of ISO/IEC 29794-1.

Raw Q lives in a narrow, network-specific band (SFace about 0.81-0.91, MobileFaceNet
0.77-0.79), so a raw number says little by itself. ``quality_100`` says where a face
stands among typical, good faces *of the same network*:

    quality_100 = round(100 / (1 + exp(-slope (Q - centre))))        (clipped to 0..100)

a monotone map (a higher Q never gets a lower ``quality_100``), fitted by the same rule
as the network's alpha and r (:func:`~pixelfiq_lib.core.calibration.fit_scaling`):
``centre`` is the median raw Q of the reference faces (median face -> 50) and ``slope``
puts the central 90 % of them inside 5..95. A face below the reference set's 5 %
quantile therefore scores below 5, one above its 95 % quantile above 95.

The :attr:`Quality100.percentiles` table (raw Q and ``quality_100`` at the 1, 5, 10, 25
and 50 % quantiles of reference faces) lets a user pick a discard threshold: "drop the
worst 5 %" means ``quality_100 < percentile(5)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError, PixelfiqError

#: Quantiles (percent) of the percentile table.
PERCENTS = (1, 5, 10, 25, 50)
#: Fraction of reference faces mapped inside 5..95 (the rule of ``fit_scaling``).
COVERAGE = 0.9
#: The reference faces of the shipped networks' maps (benchmarks/calibrate.py --quality-100).
Q100_FITTED_ON = (
    "27 faces: insightface's 7 sample faces + bbt amy, bernadette, howard, leonard (5 each)"
)
Q100_REPORTED_ON = "20 held-out bbt faces: penny, raj, sheldon, stuart (5 each)"
#: Version tag of the settings file written by ``pixelfiq quality --calibrate``.
SETTINGS_KIND = "pixelfiq-quality-100"


@dataclass(frozen=True)
class Quality100:
    """The monotone map raw Q -> ``quality_100`` of one network (module docstring).

    Attributes:
        slope, centre: ``quality_100 = round(100 sigmoid(slope (Q - centre)))``.
        percentiles: ``((percent, raw Q, quality_100), ...)`` of the faces in
            ``reported_on`` (empty when not measured).
        fitted_on: which faces the map was fitted on (text).
        reported_on: which faces the percentile table was measured on (text).
    """

    slope: float
    centre: float
    percentiles: tuple[tuple[float, float, int], ...] = ()
    fitted_on: str = ""
    reported_on: str = ""
    model: str = field(default="", compare=False)

    def __call__(self, q_raw: object) -> np.ndarray:
        """``quality_100`` (int64 array, 0..100) of raw qualities (any array-like)."""
        q = np.asarray(_numpy(q_raw), dtype=np.float64)
        z = np.clip(self.slope * (q - self.centre), -60.0, 60.0)
        return np.clip(np.round(100.0 / (1.0 + np.exp(-z))), 0, 100).astype(np.int64)

    def with_percentiles(self, q_raw: object, reported_on: str) -> Quality100:
        """A copy whose percentile table is measured on ``q_raw`` (see :func:`percentile_table`)."""
        return Quality100(
            self.slope,
            self.centre,
            percentile_table(q_raw, self),
            self.fitted_on,
            reported_on,
            self.model,
        )

    def as_dict(self) -> dict[str, object]:
        """Plain data (JSON-ready)."""
        return {
            "kind": SETTINGS_KIND,
            "model": self.model,
            "slope": self.slope,
            "centre": self.centre,
            "rule": "quality_100 = round(100 / (1 + exp(-slope (Q - centre))))",
            "fitted_on": self.fitted_on,
            "reported_on": self.reported_on,
            "percentiles": [
                {"percent": p, "quality_raw": q, "quality_100": int(v)}
                for p, q, v in self.percentiles
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Quality100:
        """Inverse of :meth:`as_dict`.

        Raises:
            InvalidArgumentError: not a quality_100 settings record.
        """
        try:
            if d.get("kind") != SETTINGS_KIND:
                raise KeyError("kind")
            slope, centre = float(d["slope"]), float(d["centre"])
            rows = tuple(
                (float(r["percent"]), float(r["quality_raw"]), int(r["quality_100"]))
                for r in d.get("percentiles", [])
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"not a pixelfiq quality_100 settings file (missing or bad {exc})"
            ) from exc
        if not (math.isfinite(slope) and slope > 0 and math.isfinite(centre)):
            raise InvalidArgumentError(f"bad quality_100 settings: slope {slope}, centre {centre}")
        return cls(
            slope,
            centre,
            rows,
            str(d.get("fitted_on", "")),
            str(d.get("reported_on", "")),
            str(d.get("model", "")),
        )

    def save(self, path: str | Path) -> Path:
        """Write the settings file that ``--settings FILE`` reads."""
        from ..files import atomic_write

        text = json.dumps(self.as_dict(), indent=1) + "\n"
        atomic_write(path, text.encode())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Quality100:
        """Read a settings file written by :meth:`save` (``pixelfiq quality --calibrate``).

        Raises:
            InvalidArgumentError: unreadable, not JSON, or not such a file.
        """
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidArgumentError(f"cannot read settings file {str(path)!r}: {exc}") from exc
        except RecursionError as exc:  # JSON nested deeper than the parser's stack
            raise InvalidArgumentError(
                f"cannot read settings file {str(path)!r}: nested too deeply to be one"
            ) from exc
        return cls.from_dict(d)


def _numpy(values: object) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def fit_quality_100(
    q_raw: object, *, fitted_on: str = "", model: str = "", coverage: float = COVERAGE
) -> Quality100:
    """Fit the map on raw qualities of typical, good faces (at least 5) of one network.

    ``centre`` = their median (median face -> 50); ``slope`` maps their central
    ``coverage`` fraction into [100 (1-coverage)/2, 100 (1+coverage)/2] (5..95): the
    rule of :func:`~pixelfiq_lib.core.calibration.fit_scaling`. The percentile table is
    measured on the same faces; use :meth:`Quality100.with_percentiles` to report it
    on other (held-out) faces.

    Raises:
        PixelfiqError: fewer than 5 finite qualities, or all equal.
    """
    from .calibration import fit_scaling

    q = _numpy(q_raw).ravel()
    if q.size >= 5 and np.ptp(q) <= 0:
        raise PixelfiqError("fit_quality_100: every raw quality is the same; nothing to spread")
    slope, centre = fit_scaling(q, coverage)
    mapping = Quality100(slope, centre, (), fitted_on, fitted_on, model)
    return mapping.with_percentiles(q, fitted_on)


def percentile_table(q_raw: object, mapping: Quality100) -> tuple[tuple[float, float, int], ...]:
    """``((percent, raw Q, quality_100), ...)`` at :data:`PERCENTS` of ``q_raw``.

    Quantiles use numpy's default (linear) interpolation.
    """
    q = _numpy(q_raw).ravel()
    if q.size == 0:
        raise PixelfiqError("percentile_table needs at least one raw quality")
    at = np.quantile(q, [p / 100.0 for p in PERCENTS])
    return tuple((float(p), float(v), int(mapping(v))) for p, v in zip(PERCENTS, at))


def format_percentiles(mapping: Quality100) -> str:
    """The percentile table as Markdown rows (``| percent | raw Q | quality_100 |``)."""
    lines = ["| quantile of reference faces | raw Q | quality_100 |", "|---|---|---|"]
    lines += [f"| {p:g} % | {q:.4f} | {v} |" for p, q, v in mapping.percentiles]
    return "\n".join(lines)
