"""Quality-deletion and insertion AUCs with bootstrap CIs on bbt faces, as a markdown table.

Usage: python benchmarks/deletion.py --model sface [--faces 0] [--steps 8]
           [--methods plq,counterfactual,...] [--passes 100] [--seed 0] [--all-identities]

Faces: the REPORT identities of bbt (outside ``localisation.FIT_IDENTITIES``), all of
them by default (``--faces N``: the first N round-robin); ``--all-identities``: all 40.
Same curves and settings as ``pixelfiq evaluate`` (``faithfulness_curves`` with
``core.maps.map_settings``); ``--methods`` takes any registered map name or
``recommended``; the CI is a 95 % percentile bootstrap over faces.
"""

from __future__ import annotations

import argparse
import json

from pixelfiq_lib.core.maps import resolve_map_method
from pixelfiq_lib.data import bbt_faces
from pixelfiq_lib.evaluation.faithfulness import faithfulness_curves
from pixelfiq_lib.evaluation.localisation import pick_report_faces
from pixelfiq_lib.models import load_model

METHODS = (
    "plq",
    "plq_smooth",
    "quality_gradient_smooth",
    "saliency",
    "occlusion",
    "counterfactual",
    "counterfactual_prior",
    "random",
)
METRICS = (
    "deletion_auc_low_first_quality",
    "deletion_auc_high_first_quality",
    "insertion_auc_quality",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sface")
    parser.add_argument("--faces", type=int, default=0)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--passes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--all-identities", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    by_id = bbt_faces()
    if args.all_identities:
        faces = [f.image for g in by_id.values() for f in g][: args.faces or None]
    else:
        faces = pick_report_faces(by_id, args.faces)
    model = load_model(args.model)
    recs, _, secs = faithfulness_curves(
        model,
        faces,
        methods=tuple(args.methods.split(",")),
        steps=args.steps,
        n_passes=args.passes,
        seed=args.seed,
    )
    get = {(r["map_method"], r["metric"]): r for r in recs}
    print(
        f"{args.model}, {len(faces)} faces, {args.steps} steps, T {args.passes}, seed {args.seed}"
    )
    print("| method | " + " | ".join(METRICS) + " | s |\n|---|" + "---|" * (len(METRICS) + 1))
    for m in dict.fromkeys(resolve_map_method(m) for m in args.methods.split(",")):
        cells = [
            f"{get[(m, k)]['mean']:.3f} [{get[(m, k)]['ci_low']:.3f}, {get[(m, k)]['ci_high']:.3f}]"
            for k in METRICS
        ]
        print(f"| {m} | " + " | ".join(cells) + f" | {secs[m]:.0f} |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"records": recs, "seconds": secs, "args": vars(args)}, fh, indent=1)


if __name__ == "__main__":
    main()
