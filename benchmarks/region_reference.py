"""Per-network region references of the map methods, for the region verdicts.

Usage: python benchmarks/region_reference.py [--passes 100] [--seed 0] [--methods M ...]

``--methods`` recomputes only those methods and keeps the file's other references. A
method that cannot run on a network (GraFIQs on MobileFaceNet) gets no reference there.

For every shipped network and registered map method (``core.maps.list_map_methods``,
with the settings of ``core.maps.map_settings``): the maps of the 20 clean bbt faces of the FIT
identities (``evaluation.localisation.FIT_IDENTITIES``, the faces the mean face was
made from; the benchmarks report on the other identities), then
``regions.region_mean_reference`` (mean and std over the faces of each region's mean
map). Written to ``pixelfiq_lib/evaluation/region_reference.json``;
``regions.lowest_region`` scores a face's regions as z-scores against it.
"""

from __future__ import annotations

import argparse
import json
import time

from pixelfiq_lib.core.maps import list_map_methods, map_settings, refused_maps
from pixelfiq_lib.data import bbt_faces, to_tensor
from pixelfiq_lib.evaluation.localisation import FIT_IDENTITIES, compute_maps
from pixelfiq_lib.evaluation.regions import REGION_REFERENCE_FILE, region_mean_reference
from pixelfiq_lib.models import load_model

MODELS = ("sface", "mobilefacenet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=None, help="only these (update)")
    args = parser.parse_args()
    faces = [f.image for k, group in bbt_faces().items() if k in FIT_IDENTITIES for f in group]
    kw = map_settings(args.passes, args.seed)
    methods = args.methods or list_map_methods()
    old = json.loads(REGION_REFERENCE_FILE.read_text()) if args.methods else {}
    out = {
        "made_by": "benchmarks/region_reference.py",
        "faces": f"{len(faces)} clean bbt faces of {', '.join(FIT_IDENTITIES)}",
        "passes": args.passes,
        "seed": args.seed,
        "date": time.strftime("%Y-%m-%d"),
        "references": old.get("references", {}),
    }
    for name in MODELS:
        model = load_model(name)
        usable = [m for m in methods if m not in refused_maps(model, methods)]
        maps, _ = compute_maps(model, to_tensor(faces).to(model.device), usable, kw)
        refs = out["references"].setdefault(name, {})
        refs.update({k: region_mean_reference(v) for k, v in maps.items()})
        print(f"{name}: {', '.join(usable)}", flush=True)
    REGION_REFERENCE_FILE.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {REGION_REFERENCE_FILE}")


if __name__ == "__main__":
    main()
