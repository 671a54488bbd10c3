"""Writers of ``pixelfiq evaluate``: flat tables as CSV and markdown, EDC and faithfulness plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..evaluation.edc import plot_edc
from ..evaluation.faithfulness import FaithfulnessCurve
from ..evaluation.summary import maps_summary, markdown
from ..evaluation.verification import EDC_SETTINGS, PAUC_LIMITS


# ------------------------------------------------------------------ outputs
def flatten(record: dict, prefix: str = "") -> dict:
    """Nested dicts -> one flat dict with ``a.b`` keys (for CSV and markdown rows)."""
    out = {}
    for key, val in record.items():
        name = f"{prefix}{key}"
        out.update(flatten(val, name + ".") if isinstance(val, dict) else {name: val})
    return out


def _cell(val: object) -> str:
    if isinstance(val, float):
        return f"{val:.4g}"
    return "" if val is None else str(val)


def markdown_table(rows: list[dict]) -> str:
    """Rows (flat dicts) as a GitHub markdown table; columns in first-seen order."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    return markdown(cols, [[_cell(r.get(c)) for c in cols] for r in rows])


def write_table(rows: list[dict], path: Path) -> None:
    """``path.csv`` and ``path.md`` from flat rows."""
    import csv

    if not rows:
        return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path.with_suffix(".csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        writer.writerows(rows)
    path.with_suffix(".md").write_text(markdown_table(rows))


def plot_edc_set(curves: dict, model_name: str, out_dir: Path) -> list[Path]:
    """One PNG per EDC setting with every quality method; the title states the setting."""
    import matplotlib.pyplot as plt

    paths = []
    for k, setting in enumerate(EDC_SETTINGS):
        chosen = {m: c for (i, m), c in curves.items() if i == k}
        fig, ax = plot_edc(chosen, limit=max(PAUC_LIMITS))
        ax.set_title(f"{model_name}: {ax.get_title()}", fontsize=7, wrap=True)
        fixed_by = (
            f"fmr{setting['fmr']:g}"
            if setting["starting_fnmr"] is None
            else f"fnmr{setting['starting_fnmr']:g}"
        )
        name = f"{setting['variant']}_{fixed_by}"
        paths.append(out_dir / f"edc_{model_name}_{name}.png")
        fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
        plt.close(fig)
    return paths


def plot_faithfulness(
    curves: dict[str, list[FaithfulnessCurve]], model_name: str, path: Path
) -> Path:
    """Mean deletion (low-, high-first) and insertion curves of every map method (Q̂ and
    cosine rows), in one PNG."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), sharex=True)
    for name, trio in curves.items():
        for col, cur in enumerate(trio):
            for row, vals in enumerate((cur.quality, cur.cosine)):
                if vals is not None:
                    axes[row, col].plot(cur.fractions.cpu(), vals.mean(0).cpu(), label=name)
    for col, cur in enumerate(next(iter(curves.values()))):
        what = f"{cur.kind} ({cur.order.replace('_', '-')})"
        axes[0, col].set_title(f"{what}, fill={cur.fill}", fontsize=9)
        verb = "deleted" if cur.kind == "deletion" else "inserted"
        axes[1, col].set_xlabel(f"fraction of pixels {verb}")
    axes[0, 0].set_ylabel("SER-FIQ Q̂ (mean over faces)")
    axes[1, 0].set_ylabel("cosine to the unmodified face")
    axes[0, 2].legend(fontsize=7)
    n = len(next(iter(curves.values()))[0].fractions) - 1
    fig.suptitle(f"{model_name}: deletion/insertion curves, {n} steps, trapezoid AUC", fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _plain(obj: object) -> object:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def paper_rows(paper: dict) -> dict[str, list[dict]]:
    """Flat table rows of the paper experiments: squares, inpainting, disturbances."""
    rows: dict[str, list[dict]] = {"squares": [], "inpainting": [], "disturbances": []}
    for model, exp in paper.items():
        sq = exp["squares"]
        rows["squares"] += [{"model": model, "side": 0, **sq["base"]}]
        rows["squares"] += [{"model": model, **r} for r in sq["by_side"]]
        rows["inpainting"] += [
            {"model": model, "set": k, **flatten(v)} for k, v in exp["inpainting"].items()
        ]
        rows["disturbances"] += [
            {"model": model, "disturbance": k, **flatten(v)} for k, v in exp["disturbances"].items()
        ]
    return rows


PARTIAL_FILE = "results.partial.json"


def write_partial(results: dict, out_dir: Path) -> None:
    """``results.partial.json``: what a run has measured so far, rewritten after every
    stage of every network, so that a run stopped part-way keeps its finished stages.
    :func:`write_outputs` removes it."""
    import json

    tmp = out_dir / (PARTIAL_FILE + ".tmp")
    tmp.write_text(json.dumps(_plain(results), indent=1, allow_nan=False))
    tmp.replace(out_dir / PARTIAL_FILE)


def write_outputs(results: dict, out_dir: Path) -> None:
    """``results.json`` and the CSV/markdown tables (see the module docstring)."""
    import json

    results = _plain(results)
    (out_dir / PARTIAL_FILE).unlink(missing_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False))
    for name in ("verification", "probes", "edc", "faithfulness"):
        write_table([flatten(r) for r in results[name]], out_dir / name)
    for name in ("localisation", "map_costs", "region_verdicts"):
        if results.get(name):
            write_table([flatten(r) for r in results[name]], out_dir / name)
    for name, rows in paper_rows(results["paper_experiments"]).items():
        write_table(rows, out_dir / f"paper_{name}")
    if results.get("quality_methods"):
        from .quality_methods import comparison_markdown

        write_table([flatten(r) for r in results["quality_methods"]], out_dir / "quality_methods")
        (out_dir / "quality_methods_pauc.md").write_text(
            "".join(
                f"pAUC at discard {lim:g} (FNM-EDC, FMR 1e-3 fixed threshold, min pair "
                f"quality, stepwise; 95 % bootstrap CI over identities)\n\n"
                + comparison_markdown(results["quality_methods"], lim)
                + "\n"
                for lim in PAUC_LIMITS
            )
        )
    if results.get("localisation") or results.get("faithfulness"):
        (out_dir / "maps_summary.md").write_text(maps_summary(results))


def summary_text(results: dict, out_dir: Path) -> str:
    """The closing lines of ``pixelfiq evaluate``."""
    meta = results["meta"]
    lines = [
        f"pixelfiq: {meta['n_images']} faces of {meta['n_identities']} identities "
        f"(+{meta['n_probe_copies']} degraded probes), {meta['n_comparisons']} comparisons, "
        f"seed {meta['seed']}, T={meta['passes']}, {meta['timings_s']['total']:.0f} s"
    ]
    for ver in results["verification"]:
        pa = {
            r["quality_method"]: r["pauc_0.2"]
            for r in results["edc"]
            if r["model"] == ver["model"] and r["variant"] == "fixed" and r["fmr"] == 1e-3
        }
        paper = results["paper_experiments"].get(ver["model"])
        sq = paper["squares"]["by_side"] if paper else []
        drop = next((r["frac_q_drop"] for r in sq if r["side"] == 40), None)
        lines.append(
            f"pixelfiq: {ver['model']}: ROC AUC {ver['roc_auc']:.3f}, FNMR@FMR1e-3 "
            f"{ver['fnmr_at_fmr_1e-3']:.3f}; pAUC0.2 SER-FIQ {pa.get('serfiq', 0):.4f} "
            f"vs random {pa.get('random', 0):.4f}; 40px square lowers Q̂ for "
            f"{'n/a' if drop is None else f'{drop:.0%}'} of faces"
        )
    lines.append(
        f"pixelfiq: results in {out_dir / 'results.json'} (tables *.csv/*.md, plots *.png; "
        "per image and per comparison: images.parquet, comparisons.parquet)"
    )
    return "\n".join(lines)
