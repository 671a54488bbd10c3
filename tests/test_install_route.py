"""The course's CPU-only install route (docs/install.md), resolved by pip in a fresh venv.

What this machine can run of the route: a new virtual environment without the system's
site-packages, then pip's own resolution (``--dry-run --report``) of the route's two commands,
``torch torchvision`` from a CPU build and ``-e '.[notebooks]'``. It checks what a workshop
depends on: every dependency of the library and of the notebooks resolves, the PyTorch is a CPU
build with no CUDA libraries beside it, and Ray (the ``scale`` extra) is not pulled in.

Where the CPU build comes from: PyTorch's CPU index (``PIXELFIQ_TORCH_INDEX``, default the
index docs/install.md names) when it answers; otherwise a ``+cpu`` torch wheel that pip finds
through its configured ``find-links`` folders (``pip install torch==X+cpu``: what the index
would give). A resolution is not an install: whether the resolved torch/torchvision pair
imports together is the CPU index's promise, not checked here. Skips, with the reason, when
neither source nor a package index is reachable.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
import venv
from pathlib import Path

import pytest

from tools import REPO_ROOT

tomllib = pytest.importorskip("tomllib", reason="reads pyproject.toml with Python 3.11's tomllib")

CPU_INDEX = os.environ.get("PIXELFIQ_TORCH_INDEX", "https://download.pytorch.org/whl/cpu")
INSTALL_DOC = REPO_ROOT / "docs" / "install.md"
#: Packages of the CUDA stack that a CPU install must not download.
CUDA_PACKAGES = re.compile(r"^(nvidia-.*|triton|cuda-.*)$")

pytestmark = pytest.mark.slow


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status == 200
    except OSError:
        return False


def _find_links() -> list[Path]:
    """The local folders pip is configured to search (``PIP_FIND_LINKS``, pip's config)."""
    values = [os.environ.get("PIP_FIND_LINKS", "")]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    )
    values += re.findall(r"find-links='([^']*)'", proc.stdout)
    folders = [p.removeprefix("file://") for v in values for p in v.split()]
    return [Path(f) for f in folders if f and Path(f).is_dir()]


def _cpu_torch() -> list[str]:
    """pip arguments that bring a CPU build of torch (and torchvision, from the index)."""
    if _reachable(f"{CPU_INDEX}/torch/"):
        return ["torch", "torchvision", "--extra-index-url", CPU_INDEX]
    for folder in _find_links():
        for wheel in sorted(folder.glob("torch-*+cpu-*.whl")):
            version = wheel.name.split("-")[1]
            tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
            if f"-{tag}-" in wheel.name:
                return [f"torch=={version}"]
    pytest.skip(f"no CPU build of torch reachable: {CPU_INDEX} does not answer, no +cpu wheel")


def test_the_documented_route_is_the_one_resolved_here():
    text = INSTALL_DOC.read_text(encoding="utf-8")
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in text
    assert "pip install -e '.[notebooks]'" in text
    assert "scale]" not in text, "the course's route installs no Ray"


def test_the_cpu_route_resolves_without_cuda_or_ray(tmp_path):
    if not _reachable("https://pypi.org/simple/pip/"):
        pytest.skip("PyPI does not answer: the route cannot be resolved here")
    torch_args = _cpu_torch()
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    isolated = subprocess.run(
        [str(python), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert isolated.stdout.strip() == "True"
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        + ["--report", str(report)]
        + torch_args
        + ["-e", f"{REPO_ROOT}[notebooks]"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    resolved = {
        _normalise(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["notebooks"]
    names = {_normalise(re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0]) for req in wanted}
    assert names <= set(resolved), f"not resolved: {sorted(names - set(resolved))}"
    assert "pixelfiq" in resolved
    assert resolved["torch"].endswith("+cpu"), f"torch {resolved['torch']} is not a CPU build"
    cuda = sorted(name for name in resolved if CUDA_PACKAGES.match(name))
    assert not cuda, f"the CPU route would download the CUDA stack: {cuda}"
    assert "ray" not in resolved, "the course's install must not pull in Ray (the scale extra)"
