"""Speed and memory of PLQ maps against forward+backward, the naive loop and Captum.

Same code and options as ``pixelfiq bench`` (see ``pixelfiq_lib/bench.py``)::

    python benchmarks/bench_plq.py --out benchmarks/results.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pixelfiq_lib.cli.bench import add_cli_arguments, run_cli  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(prog="bench_plq.py", description=__doc__.splitlines()[0])
    return run_cli(add_cli_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
