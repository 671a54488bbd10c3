"""Fit each shipped network's constants (alpha, r, a) on reference faces.

Usage: python benchmarks/calibrate.py [--passes 100] [--seed 0]
       python benchmarks/calibrate.py --mean-face      (writes core/mean_face.npy)

Reference faces: insightface's sample faces plus ../shared/data/bbt (47 faces). SFace
keeps the paper's alpha = 130, r = 0.88 (its raw qualities sit in the band they were
made for) and only ``a`` is fitted; MobileFaceNet's raw qualities sit near 0.78, so
alpha and r are fitted as well. The printed values are the ones in ``models.MODELS``.

``--mean-face`` writes the counterfactual maps' fill image
``pixelfiq_lib/core/mean_face.npy``: the pixel-wise mean (rounded to uint8) of the 20
aligned bbt faces of the FIT identities (:data:`FIT_IDENTITIES`). The benchmarks report
on the other identities (penny, raj, sheldon, stuart), never on a face that made it.
"""

from __future__ import annotations

import argparse

import numpy as np

from pixelfiq_lib.core.backprop import calibrate_model
from pixelfiq_lib.core.counterfactual import MEAN_FACE_FILE, make_mean_face
from pixelfiq_lib.data import bbt_faces, sample_faces, to_tensor
from pixelfiq_lib.evaluation.localisation import FIT_IDENTITIES
from pixelfiq_lib.models import load_model

FIT_ALPHA_R = {"sface": False, "mobilefacenet": True}


def write_mean_face() -> None:
    """Write MEAN_FACE_FILE from the FIT identities' aligned bbt faces."""
    faces = [f.image for k, group in bbt_faces().items() if k in FIT_IDENTITIES for f in group]
    np.save(MEAN_FACE_FILE, make_mean_face(faces))
    print(f"{MEAN_FACE_FILE}: mean of {len(faces)} faces of {', '.join(FIT_IDENTITIES)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mean-face", action="store_true", help="write core/mean_face.npy")
    args = parser.parse_args()
    if args.mean_face:
        return write_mean_face()
    faces = sample_faces() + [f for group in bbt_faces().values() for f in group]
    images = to_tensor(faces)
    print("| model | faces | alpha | r | a | fitted |\n|---|---|---|---|---|---|")
    for name, fit in FIT_ALPHA_R.items():
        const = calibrate_model(
            load_model(name), images, fit_alpha_r=fit, n_passes=args.passes, seed=args.seed
        )
        what = "alpha, r, a" if fit else "a (alpha, r = paper)"
        print(
            f"| {name} | {len(faces)} | {const['alpha']:.4g} | {const['r']:.4g} "
            f"| {const['plq_a']:.3g} | {what} |"
        )


if __name__ == "__main__":
    main()
