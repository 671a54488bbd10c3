"""Readable markdown summaries of ``pixelfiq evaluate``'s map sections.

``results.json`` keeps one record per (method, network, occluder, size, metric); these
functions pivot them into the tables a reader compares: methods as rows, occluders as
columns, every cell a mean with its bootstrap 95 % CI. ``pixelfiq evaluate`` writes them
to ``maps_summary.md``; ``benchmarks/RESULTS.md`` quotes that file.

Taught in: 05_evaluation_metrics.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

#: Faithfulness metrics of the deletion table: (record metric stem, column title).
DELETION_COLUMNS = (
    ("deletion_auc_low_first", "deletion low-first ↑"),
    ("deletion_auc_high_first", "deletion high-first ↓"),
    ("insertion_auc", "insertion ↑"),
)


def ci_cell(rec: dict | None, digits: int = 3) -> str:
    """``mean [ci_low, ci_high]`` of a CI-bearing record ("–" when missing)."""
    if rec is None:
        return "–"
    lo, hi = rec.get("ci_low"), rec.get("ci_high")
    if lo is None or hi is None:
        return f"{rec['mean']:.{digits}f}"
    d = max(digits - 1, 1)
    return f"{rec['mean']:.{digits}f} [{lo:.{d}f}, {hi:.{d}f}]"


def markdown(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table of text cells under ``head``."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _methods(records: Sequence[dict]) -> list[str]:
    return list(dict.fromkeys(r["map_method"] for r in records if r["map_method"] is not None))


def localisation_table(records: Sequence[dict], model: str, metric: str = "loc_auroc") -> str:
    """One network's ``localisation`` records as markdown: a row per map method, a column
    per occluder and size (``black 40``; ``sunglasses``), cells ``mean [CI]`` of ``metric``;
    the first row is the Q̂ change (``delta_q``) the occluder caused."""
    recs = [r for r in records if r["model"] == model]
    if not recs:
        return f"(no localisation records for {model})\n"
    configs = list(dict.fromkeys((r["occluder"], r["size"]) for r in recs))
    get = {(r["map_method"], r["occluder"], r["size"], r["metric"]): r for r in recs}
    head = ["method", *(f"{o} {s}" if s else o for o, s in configs)]
    n = max(r["n"] for r in recs)
    rows = [[f"Q̂ change (n {n})", *(ci_cell(get.get((None, *c, "delta_q"))) for c in configs)]]
    rows += [[m, *(ci_cell(get.get((m, *c, metric))) for c in configs)] for m in _methods(recs)]
    return markdown(head, rows)


def deletion_table(records: Sequence[dict], model: str, track: str = "quality") -> str:
    """One network's ``faithfulness`` records as markdown: a row per map method, the
    quality-deletion (low- and high-first) and insertion AUCs with their CIs."""
    recs = {(r["map_method"], r["metric"]): r for r in records if r["model"] == model}
    if not recs:
        return f"(no faithfulness records for {model})\n"
    n = next(iter(recs.values()))["n"]
    head = ["method", *(f"{title} (n {n})" for _, title in DELETION_COLUMNS)]
    methods = list(dict.fromkeys(m for m, _ in recs))
    rows = [
        [m, *(ci_cell(recs.get((m, f"{stem}_{track}"))) for stem, _ in DELETION_COLUMNS)]
        for m in methods
    ]
    return markdown(head, rows)


def cost_table(costs: Sequence[dict]) -> str:
    """``map_costs`` as markdown: a row per method, seconds per face and forward+backward
    equivalents per network."""
    if not costs:
        return "(no map costs)\n"
    models = list(dict.fromkeys(c["model"] for c in costs))
    get = {(c["map_method"], c["model"]): c for c in costs}
    head = ["method", *(f"{m} s/face" for m in models), *(f"{m} fwd+bwd" for m in models)]
    rows = []
    for meth in _methods(costs):
        cells = [get.get((meth, m)) for m in models]
        rows.append(
            [
                meth,
                *(f"{c['seconds_per_face']:.3f}" if c else "–" for c in cells),
                *(f"{c['fwd_bwd_equivalents']:.1f}" if c else "–" for c in cells),
            ]
        )
    return markdown(head, rows)


def verdict_table(verdicts: Sequence[dict]) -> str:
    """``region_verdicts`` as markdown: a row per method, the share of faces whose lowest
    region is the covered one (with a bootstrap 95 % CI over faces), per network and
    occluder."""
    if not verdicts:
        return "(no region verdicts)\n"
    cols = list(dict.fromkeys((v["model"], v["occluder"]) for v in verdicts))
    get = {(v["map_method"], v["model"], v["occluder"]): v for v in verdicts}
    head = ["method", *(f"{m} {o} (n {_n_faces(verdicts, m, o)})" for m, o in cols)]
    rows = [
        [meth, *(_verdict_cell(get[(meth, *c)]) if (meth, *c) in get else "–" for c in cols)]
        for meth in _methods(verdicts)
    ]
    return markdown(head, rows)


def _verdict_cell(v: dict) -> str:
    """``0.85 [0.70, 1.00]`` (a bootstrap CI over faces where the record has one)."""
    if "ci_low" not in v:
        return f"{v['accuracy']:.2f}"
    return f"{v['accuracy']:.2f} [{v['ci_low']:.2f}, {v['ci_high']:.2f}]"


def _n_faces(verdicts: Sequence[dict], model: str, occluder: str) -> int:
    """Faces behind the verdicts of one network and occluder."""
    return max(v["n"] for v in verdicts if v["model"] == model and v["occluder"] == occluder)


def maps_summary(results: dict) -> str:
    """The map sections of an evaluation as one markdown document (``maps_summary.md``)."""
    meta = results.get("meta", {})
    out = [
        "# Map methods: localisation, deletion, costs, region verdicts\n",
        f"Data {meta.get('data_dir', '?')}, seed {meta.get('seed', '?')}, "
        f"T {meta.get('passes', '?')}, code {meta.get('code_version', '?')}, "
        f"{meta.get('date', '')}; machine: "
        f"{_machine(meta.get('machine', {}))}. Cells: mean [95 % bootstrap CI] over faces.\n",
    ]
    colour = results.get("localisation_colour", [])
    for model in meta.get("models", []):
        note = meta.get("quality_stability", {}).get(model, {}).get("note")
        if model in meta.get("localisation_skipped", {}):
            note = f"{note}. Its localisation was not run (`--loc-unstable` runs it)"
        out += [
            f"\n## {model}: loc_auroc (occluder pixels lowest; 0.5 = chance)\n\n",
            *([f"Quality stability: {note}.\n\n"] if note else []),
            localisation_table(results.get("localisation", []), model),
            f"\n## {model}: loc_auroc_delta (the map's change from the clean face's map)\n\n",
            localisation_table(results.get("localisation", []), model, "loc_auroc_delta"),
            f"\n## {model}: pointing (lowest window hits the occluder)\n\n",
            localisation_table(results.get("localisation", []), model, "pointing"),
            f"\n## {model}: quality deletion and insertion\n\n",
            deletion_table(results.get("faithfulness", []), model),
        ]
        if colour:
            out += [
                f"\n## {model}: loc_auroc on the colour faces ({meta.get('colour_faces', '')}; "
                "nothing was tuned on them)\n\n",
                localisation_table(colour, model),
            ]
    out += [
        "\n## Cost per face (localisation runs)\n\n",
        cost_table(results.get("map_costs", [])),
        "\n## Region verdicts (share of faces whose lowest region is the covered one)\n\n",
        verdict_table(results.get("region_verdicts", [])),
    ]
    if results.get("region_verdicts_colour"):
        out += [
            "\n## Region verdicts on the colour faces\n\n",
            verdict_table(results["region_verdicts_colour"]),
        ]
    out += ["\n## What each map was tuned on\n\n", tuned_on_table(meta.get("map_tuned_on", {}))]
    return "".join(out)


def tuned_on_table(tuned: dict[str, str]) -> str:
    """``{method: occluder kinds}`` as markdown; an empty entry = tuned on none. Every
    tuning used bbt's FIT faces only; kinds not listed were never tuned on."""
    if not tuned:
        return "(not recorded)\n"
    rows = [[m, t or "none (fixed defaults)"] for m, t in tuned.items()]
    return markdown(["method", "occluder kinds its constants were chosen on (FIT faces)"], rows)


def _short(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "/".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def _machine(machine: dict) -> str:
    keys = ("device", "cpu", "gpu", "cpu_count", "torch_threads", "load_average")
    parts = [f"{k} {_short(machine[k])}" for k in keys if machine.get(k) not in (None, "")]
    torch_version = machine.get("versions", {}).get("torch")
    parts += [f"torch {torch_version}"] if torch_version else []
    return ", ".join(parts) if parts else "not recorded"
