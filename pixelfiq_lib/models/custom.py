"""Bring your own network: ``from_onnx`` (split at a graph tensor) and ``from_torch``
(split after a submodule).

Taught in: 07_bring_your_own_model.ipynb
"""

from __future__ import annotations

import copy
from pathlib import Path

import onnx
import torch
from torch import fx, nn

from ..core.constants import PAPER_A, PAPER_ALPHA, PAPER_R
from ..errors import ModelError
from .base import FRModel, _adapter, _assemble
from .onnx_graph import _onnx_to_torch, prepare_onnx, split_onnx

# --------------------------------------------------------------------------------------
# Bring your own network
# --------------------------------------------------------------------------------------


def _onnx_input_size(model: onnx.ModelProto, nhwc: bool) -> tuple[int, int]:
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    hw = dims[1:3] if nhwc else dims[2:4]
    return (hw[0], hw[1]) if len(hw) == 2 and all(v > 0 for v in hw) else (112, 112)


def from_onnx(
    path: str | Path,
    split: str,
    *,
    name: str | None = None,
    normalise: tuple[float, float] | None = (127.5, 127.5),
    bgr: bool = False,
    layout: str = "NCHW",
    input_size: tuple[int, int] | None = None,
    dropout_p: float = 0.5,
    alpha: float = PAPER_ALPHA,
    r: float = PAPER_R,
    plq_a: float = PAPER_A,
    device: str | torch.device | None = None,
) -> FRModel:
    """Load any single-input ONNX face recognition model and split it at a tensor.

    The body is the graph from the input up to ``split`` (flattened to ``(B, D)``), the
    head is the rest of the graph (converted by onnx2torch; its BatchNorm layers are
    ``nn.BatchNorm*`` modules, so :meth:`FRModel.official_variant` works). Quantised
    weights are dequantised and the batch dimension made dynamic (see :func:`prepare_onnx`).

    For insightface ArcFace models (``w600k_r50.onnx``, ``glint360k_r100.onnx``) split at
    the tensor that feeds the final ``Gemm`` (``fc``): the ``Flatten`` output after
    ``bn2``; keep ``normalise=(127.5, 127.5)``, their preprocessing.

    Args:
        path: the ``.onnx`` file.
        split: a tensor name, or a node name (its first output), where the body ends
            (the network's dropout site: the flattened output before the last linear layer).
        name: model name (the file stem by default).
        normalise: ``(mean, std)``; the body computes ``(x - mean) / std`` from RGB 0..255
            before the graph. ``None`` when the graph normalises its input itself.
        bgr: the graph expects BGR channel order.
        layout: ``"NCHW"`` or ``"NHWC"``: the layout the graph expects (input to
            :class:`FRModel` is always NCHW).
        input_size: ``(H, W)``; read from the graph when fixed, else 112x112.
        dropout_p, alpha, r, plq_a: SER-FIQ / PLQ constants (see :class:`FRModel`).
        device: target device (``config.get_device`` semantics).
    Returns:
        An :class:`FRModel` in eval mode.
    Raises:
        ModelError: unreadable file, unknown split name (the message lists the last
            tensors), a split that is not a cut point, or an unconvertible graph.
    """
    path = Path(path)
    if layout not in ("NCHW", "NHWC"):
        raise ModelError(f"layout must be 'NCHW' or 'NHWC', not {layout!r}")
    try:
        raw = onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"{path} is not a readable ONNX model: {exc}") from exc
    model = prepare_onnx(raw)
    if len(model.graph.input) != 1:
        raise ModelError(
            f"{path} has {len(model.graph.input)} inputs; pixelfiq needs one image input"
        )
    body_proto, head_proto = split_onnx(model, split)
    nhwc = layout == "NHWC"
    size = tuple(input_size) if input_size else _onnx_input_size(model, nhwc)
    return _assemble(
        _onnx_to_torch(body_proto),
        _onnx_to_torch(head_proto),
        _adapter(normalise, bgr, nhwc),
        name=name or path.stem,
        input_size=size,
        device=device,
        dropout_p=dropout_p,
        alpha=alpha,
        r=r,
        plq_a=plq_a,
    )


class _SplitTracer(fx.Tracer):
    """fx tracer that keeps the split submodule as one call (its output is the cut)."""

    def __init__(self, split: str) -> None:
        super().__init__()
        self.split = split

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname == self.split or super().is_leaf_module(m, qualname)


def _module_candidates(module: nn.Module, last: int = 20) -> str:
    names = [n for n, _ in module.named_modules() if n]
    return ", ".join(names[-last:])


