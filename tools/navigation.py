"""Write and check the navigation line at the top and bottom of every course notebook.

The line links the previous notebook, the index and the next one::

    < [02 · Regression construction](02_regression_construction.ipynb) | [Index](../README.md)
      | [04 · Paper experiments](04_paper_experiments.ipynb) >

It is generated from the file names, never edited by hand: the top copy is the last
line of the title cell, the bottom copy is a markdown cell of its own at the end.

Usage::

    python -m tools.navigation            # rewrite the lines in notebooks/
    python -m tools.navigation --check    # exit 1 when a line is missing or stale
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from . import NOTEBOOK_DIR

#: A course notebook's file name: two digits, underscore, lower-case snake case.
NOTEBOOK_RE = re.compile(r"^(\d\d)_([a-z0-9_]+)\.ipynb$")
#: Where the index link points, relative to ``notebooks/``.
INDEX_LINK = "[Index](../README.md)"


def notebook_names(folder: str | Path = NOTEBOOK_DIR) -> list[str]:
    """File names of the numbered notebooks in ``folder``, sorted."""
    return sorted(p.name for p in Path(folder).glob("*.ipynb") if NOTEBOOK_RE.match(p.name))


def label(name: str) -> str:
    """``"02_regression_construction.ipynb"`` -> ``"02 · Regression construction"``."""
    match = NOTEBOOK_RE.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a course notebook name (NN_snake_case.ipynb)")
    number, words = match.groups()
    return f"{number} · {words.replace('_', ' ').capitalize()}"


def nav_line(name: str, names: list[str]) -> str:
    """The navigation line of notebook ``name`` within the ordered list ``names``."""
    i = names.index(name)
    parts = [INDEX_LINK]
    if i > 0:
        parts.insert(0, f"< [{label(names[i - 1])}]({names[i - 1]})")
    if i + 1 < len(names):
        parts.append(f"[{label(names[i + 1])}]({names[i + 1]}) >")
    return " | ".join(parts)


def is_nav_line(line: str) -> bool:
    """True for a (possibly stale) navigation line."""
    return INDEX_LINK in line


def _without_nav(source: str) -> str:
    kept = [ln for ln in source.splitlines() if not is_nav_line(ln)]
    return "\n".join(kept).rstrip()


def _is_nav_cell(cell) -> bool:
    lines = [ln for ln in cell.source.splitlines() if ln.strip()]
    return cell.cell_type == "markdown" and len(lines) == 1 and is_nav_line(lines[0])


def with_navigation(nb: nbformat.NotebookNode, line: str) -> nbformat.NotebookNode:
    """Put ``line`` at the end of the title cell and as the last cell (in place)."""
    title = nb.cells[0]
    title.source = f"{_without_nav(title.source)}\n\n{line}"
    if len(nb.cells) > 1 and _is_nav_cell(nb.cells[-1]):
        nb.cells[-1].source = line
    else:
        nb.cells.append(nbformat.v4.new_markdown_cell(line))
    return nb


def navigation_problems(nb: nbformat.NotebookNode, line: str) -> list[str]:
    """What is wrong with a notebook's navigation lines (empty when all is right)."""
    problems = []
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        return ["the first cell is not the markdown title cell"]
    top = [ln for ln in nb.cells[0].source.splitlines() if is_nav_line(ln)]
    if top != [line]:
        problems.append(f"title cell: navigation line is {top or 'missing'}, expected {line!r}")
    if len(nb.cells) < 2 or not _is_nav_cell(nb.cells[-1]) or nb.cells[-1].source.strip() != line:
        problems.append(f"last cell: expected a markdown cell holding only {line!r}")
    return problems


def add_navigation(folder: str | Path = NOTEBOOK_DIR) -> list[Path]:
    """Rewrite the navigation lines of every notebook in ``folder``.

    Returns:
        The notebooks whose file changed.
    """
    names, changed = notebook_names(folder), []
    for name in names:
        path = Path(folder) / name
        before = path.read_text(encoding="utf-8")
        nb = with_navigation(nbformat.reads(before, as_version=4), nav_line(name, names))
        after = nbformat.writes(nb) + "\n"
        if after != before:
            path.write_text(after, encoding="utf-8")
            changed.append(path)
    return changed


def check_navigation(folder: str | Path = NOTEBOOK_DIR) -> list[str]:
    """Problems of every notebook in ``folder``, each prefixed with its file name."""
    names = notebook_names(folder)
    out = []
    for name in names:
        nb = nbformat.read(Path(folder) / name, as_version=4)
        out += [f"{name}: {p}" for p in navigation_problems(nb, nav_line(name, names))]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default=str(NOTEBOOK_DIR))
    parser.add_argument("--check", action="store_true", help="only check; exit 1 on problems")
    args = parser.parse_args(argv)
    if args.check:
        problems = check_navigation(args.folder)
        print("\n".join(problems) or "navigation lines are up to date")
        return 1 if problems else 0
    for path in add_navigation(args.folder):
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
