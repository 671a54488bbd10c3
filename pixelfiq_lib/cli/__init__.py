"""The ``pixelfiq`` command: argument parsing and printing over the library.

Nothing in the library imports this package (a test checks it), and it does no work of
its own: notebooks and user code call the same library functions.

* :mod:`.main` — the argument parser, the dispatch, exit statuses and error messages;
* :mod:`.commands` — one module per subcommand (``explain``, ``quality``, ``demo``,
  ``models``, ``merge``, ``evaluate``, ``bench``), each ``add_parser`` + ``run``;
* :mod:`.options`, :mod:`.argtypes` — shared option groups and argument types.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