def _trace_for_split(module: nn.Module, split: str) -> tuple[list[fx.Node], int]:
    """Trace ``module`` and return its nodes and the index of the split call."""
    if split not in dict(module.named_modules()) or not split:
        raise ModelError(
            f"split {split!r} is not a submodule of {type(module).__name__}; "
            f"its last submodules are: {_module_candidates(module)}"
        )
    try:
        graph = _SplitTracer(split).trace(module)
    except Exception as exc:
        raise ModelError(
            f"torch.fx cannot trace {type(module).__name__} ({exc}); build FRModel(body, head) "
            "from your own two modules instead"
        ) from exc
    nodes = list(graph.nodes)
    hits = [i for i, n in enumerate(nodes) if n.op == "call_module" and n.target == split]
    if len(hits) != 1:
        raise ModelError(
            f"submodule {split!r} runs {len(hits)} times in forward(); split at one that runs once"
        )
    if sum(n.op == "placeholder" for n in nodes) != 1:
        raise ModelError("from_torch needs a module whose forward takes one image tensor")
    return nodes, hits[0]


def split_module(module: nn.Module, split: str) -> tuple[fx.GraphModule, fx.GraphModule]:
    """Cut ``module`` after the submodule named ``split`` (torch.fx).

    Returns:
        ``(body, head)``: ``body(x)`` is the output of ``split``; ``head(f)`` computes the
        rest of ``forward`` from that output. Both share parameters with ``module``.
    Raises:
        ModelError: unknown name, untraceable module, a submodule that runs more than
            once, or a split that is not a cut point (e.g. inside a residual block).
    """
    nodes, cut = _trace_for_split(module, split)
    body_graph, env = fx.Graph(), {}
    for node in nodes[: cut + 1]:
        env[node] = body_graph.node_copy(node, env.__getitem__)
    body_graph.output(env[nodes[cut]])
    body = fx.GraphModule(module, body_graph)
    body.graph.eliminate_dead_code()
    body.recompile()
    head_graph = fx.Graph()
    henv = {nodes[cut]: head_graph.placeholder("features")}
    for node in nodes[cut + 1 :]:
        for arg in node.all_input_nodes:
            if arg in henv:
                continue
            if arg.op != "get_attr":
                raise ModelError(
                    f"split {split!r} is not a cut point: "
                    f"{node.name!r} after it also uses {arg.name!r}"
                )
            henv[arg] = head_graph.node_copy(arg)
        henv[node] = head_graph.node_copy(node, henv.__getitem__)
    return body, fx.GraphModule(module, head_graph)


def from_torch(
    module: nn.Module,
    split: str,
    *,
    name: str | None = None,
    normalise: tuple[float, float] | None = (127.5, 127.5),
    bgr: bool = False,
    input_size: tuple[int, int] = (112, 112),
    dropout_p: float = 0.5,
    alpha: float = PAPER_ALPHA,
    r: float = PAPER_R,
    plq_a: float = PAPER_A,
    device: str | torch.device | None = None,
) -> FRModel:
    """Wrap your own ``nn.Module`` (e.g. an insightface ``iresnet``), split after a submodule.

    The module is deep-copied and traced with ``torch.fx``; the submodule ``split`` stays
    one call, so a container (``"layer4"``) works as well as a leaf (``"bn2"``). The body
    is ``forward`` up to that call's output (flattened to ``(B, D)``), the head is the rest
    of ``forward``. For an ``iresnet`` split at ``"bn2"``: the head is flatten -> dropout
    (identity in eval) -> ``fc`` -> ``features`` (BatchNorm1d).

    Args:
        module: maps one ``(B, 3, H, W)`` tensor to ``(B, E)`` embeddings.
        split: qualified submodule name (as in ``module.named_modules()``).
        name: model name (the class name by default).
        normalise: ``(mean, std)`` applied to RGB 0..255 before the module, or ``None``
            when the module takes 0..255 itself. Default: insightface's ``(127.5, 127.5)``.
        bgr: the module expects BGR channel order.
        input_size: ``(H, W)`` the module expects.
        dropout_p, alpha, r, plq_a: SER-FIQ / PLQ constants (see :class:`FRModel`).
        device: target device (``config.get_device`` semantics).
    Raises:
        ModelError: see :func:`split_module`; or the module's output is not ``(B, E)``.
    """
    if not isinstance(module, nn.Module):
        raise ModelError(f"from_torch needs an nn.Module, not {type(module).__name__}")
    net = copy.deepcopy(module).cpu().eval()
    body_net, head_net = split_module(net, split)
    return _assemble(
        body_net,
        head_net,
        _adapter(normalise, bgr, False),
        name=name or type(module).__name__,
        input_size=tuple(input_size),
        device=device,
        dropout_p=dropout_p,
        alpha=alpha,
        r=r,
        plq_a=plq_a,
    )
