"""The public API: every exported name resolves, and importing the package stays light."""
from __future__ import annotations

import subprocess
import sys

import pixelfiq_lib as pfl


def test_every_exported_name_resolves():
    missing = [n for n in pfl.__all__ if getattr(pfl, n, None) is None]
    assert not missing


def test_import_does_not_load_torch_models_or_onnx():
    code = "import sys, pixelfiq_lib; print('onnx2torch' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
