"""The committed full evaluation run, read back: numbers the notebooks and docs quote.

``benchmarks/runs/<name>/results.json`` is the output of one full ``pixelfiq evaluate`` run
(every map method, both networks, all bbt faces; benchmarks/RESULTS.md, "Localisation"),
committed with the repository. A notebook in FAST mode computes a small version of an
experiment; to set the full measurement beside it without re-running it for an hour, it
reads the committed run through these functions, so a quoted number has one source.

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import REPO_ROOT
from ..errors import InvalidArgumentError

#: The committed run every notebook and document quotes (code 4acdab2, 2026-11-30).
COMMITTED_RUN = "bbt-2026-12-02"


def runs_dir() -> Path:
    """The folder holding the committed runs: ``benchmarks/runs`` of the repository."""
    return REPO_ROOT / "benchmarks" / "runs"


def load_run(name: str = COMMITTED_RUN) -> dict:
    """The ``results.json`` of a committed run (schema: ``pixelfiq evaluate``'s docstring).

    Raises:
        InvalidArgumentError: no committed run of that name (the message lists them).
    """
    path = runs_dir() / name / "results.json"
    if not path.is_file():
        known = sorted(p.parent.name for p in runs_dir().glob("*/results.json"))
        raise InvalidArgumentError(f"no committed run {name!r} in {runs_dir()}; known: {known}")
    return json.loads(path.read_text(encoding="utf-8"))


def run_records(run: dict, section: str, **where) -> list[dict]:
    """The records of one list section of a run whose fields equal ``where``.

    Args:
        run: a loaded run (:func:`load_run`).
        section: a list section, e.g. ``"faithfulness"``, ``"localisation"``,
            ``"map_costs"``, ``"region_verdicts"``, ``"edc"``.
        where: field = value filters, e.g. ``model="sface", metric="loc_auroc"``.
    Returns:
        The matching records in file order (possibly empty).
    Raises:
        InvalidArgumentError: the section is missing or not a list of records.
    """
    records = run.get(section)
    if not isinstance(records, list):
        lists = sorted(k for k, v in run.items() if isinstance(v, list))
        raise InvalidArgumentError(f"run has no record list {section!r}; lists: {lists}")
    return [r for r in records if all(r.get(k) == v for k, v in where.items())]


def run_value(run: dict, section: str, field: str = "mean", **where) -> float:
    """The ``field`` of the one record of ``section`` matching ``where``.

    Raises:
        InvalidArgumentError: no record, or more than one, matches.
    """
    found = run_records(run, section, **where)
    if len(found) != 1:
        raise InvalidArgumentError(
            f"{len(found)} records of {section!r} match {where}; expected exactly one"
        )
    return float(found[0][field])


def faithfulness_aucs(run: dict, model: str, track: str = "cosine") -> dict[str, tuple]:
    """Deletion low-first, deletion high-first and insertion AUC of every map method.

    Args:
        run: a loaded run. model: ``"sface"`` or ``"mobilefacenet"``.
        track: ``"cosine"`` (to the original embedding) or ``"quality"`` (Q̂).
    Returns:
        ``{map method: (low-first, high-first, insertion)}``, each a
        ``(mean, ci_low, ci_high)`` triple, in the run's method order.
    """
    metrics = [f"{m}_{track}" for m in ("deletion_auc_low_first", "deletion_auc_high_first")]
    metrics.append(f"insertion_auc_{track}")
    out: dict[str, list] = {}
    for r in run_records(run, "faithfulness", model=model):
        if r["metric"] in metrics:
            row = out.setdefault(r["map_method"], [None] * 3)
            row[metrics.index(r["metric"])] = (r["mean"], r.get("ci_low"), r.get("ci_high"))
    return {k: tuple(v) for k, v in out.items() if None not in v}
