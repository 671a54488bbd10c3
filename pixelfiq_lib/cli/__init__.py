"""The ``pixelfiq`` command: the application built on the library.

Nothing in the library imports this package (a test checks it): notebooks and user code
call the library directly.

* :mod:`.main` — the argument parser and the subcommands;
* :mod:`.inputs`, :mod:`.outputs`, :mod:`.figures`, :mod:`.table`, :mod:`.pipeline` —
  batch runs of ``explain`` and ``quality``;
* :mod:`.ray_engine` — the same runs on a Ray cluster (``--engine ray``, the only module
  that imports Ray; optional extra ``pixelfiq[scale]``);
* :mod:`.evaluate`, :mod:`.report` — ``pixelfiq evaluate`` and its writers;
* :mod:`.bench` — ``pixelfiq bench``;
* :mod:`.runinfo` — the run metadata every report records.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
