"""Choose the settings the quality methods' papers leave open, on the bbt FIT faces only.

Usage: python benchmarks/fiqa_fit.py [--model sface] [--methods grafiqs faceqan ...]
       [--degradations blur occluder] [--strength 2] [--seed 0] [--per-identity 5]
       [--set steps=2 starts=4]

For every quality method (and every GraFIQs parameter group φ), on the 20 faces of the
FIT identities (:data:`~pixelfiq_lib.evaluation.localisation.FIT_IDENTITIES`): the
fraction of faces whose score falls when the face is degraded (blur, occluder, ... at
``--strength``; :func:`~pixelfiq_lib.evaluation.perturbations.degrade`), and the
median of the per-face change relative to the score's spread across the clean faces.
The REPORT identities are never read. The printed table is what benchmarks/RESULTS.md
quotes for the choices (GraFIQs' φ, FaceQAN's settings).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from pixelfiq_lib.core.grafiqs import GROUPS
from pixelfiq_lib.data import bbt_faces, to_tensor
from pixelfiq_lib.evaluation.localisation import FIT_IDENTITIES
from pixelfiq_lib.evaluation.perturbations import degrade
from pixelfiq_lib.fiqa import face_quality, list_quality_methods
from pixelfiq_lib.models import load_model


def variants(methods: list[str]) -> list[tuple[str, str, dict]]:
    """(label, method, settings) of every method to measure; GraFIQs once per φ."""
    out = []
    for method in methods:
        if method == "grafiqs":
            out += [(f"grafiqs[{g}]", "grafiqs", {"group": g}) for g in GROUPS]
        else:
            out.append((method, method, {}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sface")
    parser.add_argument("--methods", nargs="+", default=list_quality_methods())
    parser.add_argument("--degradations", nargs="+", default=["blur", "occluder"])
    parser.add_argument("--strength", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-identity", type=int, default=5, help="faces per FIT identity")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="settings, e.g. steps=2"
    )
    parser.add_argument("--json", default=None, help="also write the records here")
    args = parser.parse_args()

    model = load_model(args.model, device="cpu")
    faces = bbt_faces()
    fit = [f.image for name in FIT_IDENTITIES for f in faces[name][: args.per_identity]]
    extra = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    rng = np.random.default_rng(args.seed)
    copies = {
        kind: [degrade(f, kind, args.strength, rng) for f in fit] for kind in args.degradations
    }
    records = []
    for label, method, settings in variants(args.methods):
        settings = {**settings, **extra}
        start = time.perf_counter()
        try:
            clean = face_quality(model, to_tensor(fit), method, **settings)
        except Exception as exc:  # noqa: BLE001 - a method that cannot run is reported
            print(f"{label:22s} {type(exc).__name__}: {exc}")
            continue
        spread = float(np.std(clean)) or 1.0
        for kind, imgs in copies.items():
            worse = face_quality(model, to_tensor(imgs), method, **settings)
            rec = {
                "model": args.model,
                "method": label,
                "settings": settings,
                "degradation": f"{kind}-{args.strength}",
                "n_faces": len(fit),
                "fraction_falls": float(np.mean(worse < clean)),
                "median_change_in_spreads": float(np.median((worse - clean) / spread)),
            }
            records.append(rec)
            print(
                f"{label:22s} {rec['degradation']:12s} falls on "
                f"{rec['fraction_falls']:.2f} of {len(fit)} faces, median change "
                f"{rec['median_change_in_spreads']:+.2f} spreads",
                flush=True,
            )
        print(f"{label:22s} {time.perf_counter() - start:.0f} s", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
