"""GraFIQs (Kolf, Damer, Boutros, CVPR Workshops 2024, arXiv 2404.12203), written from the paper.

A face the network was trained on "looks like" its training data inside the network: the
statistics each BatchNorm layer sees for it are close to the running statistics recorded
during training. GraFIQs measures the distance and asks how hard the network would have to
change to remove it:

1. run one face in eval mode and take, at every ``BatchNorm2d``, the mean and the (biased)
   variance of its input over the face's own pixels, per channel;
2. the loss is the mean over layers of ``MSE(mean, running_mean) + MSE(var, running_var)``;
3. back-propagate the loss to a group φ of the network; the quality is the summed absolute
   gradient of φ. A larger gradient means a larger discrepancy, a lower quality: this
   module returns its negative, so that higher = better like every quality of the library.

The paper leaves φ open ("a parameter group"; its own scripts also score the image). The
library offers ``"image"`` (∂L/∂I), ``"weights"`` (every parameter of the body) and
``"block1"`` .. ``"block4"`` (the body's parameters split at its BatchNorm layers into four
consecutive groups of equal BatchNorm count). :data:`DEFAULT_GROUP` was chosen on the bbt
FIT identities only (see benchmarks/RESULTS.md).

Networks without BatchNorm running statistics (MobileFaceNet here: its BatchNorm was folded
into the convolutions at export) raise :class:`~pixelfiq_lib.errors.MethodNotApplicableError`.

Taught in: 09_compare_quality_methods.ipynb
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..data.checks import check_images
from ..errors import InvalidArgumentError, MethodNotApplicableError

if TYPE_CHECKING:
    from ..models.base import FRModel

GROUPS = ("image", "weights", "block1", "block2", "block3", "block4")
#: φ used when none is given, chosen on the 20 FIT faces of bbt with SFace
#: (benchmarks/fiqa_fit.py): the only group whose score falls for most faces under both
#: blur (sigma 3 px) and a 40 px occluder: block2 1.00 / 0.75 of the faces; image 0.05 / 0.85,
#: weights 0.05 / 0.55, block1 0.00 / 1.00, block3 0.50 / 0.20, block4 0.35 / 0.40.
DEFAULT_GROUP = "block2"


def bn_layers(model: FRModel) -> list[nn.BatchNorm2d]:
    """The network's ``BatchNorm2d`` layers that hold running statistics, in forward order.

    Raises:
        MethodNotApplicableError: there are none (folded or removed BatchNorm).
    """
    layers = [
        m
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d) and m.track_running_stats and m.running_mean is not None
    ]
    if not layers:
        raise MethodNotApplicableError(
            f"GraFIQs needs BatchNorm2d layers with running (training) statistics, and "
            f"{model.name} has none: its BatchNorm was folded into the convolutions or "
            "removed when it was exported. Use serfiq, faceqan or embedding_norm on it."
        )
    return layers


@contextmanager
def _captured_statistics(layers: list[nn.BatchNorm2d]) -> Iterator[list]:
    """While open, every forward appends ``(mean, var, layer)`` per BatchNorm2d input:
    ``mean``/``var`` are (B, C), over each face's own pixels (biased variance)."""
    found: list = []

    def hook(module: nn.Module, args: tuple) -> None:
        x = args[0]
        found.append((x.mean((2, 3)), x.var((2, 3), unbiased=False), module))

    handles = [layer.register_forward_pre_hook(hook) for layer in layers]
    try:
        yield found
    finally:
        for h in handles:
            h.remove()


def bn_statistics_loss(
    model: FRModel, images: torch.Tensor, params: dict[str, torch.Tensor] | None = None
) -> torch.Tensor:
    """The GraFIQs loss of every face: (B,), differentiable w.r.t. ``images`` and weights.

    ``L = 1/N_layers * sum_l [ mean_c (mu_lc - running_mean_lc)^2
    + mean_c (var_lc - running_var_lc)^2 ]`` with mu, var over one face's pixels.

    Args:
        model: an :class:`FRModel` with BatchNorm2d running statistics, in eval mode.
        images: (B, 3, H, W) float RGB 0..255 on the model's device (not checked here).
        params: body parameters to use instead of the model's own (by qualified name, as
            in ``model.body.named_parameters()``), so their gradients can be taken
            without touching the shared model.
    Raises:
        MethodNotApplicableError: the network has no BatchNorm2d running statistics.
    """
    from torch.func import functional_call

    layers = bn_layers(model)
    with _captured_statistics(layers) as found:
        if params is None:
            model(images)
        else:
            feat = functional_call(model.body, params, (images,), strict=False)
            model.head(feat.flatten(1))
    terms = [
        (mean - bn.running_mean).pow(2).mean(1) + (var - bn.running_var).pow(2).mean(1)
        for mean, var, bn in found
    ]
    return torch.stack(terms).mean(0)


