"""``pixelfiq check``: is this machine ready for the course? (:mod:`pixelfiq_lib.setup_check`)."""

from __future__ import annotations

import argparse
import sys
import time

from ...setup_check import check_setup, verdict


def add_parser(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="is this machine ready for the course? imports, networks, a map, a kernel",
        description="One PASS/FAIL line per check, with the fix for each failure; exit 0 "
        "when every check passed (the same as `python -m pixelfiq_lib.setup_check`).",
    )
    p.add_argument("--kernel", default="python3", help="Jupyter kernel to try (python3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print every check as it finishes, then the verdict; 0 ready, 1 not ready."""
    print(f"pixelfiq course check: Python {sys.version.split()[0]} at {sys.executable}")
    start = time.perf_counter()
    checks = check_setup(kernel=args.kernel)
    print(verdict(checks, time.perf_counter() - start))
    return 0 if all(c.ok for c in checks) else 1
