"""Fit each shipped network's constants (alpha, r, a) on reference faces.

Usage: python benchmarks/calibrate.py [--passes 100] [--seed 0] [--quality-100]
       python benchmarks/calibrate.py --mean-face      (writes core/mean_face.npy)

Reference faces: insightface's sample faces plus data/bbt (47 faces). SFace
keeps the paper's alpha = 130, r = 0.88 (its raw qualities sit in the band they were
made for) and only ``a`` is fitted; MobileFaceNet's raw qualities sit near 0.78, so
alpha and r are fitted as well. The printed values are the ones in ``models.MODELS``.

``--quality-100`` fits only the map raw Q -> quality_100 (core/scale100.py) by the same
rule as alpha, r, on part of the same reference faces, and measures the percentile
table on the rest (never fitted and reported on the same faces):

* fitted on: insightface's 7 sample faces + bbt amy, bernadette, howard, leonard (27);
* reported on: bbt penny, raj, sheldon, stuart (20 faces, held out).
``--mean-face`` writes the counterfactual maps' fill image
``pixelfiq_lib/core/mean_face.npy``: the pixel-wise mean (rounded to uint8) of the 20
aligned bbt faces of the FIT identities (:data:`FIT_IDENTITIES`). The benchmarks report
on the other identities (penny, raj, sheldon, stuart), never on a face that made it.
"""

from __future__ import annotations

import argparse

import numpy as np

from pixelfiq_lib.core.calibration import calibrate_model
from pixelfiq_lib.core.counterfactual import MEAN_FACE_FILE, make_mean_face
from pixelfiq_lib.core.quality import serfiq_quality
from pixelfiq_lib.core.scale100 import fit_quality_100, format_percentiles
from pixelfiq_lib.data import bbt_faces, sample_faces, to_tensor
from pixelfiq_lib.evaluation.localisation import FIT_IDENTITIES
from pixelfiq_lib.models import load_model

FIT_ALPHA_R = {"sface": False, "mobilefacenet": True}
#: bbt identities whose faces fit the quality_100 map (with the sample faces); the
#: others are held out for the percentile table.
Q100_FIT_IDS = ("amy", "bernadette", "howard", "leonard")


def quality_100_split() -> tuple[list, list]:
    """(faces the map is fitted on, held-out faces the percentile table is measured on)."""
    bbt = bbt_faces()
    fit = sample_faces() + [f for k in Q100_FIT_IDS for f in bbt[k]]
    held = [f for k, group in sorted(bbt.items()) if k not in Q100_FIT_IDS for f in group]
    return fit, held


def quality_100_constants(passes: int = 100, seed: int = 0) -> dict:
    """``{model: Quality100}`` fitted and reported as the module docstring says."""
    fit, held = quality_100_split()
    held_ids = ", ".join(k for k in sorted(bbt_faces()) if k not in Q100_FIT_IDS)
    out = {}
    for name in FIT_ALPHA_R:
        model = load_model(name, "cpu")
        q_fit, q_held = (
            serfiq_quality(model, to_tensor(faces), n_passes=passes, seed=seed).q_raw
            for faces in (fit, held)
        )
        mapping = fit_quality_100(
            q_fit,
            model=name,
            fitted_on=f"{len(fit)} faces: insightface samples + bbt {', '.join(Q100_FIT_IDS)}",
        )
        out[name] = mapping.with_percentiles(q_held, f"{len(held)} held-out bbt faces: {held_ids}")
    return out


def write_mean_face() -> None:
    """Write MEAN_FACE_FILE from the FIT identities' aligned bbt faces."""
    faces = [f.image for k, group in bbt_faces().items() if k in FIT_IDENTITIES for f in group]
    np.save(MEAN_FACE_FILE, make_mean_face(faces))
    print(f"{MEAN_FACE_FILE}: mean of {len(faces)} faces of {', '.join(FIT_IDENTITIES)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality-100", action="store_true", help="fit only quality_100")
    parser.add_argument("--mean-face", action="store_true", help="write core/mean_face.npy")
    args = parser.parse_args()
    if args.mean_face:
        return write_mean_face()
    if args.quality_100:
        for name, m in quality_100_constants(args.passes, args.seed).items():
            print(f"## {name}: slope={m.slope:.6g} centre={m.centre:.6g}")
            print(f"fitted on {m.fitted_on}; percentiles of {m.reported_on}")
            print(format_percentiles(m))
            print(f"percentiles={m.percentiles!r}")
        return
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
