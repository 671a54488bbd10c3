"""``pixelfiq quality --method``: every chosen quality method, one column each, per face.

The per-image table of :func:`methods_table` has the columns ``source``, ``face``,
``status``, ``error`` and ``quality_<method>`` for each method of
:data:`~pixelfiq_lib.fiqa.QUALITY_METHODS` asked for (higher = better in each, in the
method's own units: compare methods by rank, not by value). A photo without a usable face
gets one row with its status and reason, as in the SER-FIQ table. It is a plain table,
written once at the end: it has no ``--resume`` or ``--shard``.

Taught in: 09_compare_quality_methods.ipynb
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import MethodNotApplicableError, PixelfiqError, UsageError
from ..files import atomic_write
from .api import collect_inputs
from .table import escape_cell

FIXED_COLUMNS = ("source", "face", "status", "error")


def method_columns(methods: Sequence[str]) -> tuple[str, ...]:
    """The table's columns for ``methods``: the fixed ones, then ``quality_<method>``."""
    return FIXED_COLUMNS + tuple(f"quality_{m}" for m in methods)


def _checked(model, methods: Sequence[str]) -> list[str]:
    """The methods, each once, known and applicable to ``model``.

    Raises:
        InvalidArgumentError: an unknown method. UsageError: a method that does not
            apply to the network (the reason is the method's own).
    """
    from ..fiqa import quality_spec

    methods = list(dict.fromkeys(methods))
    for name in methods:
        try:
            quality_spec(name).check(model)
        except MethodNotApplicableError as exc:
            raise UsageError(f"--method {name}: {exc}") from exc
    return methods


def methods_table(
    model,
    inputs: Sequence[str],
    out: str | os.PathLike | None,
    methods: Sequence[str],
    *,
    aligned: bool = False,
    faces: str = "main",
    settings: dict[str, dict] | None = None,
    device: str | None = None,
) -> list[dict]:
    """Score every face of ``inputs`` with every method of ``methods``.

    Args:
        model: a network name or an :class:`~pixelfiq_lib.models.FRModel`.
        inputs: files, folders or globs (as ``pixelfiq quality``).
        out: the CSV file to write (``None``: write nothing, return the rows).
        methods: names of :data:`~pixelfiq_lib.fiqa.QUALITY_METHODS`.
        aligned: inputs are aligned face crops (no detection).
        faces: ``"main"``, ``"largest"`` or ``"all"`` faces per photo.
        settings: per-method settings (``{"faceqan": {"starts": 4}}``).
        device: where to load a named network.
    Returns:
        The rows as dicts with :func:`method_columns` keys.
    Raises:
        InvalidArgumentError: an unknown method or setting. UsageError: a method that
            does not apply to the network, or no image among ``inputs``.
    """
    from ..data import extract_faces, to_tensor
    from ..fiqa import face_quality
    from ..models import load_model

    model = load_model(model, device) if isinstance(model, str) else model
    methods = _checked(model, methods)
    settings = settings or {}
    rows = []
    for item in collect_inputs([os.fspath(p) for p in inputs], aligned):
        base = {"source": item.source, "face": "", "status": "ok", "error": ""}
        try:
            found = extract_faces(item.path, aligned=item.aligned, faces=faces)
            x = to_tensor([f.image for f in found]).to(model.device)
            scores = {m: face_quality(model, x, m, **settings.get(m, {})) for m in methods}
        except PixelfiqError as exc:
            rows.append(base | {"status": exc.status, "error": " ".join(str(exc).split())})
            continue
        for k, face in enumerate(found):
            rows.append(
                base | {"face": face.index} | {f"quality_{m}": float(scores[m][k]) for m in methods}
            )
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(out), table_csv(rows, methods).encode("utf-8"))
    return rows


def table_csv(rows: Sequence[dict], methods: Sequence[str]) -> str:
    """The rows as CSV text (floats with 6 significant digits, cells spreadsheet-safe)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    cols = method_columns(methods)
    writer.writerow(cols)
    for row in rows:
        cells = [row.get(c, "") for c in cols]
        writer.writerow(
            [escape_cell(f"{v:.6g}" if isinstance(v, float) else str(v)) for v in cells]
        )
    return buf.getvalue()
