"""ONNX graph surgery: dequantise, fold constants, drop unused inputs, make the batch
dynamic, split, and convert to torch; and the helpers that read a head's weights
straight from a graph (``_node``, ``_arrays``, ``_bn1d``)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import numpy as np
import onnx
import torch
from onnx import numpy_helper, version_converter
from onnx.utils import Extractor
from torch import fx, nn

from ..errors import ModelError

logger = logging.getLogger(__name__)

_TORCH_MAX_OPSET = 17  # newest opset whose ops onnx2torch 1.5 converts without gaps


# --------------------------------------------------------------------------------------
# ONNX graph surgery: dequantise, fold, drop unused inputs, dynamic batch, split
# --------------------------------------------------------------------------------------


def _dequantise(
    q: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int, block: int
) -> np.ndarray:
    """``DequantizeLinear`` in NumPy: ``(q - zero_point) * scale`` (per tensor, axis or block).

    Block-wise (opset 21): scale and zero point hold one value per ``block`` elements
    along ``axis``; they are repeated ``block`` times there and cut to ``q``'s length.
    """
    zero = np.zeros(scale.shape, dtype=np.int32) if zero is None else zero.astype(np.int32)
    axis %= max(q.ndim, 1)
    if block:
        keep = np.arange(q.shape[axis])
        scale = np.repeat(scale, block, axis=axis).take(keep, axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(keep, axis=axis)
    elif scale.size > 1:  # one scale per slice along ``axis``
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((q.astype(np.int32) - zero).astype(np.float32) * scale.astype(np.float32)).astype(
        np.float32
    )


def _names_read(nodes: Sequence[onnx.NodeProto]) -> set[str]:
    """Tensor names read by ``nodes`` and by the subgraphs (``If``, ``Loop``) inside them."""
    names = {i for n in nodes for i in n.input if i}
    for node in nodes:
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                names |= _names_read(sub.node)
    return names


def _fold_constants(graph: onnx.GraphProto) -> None:
    """Replace ``DequantizeLinear``, ``Reshape`` and ``Identity`` nodes on initialisers
    by initialisers."""
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    keep = []
    for node in graph.node:
        ins = [i for i in node.input if i]
        if node.op_type == "DequantizeLinear" and all(i in arrays for i in ins):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            zero = arrays[ins[2]] if len(ins) > 2 else None
            arrays[node.output[0]] = _dequantise(
                arrays[ins[0]],
                arrays[ins[1]],
                zero,
                attrs.get("axis", 1),
                attrs.get("block_size", 0),
            )
        elif node.op_type == "Reshape" and all(i in arrays for i in ins):
            arrays[node.output[0]] = arrays[ins[0]].reshape(arrays[ins[1]].astype(np.int64))
        elif node.op_type == "Identity" and ins and ins[0] in arrays:
            arrays[node.output[0]] = arrays[ins[0]]
        else:
            keep.append(node)
    used = _names_read(keep) | {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in arrays.items() if k in used)


def _drop_unused_inputs(graph: onnx.GraphProto) -> None:
    """Remove graph inputs no node reads, and inputs that are really initialisers."""
    used = _names_read(graph.node)
    inits = {t.name for t in graph.initializer}
    keep = [v for v in graph.input if v.name in used and v.name not in inits]
    dropped = len(graph.input) - len(keep)
    del graph.input[:]
    graph.input.extend(keep)
    if dropped:
        logger.debug("dropped %d unused or constant graph inputs", dropped)


def _activation_names(graph: onnx.GraphProto) -> set[str]:
    """Names of the tensors that depend on a graph input (nodes are topologically sorted)."""
    live = {v.name for v in graph.input}
    for node in graph.node:
        if any(i in live for i in node.input):
            live.update(node.output)
    return live


def _make_batch_dynamic(graph: onnx.GraphProto) -> None:
    """Give every graph input and output a symbolic batch dimension ``batch``.

    A fixed batch size ``N`` baked into a constant ``Reshape`` target of an activation
    (``[N, 192]`` in the tflite2onnx export of MobileFaceNet) becomes ``-1`` (or ``0``,
    copy the input's dimension, when the target already holds a ``-1``). Stale shape
    annotations are removed; shape inference recomputes them.
    """
    fixed = {
        d.dim_value
        for v in graph.input
        for d in v.type.tensor_type.shape.dim[:1]
        if d.dim_value > 0
    }
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_param = "batch"
    del graph.value_info[:]
    inits = {t.name: t for t in graph.initializer}
    live = _activation_names(graph)
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[0] not in live or node.input[1] not in inits:
            continue
        target = numpy_helper.to_array(inits[node.input[1]]).astype(np.int64).copy()
        if target.size and target[0] in fixed:
            target[0] = 0 if -1 in target else -1
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(target, node.input[1]))


def prepare_onnx(model: onnx.ModelProto) -> onnx.ModelProto:
    """Make an ONNX model convertible by onnx2torch, without changing what it computes.

    Folds quantised weights (``DequantizeLinear``, block-wise included) and constant
    reshapes into float32 initialisers, drops unused graph inputs, makes the batch
    dimension dynamic, and lowers the opset to 17 when it is newer.

    Args:
        model: any single-input ONNX model (not modified).
    Returns:
        A new, checked ``ModelProto``.
    """
    model = copy.deepcopy(model)
    _fold_constants(model.graph)
    _drop_unused_inputs(model.graph)
    _make_batch_dynamic(model.graph)
    opset = max(
        (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        default=0,
    )
    try:
        if opset > _TORCH_MAX_OPSET:
            model = version_converter.convert_version(model, _TORCH_MAX_OPSET)
        model.ir_version = max(model.ir_version, 8)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises ValidationError, RuntimeError, ...
        raise ModelError(f"cannot prepare the ONNX graph for conversion: {exc}") from exc
    return model


def _split_candidates(model: onnx.ModelProto, last: int = 15) -> str:
    names = [
        f"{n.output[0]} ({n.op_type}, node {n.name or '-'})" for n in model.graph.node if n.output
    ]
    return "; ".join(names[-last:])


def _resolve_split(model: onnx.ModelProto, split: str) -> str:
    """Tensor name for ``split``: a tensor name, or a node name (its first output)."""
    outputs = {o for n in model.graph.node for o in n.output}
    if split in outputs:
        return split
    for node in model.graph.node:
        if node.name == split and node.output:
            return node.output[0]
    raise ModelError(
        f"split {split!r} is neither a tensor nor a node of the ONNX graph. "
        f"The last tensors (name (op, node)) are: {_split_candidates(model)}"
    )


def split_onnx(model: onnx.ModelProto, split: str) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """Cut a prepared ONNX model into ``body`` (input -> split) and ``head`` (split -> output).

    Args:
        model: a model from :func:`prepare_onnx` (one input, dynamic batch).
        split: a tensor name, or a node name (meaning its first output).
    Returns:
        ``(body, head)``: the body's output and the head's input are the split tensor.
    Raises:
        ModelError: unknown split name, or a split that is not a cut point (a node of
            the head also reads a tensor computed before the split).
    """
    tensor = _resolve_split(model, split)
    inferred = onnx.shape_inference.infer_shapes(model)
    extractor = Extractor(inferred)
    body = extractor.extract_model([v.name for v in model.graph.input], [tensor])
    head = extractor.extract_model([tensor], [v.name for v in model.graph.output])
    known = {tensor} | {t.name for t in head.graph.initializer}
    for node in head.graph.node:
        missing = [i for i in node.input if i and i not in known]
        if missing:
            raise ModelError(
                f"split {split!r} is not a cut point: node {node.name or node.op_type!r} after it "
                f"also reads {missing[0]!r}, computed before it; choose a later tensor"
            )
        known.update(node.output)
    return body, head


# ---------------------------------------------- weights read straight from a graph
def _bn1d(arrays: dict[str, np.ndarray], node: onnx.NodeProto) -> nn.BatchNorm1d:
    """An ``nn.BatchNorm1d`` from an ONNX ``BatchNormalization`` node (inference mode)."""
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    gamma, beta, mean, var = (torch.tensor(arrays[i], dtype=torch.float32) for i in node.input[1:5])
    bn = nn.BatchNorm1d(gamma.numel(), eps=float(attrs.get("epsilon", 1e-5)))
    with torch.no_grad():
        bn.weight.copy_(gamma)
        bn.bias.copy_(beta)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
    return bn


def _node(model: onnx.ModelProto, output: str) -> onnx.NodeProto:
    for node in model.graph.node:
        if output in node.output:
            return node
    raise ModelError(f"the graph has no node producing {output!r}")


def _arrays(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _onnx_to_torch(model: onnx.ModelProto) -> fx.GraphModule:
    """onnx2torch conversion with the library's error type."""
    from onnx2torch import convert

    try:
        return convert(model)
    except Exception as exc:  # onnx2torch raises bare NotImplementedError/KeyError
        raise ModelError(f"onnx2torch cannot convert this graph: {exc}") from exc
