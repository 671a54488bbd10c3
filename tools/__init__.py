"""Maintenance tools for the course notebooks (not shipped in the package).

* :mod:`tools.navigation` writes and checks the navigation line at the
  top and bottom of every notebook: ``python -m tools.navigation [--check]``.
* :mod:`tools.run_notebooks` executes every notebook into executed
  ``.ipynb`` and HTML copies: ``python -m tools.run_notebooks --out DIR``.
"""

from __future__ import annotations

from pathlib import Path

#: Root of the repository (the tools live in its top-level ``tools/``, not in the package).
REPO_ROOT: Path = Path(__file__).resolve().parent.parent
#: Folder of the numbered course notebooks.
NOTEBOOK_DIR: Path = REPO_ROOT / "notebooks"

__all__ = ["NOTEBOOK_DIR"]
