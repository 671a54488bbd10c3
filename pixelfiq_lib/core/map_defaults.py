"""Per-method default settings of the map registry (:mod:`.maps`): what
:func:`~.maps.map_settings` gives each method for a run's T, seed and ``fast``."""

from __future__ import annotations

from .counterfactual_gradient import FAST_PASSES
from .faceqan import PAPER_STEPS

#: Window side and stride (px) of perturbation and occlusion in the benchmarks
#: (``fast``: the coarser one).
WINDOW, FAST_WINDOW = 16, 28


def _gradient_defaults(n_passes: int, seed: int, fast: bool) -> dict:
    return {"n_passes": n_passes, "seed": seed}


def _counterfactual_defaults(n_passes: int, seed: int, fast: bool) -> dict:
    # T of the counterfactual maps is their own COUNTERFACTUAL_PASSES, not the run's
    return {"seed": seed, **({"n_passes": 10, "n_segments": (25, 50)} if fast else {})}


def _counterfactual_gradient_defaults(n_passes: int, seed: int, fast: bool) -> dict:
    # its own T (FAST_PASSES, common random numbers), not the run's
    return {"seed": seed, **({"n_passes": 10} if fast else {"n_passes": FAST_PASSES})}


def _seed_defaults(n_passes: int, seed: int, fast: bool) -> dict:
    return {"seed": seed}


def _perturbation_defaults(n_passes: int, seed: int, fast: bool) -> dict:
    win = FAST_WINDOW if fast else WINDOW
    return {"window": win, "stride": win, "n_passes": n_passes, "seed": seed}


def _occlusion_defaults(n_passes: int, seed: int, fast: bool) -> dict:
    win = FAST_WINDOW if fast else WINDOW
    return {"window": win, "stride": win}


def _integrated_gradients_defaults(n_passes: int, seed: int, fast: bool) -> dict:
    return {"n_steps": 4 if fast else 16}


def _faceqan_defaults(n_passes: int, seed: int, fast: bool) -> dict:
    # the paper's l = 5 steps from 2 random starts (paper: 10), sized for a CPU
    return {"seed": seed, "steps": 2 if fast else PAPER_STEPS, "starts": 2}
