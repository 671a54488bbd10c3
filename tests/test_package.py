"""The public API: every exported name resolves, and importing the package stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pixelfiq_lib as pfl


def test_every_exported_name_resolves():
    missing = [n for n in pfl.__all__ if getattr(pfl, n, None) is None]
    assert not missing


def test_import_does_not_load_torch_models_or_onnx():
    code = "import sys, pixelfiq_lib; print('onnx2torch' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def _imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of the modules a source file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    here = package.split(".")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            found.add(mod)
            found |= {f"{mod}.{alias.name}" for alias in node.names}
    return found


LIBRARY = Path(pfl.__file__).parent


def test_every_module_stays_readable_in_one_sitting():
    """The house style's module size: at most 420 lines in every module, cli/ included."""
    sizes = {
        str(p.relative_to(LIBRARY)): len(p.read_text().splitlines()) for p in LIBRARY.rglob("*.py")
    }
    over = sorted(((n, s) for n, s in sizes.items() if s > 420), key=lambda kv: -kv[1])
    assert len(sizes) > 50 and not over, over


def test_the_method_reads_in_under_800_lines():
    """core/'s four steps (constants, quality, regression, backprop) in one short read."""
    steps = ("constants", "quality", "regression", "backprop")
    total = sum(len((LIBRARY / "core" / f"{s}.py").read_text().splitlines()) for s in steps)
    assert total < 800, total


def test_ray_is_imported_only_by_the_ray_engine():
    """``--engine ray`` is an optional extra: nothing else may import ray."""
    code = (
        "import sys, pixelfiq_lib, pixelfiq_lib.cli.main, pixelfiq_lib.batch.pipeline, "
        "pixelfiq_lib.speed; print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
    users = [
        str(p.relative_to(LIBRARY))
        for p in LIBRARY.rglob("*.py")
        if any(m == "ray" or m.startswith("ray.") for m in _imported_modules(p, "pixelfiq_lib"))
    ]
    assert users == ["batch/ray_engine.py"]
