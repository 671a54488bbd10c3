"""Monte-Carlo stability of Q̂ per shipped network, for ``models --verbose`` and ``explain``.

Usage: python benchmarks/quality_stability.py [--seed 0]

On the 20 clean bbt faces of the FIT identities: ``core.stability.quality_stability``
(T raised 100 -> 200 -> 400 -> 1000 until the median standard error of Q̂ is at most
``SE_THRESHOLD``). Written to ``pixelfiq_lib/core/quality_stability.json``.
"""

from __future__ import annotations

import argparse
import json
import time

from pixelfiq_lib.core.stability import STABILITY_FILE, quality_stability, stability_record
from pixelfiq_lib.data import bbt_faces, to_tensor
from pixelfiq_lib.evaluation.localisation import FIT_IDENTITIES
from pixelfiq_lib.models import load_model

MODELS = ("sface", "mobilefacenet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    faces = [f.image for k, group in bbt_faces().items() if k in FIT_IDENTITIES for f in group]
    out = {
        "made_by": "benchmarks/quality_stability.py",
        "faces": f"{len(faces)} clean bbt faces of {', '.join(FIT_IDENTITIES)}",
        "seed": args.seed,
        "date": time.strftime("%Y-%m-%d"),
        "networks": {},
    }
    for name in MODELS:
        check = quality_stability(load_model(name), to_tensor(faces), seed=args.seed)
        out["networks"][name] = stability_record(check)
        print(check.note(), flush=True)
    STABILITY_FILE.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {STABILITY_FILE}")


if __name__ == "__main__":
    main()
