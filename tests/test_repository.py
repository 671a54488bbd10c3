"""The repository tracks sources only: no binary or build artefact outside data/ and docs/."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Folders whose binaries are the point: the faces and the documentation's figures.
BINARY_HOMES = ("data", "docs")
#: Names that are built, cached or written by a run, never sources.
ARTEFACT_SUFFIXES = (".whl", ".egg", ".pyc", ".pyo", ".so", ".tar.gz", ".zip")
ARTEFACT_FOLDERS = {
    "__pycache__",
    "dist",
    "build",
    "out",
    ".ipynb_checkpoints",
    ".pytest_cache",
    ".venv",
}


def _tracked() -> list[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    run = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z"], capture_output=True, check=False
    )
    if run.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in run.stdout.decode().split("\0") if name]


def _package_data() -> set[str]:
    """The data files the package declares in pyproject.toml: they ship in the wheel."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = config["tool"]["setuptools"].get("package-data", {})
    return {f"{pkg}/{name}" for pkg, names in declared.items() for name in names}


def _is_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        return b"\0" in fh.read(8192)  # git's own test for a binary file


def _artefact(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return name.endswith(ARTEFACT_SUFFIXES) or any(
        p in ARTEFACT_FOLDERS or p.endswith(".egg-info") for p in parts[:-1]
    )


def test_no_binary_or_build_artefact_is_tracked_outside_data_and_docs():
    allowed = _package_data()
    offenders = []
    for name in _tracked():
        if PurePosixPath(name).parts[0] in BINARY_HOMES or name in allowed:
            continue
        path = REPO_ROOT / name
        if _artefact(name) or (path.is_file() and _is_binary(path)):
            offenders.append(name)
    assert not offenders, f"binaries or build artefacts under version control: {offenders}"


def test_the_checks_recognise_artefacts_and_binaries(tmp_path):
    assert _artefact("py_spy-0.4.3-py2.py3-none-manylinux1_x86_64.whl")
    assert _artefact("pixelfiq_lib/__pycache__/maps.cpython-311.pyc")
    assert _artefact("pixelfiq.egg-info/PKG-INFO")
    assert not _artefact("pixelfiq_lib/core/maps.py")
    (tmp_path / "weights.bin").write_bytes(b"\x89ONNX\0\x01")
    (tmp_path / "notes.md").write_text("Q̂ in [0, 1)\n", encoding="utf-8")
    assert _is_binary(tmp_path / "weights.bin")
    assert not _is_binary(tmp_path / "notes.md")
    assert "pixelfiq_lib/core/mean_face.npy" in _package_data()
