"""Occluder-localisation benchmark on the REPORT identities of bbt, as markdown tables.

Usage: python benchmarks/localisation.py --model sface [--faces 8] [--sizes 30,40,50]
           [--occluders black,sunglasses,...] [--methods plq,recommended,...]
           [--passes 100] [--seed 0] [--out FILE.json]

Faces: bbt identities outside ``localisation.FIT_IDENTITIES`` (penny, raj, sheldon,
stuart), ``--faces`` of them taken round-robin over the identities
(``localisation.pick_report_faces``); the maps' constants,
the mean face and the region references were made on the FIT identities only. Prints the
loc_auroc / pointing / delta_q table, the costs and the region verdicts; ``--out`` keeps
the records (the same as ``pixelfiq evaluate``'s ``localisation`` section).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from pixelfiq_lib.core.maps import list_map_methods
from pixelfiq_lib.data import bbt_faces
from pixelfiq_lib.evaluation.localisation import (
    OCCLUDERS,
    localisation_benchmark,
    pick_report_faces,
)
from pixelfiq_lib.models import load_model


def table(res: dict) -> str:
    """Markdown: one row per occluder/size, one column per method (auroc [CI] / pointing)."""
    recs = res["records"]
    methods = list(dict.fromkeys(r["map_method"] for r in recs if r["map_method"]))
    rows = list(dict.fromkeys((r["occluder"], r["size"]) for r in recs))
    get = {(r["map_method"], r["occluder"], r["size"], r["metric"]): r for r in recs}
    head = "| occluder | size | n | delta_q | " + " | ".join(methods) + " |"
    lines = [head, "|" + "---|" * (4 + len(methods))]
    for occ, size in rows:
        dq = get[(None, occ, size, "delta_q")]
        cells = []
        for m in methods:
            a, p = get[(m, occ, size, "loc_auroc")], get[(m, occ, size, "pointing")]
            cells.append(
                f"{a['mean']:.3f} [{a['ci_low']:.2f},{a['ci_high']:.2f}] / {p['mean']:.2f}"
            )
        lines.append(
            f"| {occ} | {size} | {dq['n']} | {dq['mean']:+.3f} [{dq['ci_low']:+.2f},"
            f"{dq['ci_high']:+.2f}] | " + " | ".join(cells) + " |"
        )
    lines += ["", "| method | s/face | fwd+bwd equivalents |", "|---|---|---|"]
    lines += [
        f"| {c['map_method']} | {c['seconds_per_face']:.2f} | {c['fwd_bwd_equivalents']:.1f} |"
        for c in res["costs"]
    ]
    lines += ["", "| method | occluder | verdict accuracy | n | named |", "|---|---|---|---|---|"]
    lines += [
        f"| {v['map_method']} | {v['occluder']} | {v['accuracy']:.2f} | {v['n']} | {v['named']} |"
        for v in res["verdicts"]
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sface")
    parser.add_argument("--faces", type=int, default=8)
    parser.add_argument("--sizes", default="30,40,50")
    parser.add_argument("--occluders", default=",".join(OCCLUDERS))
    parser.add_argument("--methods", default=",".join(list_map_methods()))
    parser.add_argument("--passes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    model = load_model(args.model)
    faces = pick_report_faces(bbt_faces(), args.faces)
    start = time.perf_counter()
    res = localisation_benchmark(
        model,
        faces,
        methods=args.methods.split(","),
        occluders=args.occluders.split(","),
        sizes=tuple(int(s) for s in args.sizes.split(",")),
        seed=args.seed,
        n_passes=args.passes,
        method_kwargs={"occlusion": {"window": 16, "stride": 8}},
    )
    res["meta"] = {
        **vars(args),
        "n_faces": len(faces),
        "seconds": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()} {platform.processor()} torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {model.device}",
    }
    print(table(res))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
