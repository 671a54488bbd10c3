"""Fit each shipped network's constants (alpha, r, a) on reference faces.

Usage: python benchmarks/calibrate.py [--passes 100] [--seed 0]

Reference faces: insightface's sample faces plus data/bbt (47 faces). SFace
keeps the paper's alpha = 130, r = 0.88 (its raw qualities sit in the band they were
made for) and only ``a`` is fitted; MobileFaceNet's raw qualities sit near 0.78, so
alpha and r are fitted as well. The printed values are the ones in ``models.MODELS``.
"""
from __future__ import annotations

import argparse

from pixelfiq_lib.core.backprop import calibrate_model
from pixelfiq_lib.data import bbt_faces, sample_faces, to_tensor
from pixelfiq_lib.models import load_model

FIT_ALPHA_R = {"sface": False, "mobilefacenet": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    faces = sample_faces() + [f for group in bbt_faces().values() for f in group]
    images = to_tensor(faces)
    print(f"| model | faces | alpha | r | a | fitted |\n|---|---|---|---|---|---|")
    for name, fit in FIT_ALPHA_R.items():
        const = calibrate_model(load_model(name), images, fit_alpha_r=fit, n_passes=args.passes, seed=args.seed)
        what = "alpha, r, a" if fit else "a (alpha, r = paper)"
        print(f"| {name} | {len(faces)} | {const['alpha']:.4g} | {const['r']:.4g} | {const['plq_a']:.3g} | {what} |")


if __name__ == "__main__":
    main()
