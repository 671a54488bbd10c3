"""Speed and memory of PLQ maps against forward+backward, the naive loop and Captum.

The same run as ``pixelfiq bench`` (:mod:`pixelfiq_lib.speed`), for a checkout
without the console script::

    python benchmarks/bench_plq.py --out benchmarks/results.json
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pixelfiq_lib.cli import main as pixelfiq  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run ``pixelfiq bench`` with these options; returns the exit status."""
    return pixelfiq(["bench", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
