"""The constants of the paper's method, as the official code sets them.

They were fitted to one network (ArcFace LResNet100E-IR) and come from the official
code, not from the paper's text. Each shipped network records its
own fitted values in :data:`pixelfiq_lib.models.MODELS`; these are the defaults of a
network brought by the user.
"""

from __future__ import annotations

#: Scaling Q̂ = sigmoid(alpha (Q - r)): official code, fitted to ArcFace's raw Q band.
PAPER_ALPHA = 130.0
PAPER_R = 0.88
#: Value mapping P = 1 - 1 / (1 + a Ŝ^b) of the channel saliency Ŝ (0..255 pixels).
PAPER_A = 10**7.5
PAPER_B = 2.0
#: SER-FIQ's stochastic passes T and dropout rate p (official code).
PAPER_PASSES = 100
PAPER_DROPOUT = 0.5

#: Most stochastic passes accepted (10x the paper): the (T, D) masks of SFace then take
#: 200 MB and each face's T x T distance matrix 4 MB; more only buys noise below 0.001.
MAX_PASSES = 1000
#: Seeds are 63-bit non-negative integers (what torch.Generator.manual_seed accepts).
MAX_SEED = 2**63
