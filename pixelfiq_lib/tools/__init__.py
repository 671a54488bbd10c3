"""Maintenance tools for the course notebooks (not part of the public API).

* :mod:`pixelfiq_lib.tools.navigation` writes and checks the navigation line at the
  top and bottom of every notebook: ``python -m pixelfiq_lib.tools.navigation [--check]``.
* :mod:`pixelfiq_lib.tools.run_notebooks` executes every notebook into executed
  ``.ipynb`` and HTML copies: ``python -m pixelfiq_lib.tools.run_notebooks --out DIR``.
"""
from __future__ import annotations

from pathlib import Path

from ..config import REPO_ROOT

#: Folder of the numbered course notebooks.
NOTEBOOK_DIR: Path = REPO_ROOT / "notebooks"

__all__ = ["NOTEBOOK_DIR"]
