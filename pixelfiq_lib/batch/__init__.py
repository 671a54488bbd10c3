"""Batch runs over folders of photos: the engines of ``pixelfiq explain``, ``quality`` and
``merge``, callable from a notebook or a script.

* :mod:`.runs` — :func:`explain_folder`, :func:`quality_table`,
  :func:`calibrate_quality_100`, :func:`demo`, :func:`merge_tables` (the public entry points);
* :mod:`.api` — :class:`BatchRun` and the checks every run makes before writing;
* :mod:`.inputs` — which files of the INPUTs are read, shards, the table's columns;
* :mod:`.pipeline`, :mod:`.scoring` — decoding on a worker thread, scoring in batches,
  one row per face; :mod:`.outputs`, :mod:`.figures` — the map and figure files;
* :mod:`.methods` — ``quality --method``: several quality methods, a column each;
* :mod:`.table`, :mod:`.lock`, :mod:`.merge` — the results table, its lock, shard merging;
* :mod:`.ray_engine` — the same runs on a Ray cluster (the only module that imports Ray;
  optional extra ``pixelfiq[scale]``).

Taught in: README.md (command-line use and the library)
"""

from __future__ import annotations

from .api import BatchRun, fix_hint, shard_path
from .inputs import COLUMNS, STATUSES, parse_shard
from .methods import method_columns, methods_table, table_csv
from .runs import (
    DEMO_IMAGES,
    calibrate_quality_100,
    check_run,
    demo,
    explain_folder,
    merge_tables,
    quality_table,
    run_items,
)

__all__ = [
    "COLUMNS",
    "DEMO_IMAGES",
    "STATUSES",
    "BatchRun",
    "calibrate_quality_100",
    "check_run",
    "demo",
    "explain_folder",
    "fix_hint",
    "merge_tables",
    "method_columns",
    "methods_table",
    "parse_shard",
    "quality_table",
    "run_items",
    "shard_path",
    "table_csv",
]
