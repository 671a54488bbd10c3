"""``pixelfiq evaluate``: options of :func:`pixelfiq_lib.evaluation.run_evaluation`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ... import evaluation
from .. import argtypes

DEFAULTS, FAST_DEFAULTS = evaluation.EVALUATION_DEFAULTS, evaluation.FAST_EVALUATION_DEFAULTS
LOC_SIZES = evaluation.LOC_SIZES


def add_parser(sub, parents=None) -> None:
    """``pixelfiq evaluate`` and its options."""
    parser = sub.add_parser("evaluate", help="masking/inpainting experiments and metrics")
    parser.set_defaults(func=run)
    add = parser.add_argument
    add(
        "--data",
        required=True,
        metavar="DIR",
        help="identity-labelled faces DIR/<identity>/<image> (LFW layout; DIR/pairs.txt in "
        "LFW format is used when present)",
    )
    add("--out", required=True, metavar="OUT", help="output folder (results.json, tables, plots)")
    add(
        "--model",
        action="append",
        default=None,
        metavar="NAME",
        help="network; repeat for several (default: every ready one, see `pixelfiq models`)",
    )
    add(
        "--seed",
        type=argtypes.seed,
        default=0,
        metavar="S",
        help="seeds pairs, degradations, squares, dropout masks (default 0)",
    )
    add(
        "--fast",
        action="store_true",
        help="tiny run: T=20, 1 probe copy, 3 faces for the "
        "paper's experiments, 2 faces x 4 steps for the curves (explicit options still win)",
    )
    add(
        "--passes",
        type=argtypes.passes,
        default=None,
        metavar="T",
        help=f"SER-FIQ passes T (default {DEFAULTS['passes']}, fast {FAST_DEFAULTS['passes']})",
    )
    add(
        "--copies",
        type=argtypes.non_negative,
        default=None,
        metavar="K",
        help="degraded probe copies per image "
        f"(default {DEFAULTS['copies']}, fast {FAST_DEFAULTS['copies']})",
    )
    add(
        "--max-pairs",
        type=argtypes.positive,
        default=200_000,
        metavar="N",
        help="cap on comparisons; a seeded sample above it (default 200000)",
    )
    add(
        "--paper-faces",
        type=argtypes.positive,
        default=None,
        metavar="N",
        help="faces for the paper's "
        f"experiments (default {DEFAULTS['paper_faces']}, fast {FAST_DEFAULTS['paper_faces']})",
    )
    add(
        "--faith-faces",
        type=argtypes.non_negative,
        default=None,
        metavar="N",
        help="faces for deletion/insertion "
        "curves, the first N of the paper-experiment faces; 0 = every face of DIR "
        f"(default {DEFAULTS['faith_faces']}, fast {FAST_DEFAULTS['faith_faces']})",
    )
    add(
        "--loc-faces",
        type=argtypes.non_negative,
        default=None,
        metavar="N",
        help="faces for the occluder-localisation benchmark, from identities outside the "
        "FIT identities of bbt; 0 = all "
        f"(default {DEFAULTS['loc_faces']}, fast {FAST_DEFAULTS['loc_faces']})",
    )
    add(
        "--loc-sizes",
        default=None,
        metavar="S,S",
        help="square occluder sides in px, 20-50 (default "
        f"{','.join(map(str, LOC_SIZES))}; a full run: 20,30,40,50)",
    )
    add(
        "--loc-methods",
        default=None,
        metavar="M,M",
        help="map methods of the localisation benchmark and the deletion curves, "
        "comma-separated (recommended allowed; default: every registered method)",
    )
    add(
        "--no-loc-colour",
        dest="loc_colour",
        action="store_false",
        help="skip the localisation on insightface's colour sample faces",
    )
    add(
        "--loc-unstable",
        action="store_true",
        help="also run the localisation on a network whose Q-hat is too noisy for its maps to "
        "be judged (MobileFaceNet; `pixelfiq models --verbose`); skipped by default, and said",
    )
    add(
        "--faith-steps",
        type=argtypes.positive,
        default=None,
        metavar="S",
        help="deletion/insertion steps "
        f"(default {DEFAULTS['faith_steps']}, fast {FAST_DEFAULTS['faith_steps']})",
    )
    add(
        "--faceqan-starts",
        type=argtypes.positive,
        default=None,
        metavar="K",
        help="FaceQAN's random starts in the quality-method comparison (default "
        f"{DEFAULTS['faceqan_starts']}, the paper's; fast {FAST_DEFAULTS['faceqan_starts']})",
    )
    add(
        "--stages",
        default=None,
        metavar="S,S",
        help="run only these parts, comma-separated, of "
        f"{','.join(evaluation.STAGES)} (default: all; edc = verification, EDC and the "
        "quality-method comparison)",
    )
    add(
        "--faces",
        choices=("main", "largest"),
        default="main",
        help="the face scored per photo: main (default; the subject, largest box area minus "
        "twice the squared offset from the image centre, insightface's rule) or largest",
    )
    add("--device", default=None, help="cpu, cuda, cuda:1 (default: auto)")
    add("--quiet", action="store_true", help="warnings only, no progress bars")
    add("--debug", action="store_true", help="debug logs, with tracebacks")


def run(args: argparse.Namespace) -> int:
    """Run the evaluation into ``--out``, print a short summary to stderr; exit status 0."""
    sizes = {k: getattr(args, k) for k in DEFAULTS}
    cfg = evaluation.evaluation_config(
        fast=args.fast,
        seed=args.seed,
        max_pairs=args.max_pairs,
        loc_sizes=args.loc_sizes,
        loc_methods=args.loc_methods,
        stages=args.stages,
        **sizes,
    )
    results = evaluation.run_evaluation(
        args.data,
        args.out,
        **cfg,
        models=args.model,
        device=args.device,
        faces=args.faces,
        loc_colour=args.loc_colour,
        loc_unstable=args.loc_unstable,
        progress=not args.quiet,
    )
    print(evaluation.summary_text(results, Path(args.out)), file=sys.stderr, flush=True)
    return 0
