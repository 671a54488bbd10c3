"""Execute the course notebooks into executed ``.ipynb`` and HTML copies.

Readers without Jupyter can then read every notebook with its figures. The notebooks
in ``notebooks/`` stay without outputs; the copies go to ``--out``.

Usage::

    python -m tools.run_notebooks --out out/notebooks          # full mode
    python -m tools.run_notebooks --out out/nb --fast 00 03    # FAST, two notebooks

Full mode unsets ``PIXELFIQ_FAST`` for the kernels; ``--fast`` sets it to 1. The
kernels always get matplotlib's inline backend (an inherited ``MPLBACKEND=Agg`` would
drop every figure from the copies).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat

from . import NOTEBOOK_DIR
from .navigation import notebook_names

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@contextmanager
def kernel_environment(fast: bool):
    """Set ``PIXELFIQ_FAST`` and the inline backend for kernels started inside."""
    keys = ("PIXELFIQ_FAST", "MPLBACKEND")
    saved = {k: os.environ.get(k) for k in keys}
    if fast:
        os.environ["PIXELFIQ_FAST"] = "1"
    else:
        os.environ.pop("PIXELFIQ_FAST", None)
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def select(names: list[str], prefixes: list[str]) -> list[str]:
    """The notebooks whose name starts with one of ``prefixes`` (all when empty)."""
    chosen = [n for n in names if not prefixes or any(n.startswith(p) for p in prefixes)]
    if not chosen:
        raise SystemExit(f"no notebook matches {prefixes}; known: {', '.join(names)}")
    return chosen


def execute(
    path: Path, out_dir: Path, *, timeout: int, kernel: str, exporter=None
) -> tuple[Path, Path, float]:
    """Run one notebook (cwd = its folder); write ``NAME.ipynb`` and ``NAME.html`` to ``out_dir``.

    ``exporter`` is the nbconvert HTML exporter (default: JupyterLab's template); the course
    book passes its own (tools.build_book).

    Returns:
        The two written paths and the run time in seconds.
    Raises:
        nbclient.exceptions.CellExecutionError: a cell failed; the partly executed
        notebook is still written, so the error can be read in context.
    """
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(path, as_version=4)
    runner = ExecutePreprocessor(timeout=timeout, kernel_name=kernel)
    start = time.perf_counter()
    try:
        runner.preprocess(nb, {"metadata": {"path": str(path.parent)}})
    finally:
        seconds = time.perf_counter() - start
        out_dir.mkdir(parents=True, exist_ok=True)
        ipynb, html = out_dir / path.name, out_dir / f"{path.stem}.html"
        nbformat.write(nb, ipynb)
        exporter = exporter or HTMLExporter(template_name="lab")
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        html.write_text(body, encoding="utf-8")
    return ipynb, html, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute the course notebooks into .ipynb + HTML.")
    parser.add_argument(
        "only", nargs="*", help="run only notebooks starting with these prefixes (e.g. 00 03)"
    )
    parser.add_argument("--out", required=True, type=Path, help="folder for the executed copies")
    parser.add_argument("--fast", action="store_true", help="set PIXELFIQ_FAST=1 (small settings)")
    parser.add_argument("--folder", type=Path, default=NOTEBOOK_DIR, help="where the notebooks are")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    args = parser.parse_args(argv)
    names = select(notebook_names(args.folder), args.only)
    failed = []
    with kernel_environment(args.fast):
        for name in names:
            try:
                _, html, seconds = execute(
                    args.folder / name, args.out, timeout=args.timeout, kernel=args.kernel
                )
                print(f"{name}: {seconds:.0f} s -> {html}", flush=True)
            except Exception as exc:  # keep going: report every failing notebook
                failed.append(name)
                print(
                    f"{name}: FAILED ({type(exc).__name__}); partial copy in {args.out}", flush=True
                )
                print(str(exc)[-2000:], file=sys.stderr)
    mode = "FAST" if args.fast else "full"
    print(
        f"{len(names) - len(failed)}/{len(names)} notebooks executed in {mode} mode into {args.out}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
