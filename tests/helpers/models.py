"""A tiny random network with the FRModel split, for float64 gradient checks only."""

from __future__ import annotations

import torch
from torch import nn

from pixelfiq_lib.models.base import FRModel


def make_tiny_model(dtype: torch.dtype = torch.float64, seed: int = 0, size: int = 112) -> FRModel:
    """A small random conv net with the FRModel split, for exact gradient checks only.

    Its body normalises 0..255 input like the real networks do: (x - 127.5) / 128.
    """
    torch.manual_seed(seed)

    class Body(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv2d(3, 4, 3, stride=2, padding=1),
                nn.BatchNorm2d(4),
                nn.PReLU(4),
                nn.Conv2d(4, 8, 3, stride=2, padding=1),
                nn.BatchNorm2d(8),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv((x - 127.5) / 128.0).flatten(1)

    body = Body().eval()
    feat_dim = body(torch.zeros(1, 3, size, size)).shape[1]
    head = nn.Sequential(nn.Linear(feat_dim, 16), nn.BatchNorm1d(16))
    model = FRModel(body, head, name="tiny", input_size=(size, size))
    for bn in model.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    return model.to(dtype).eval()