def parameter_groups(model: FRModel) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """The body's parameters as ``"weights"`` and ``"block1"`` .. ``"block4"``.

    Blocks split the body's parameterised modules (in registration order, the forward order
    of every shipped network) at BatchNorm2d layers into four runs of equal BatchNorm count;
    a BatchNorm layer belongs to the block it closes.
    """
    body_bns = [m for m in model.body.modules() if isinstance(m, nn.BatchNorm2d)]
    n_bn, seen = max(1, len(body_bns)), 0
    groups: dict[str, list] = {"weights": []} | {f"block{k}": [] for k in range(1, 5)}
    for name, module in model.body.named_modules():
        own = list(module.named_parameters(prefix=name, recurse=False))
        block = f"block{min(4, 1 + (seen * 4) // n_bn)}"
        if isinstance(module, nn.BatchNorm2d):
            seen += 1
        groups["weights"] += own
        groups[block] += own
    return groups


def check_network(model: FRModel, group: str = DEFAULT_GROUP) -> None:
    """Refuse a network GraFIQs cannot score with ``group``.

    Raises:
        MethodNotApplicableError: no BatchNorm2d running statistics, or no parameters in
            ``group`` (a body with fewer than four BatchNorm layers has empty blocks).
    """
    bn_layers(model)
    if group not in ("image", "weights") and not parameter_groups(model)[group]:
        raise MethodNotApplicableError(
            f"{model.name}'s body has no parameters in GraFIQs {group} (its "
            f"{len(bn_layers(model))} BatchNorm layers make fewer than four blocks); "
            'use group="image" or group="weights"'
        )


def _check_group(group: str) -> str:
    if group not in GROUPS:
        raise InvalidArgumentError(f"unknown GraFIQs group {group!r}; known: {', '.join(GROUPS)}")
    return group


def _input_gradients(model: FRModel, images: torch.Tensor) -> torch.Tensor:
    """∂L/∂I of every face: (B, 3, H, W). Faces do not interact in eval mode, so one
    backward of the summed loss gives each face its own gradient."""
    with torch.inference_mode(False), torch.enable_grad():
        x = images.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(bn_statistics_loss(model, x).sum(), x)
    return grad


def _weight_gradient_sums(model: FRModel, images: torch.Tensor, group: str) -> torch.Tensor:
    """Sum |∂L/∂φ| of one face at a time (parameter gradients do not separate by face)."""
    named = parameter_groups(model)[group]
    sums = []
    with torch.inference_mode(False), torch.enable_grad():
        for face in images.detach():
            params = {n: p.detach().clone().requires_grad_(True) for n, p in named}
            loss = bn_statistics_loss(model, face[None], params).sum()
            grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
            sums.append(sum(g.abs().sum() for g in grads if g is not None))
    return torch.stack(sums)


def grafiqs_quality(
    model: FRModel, images: torch.Tensor, *, group: str = DEFAULT_GROUP
) -> torch.Tensor:
    """GraFIQs quality of a batch of aligned faces, higher = better.

    Args:
        model: an :class:`FRModel` with BatchNorm2d running statistics (SFace: 28 layers).
        images: (B, 3, 112, 112) float32 RGB 0..255.
        group: φ, the part of the network the loss is back-propagated to (:data:`GROUPS`).
    Returns:
        (B,) float64 tensor on the CPU: ``-sum |∂L/∂φ|`` (the paper's gradient magnitude,
        negated; units of the loss per grey level for ``"image"``, per weight unit else).
    Raises:
        MethodNotApplicableError: no BatchNorm2d running statistics (MobileFaceNet).
        InvalidImageError: images of the wrong shape, type or range.
        InvalidArgumentError: unknown ``group``.
    Taught in: 09_compare_quality_methods.ipynb
    """
    check_network(model, _check_group(group))  # refuse before any work
    images = check_images(images, model)
    if group == "image":
        sums = _input_gradients(model, images).abs().sum((1, 2, 3))
    else:
        sums = _weight_gradient_sums(model, images, group)
    return -sums.detach().double().cpu()


def grafiqs_map(model: FRModel, images: torch.Tensor) -> torch.Tensor:
    """GraFIQs' pixel map: ``-|∂L/∂I|`` (mean over RGB), (B, H, W) float32, higher = better.

    A pixel whose change would move the BatchNorm statistics most toward the training data's
    is where GraFIQs finds the face least like that data: it gets the lowest value.

    Raises:
        MethodNotApplicableError: no BatchNorm2d running statistics.
    Taught in: 09_compare_quality_methods.ipynb
    """
    bn_layers(model)
    images = check_images(images, model)
    return -_input_gradients(model, images).abs().mean(1).float()
