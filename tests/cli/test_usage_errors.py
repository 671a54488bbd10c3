"""A user's mistake gets exit 2 and one sentence, never a traceback or exit 1 (issue case 6):
binary tables, damaged records, absurd settings files, a cache path that is a file, and
outputs on a read-only file system."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.faces import write_faces

from pixelfiq_lib.batch import explain_folder, quality_table

pytestmark = pytest.mark.slow
RUN = dict(passes=2, device="cpu", aligned=True)
ARGS = ["--aligned", "--passes", "2", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return write_faces(tmp_path_factory.mktemp("faces"), ["a.png", "b.png"])[0].parent


@pytest.fixture(scope="module")
def earlier(faces, sface, tmp_path_factory) -> Path:
    """A finished explain folder and a finished quality table beside it."""
    root = tmp_path_factory.mktemp("earlier")
    explain_folder(sface, [str(faces)], root / "out", **RUN)
    quality_table(sface, [str(faces)], root / "q.csv", **RUN)
    return root


def _one_sentence(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("pixelfiq: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_png_as_the_results_table_on_resume(earlier, faces, tmp_path, in_process, capsys):
    out = tmp_path / "out"
    shutil.copytree(earlier / "out", out)
    (out / "results.csv").write_bytes((faces / "a.png").read_bytes())
    assert in_process(["explain", str(faces), "--out", str(out), "--resume", *ARGS]) == 2
    assert "not a pixelfiq results table" in _one_sentence(capsys.readouterr().err)
    (out / "results.settings.json").unlink()  # a PNG alone, no record
    assert in_process(["explain", str(faces), "--out", str(out), "--resume", *ARGS]) == 2
    assert "is missing" in _one_sentence(capsys.readouterr().err)


def test_png_as_quality_out(earlier, faces, tmp_path, in_process, capsys):
    png = tmp_path / "x.png"
    shutil.copy(faces / "a.png", png)
    for extra in ([], ["--resume"], ["--overwrite"]):
        assert in_process(["quality", str(faces), "--out", str(png), *ARGS, *extra]) == 2
        assert "x.png" in _one_sentence(capsys.readouterr().err)
    assert png.read_bytes() == (faces / "a.png").read_bytes()
    fresh = tmp_path / "y.PNG"
    assert in_process(["quality", str(faces), "--out", str(fresh), *ARGS]) == 2
    assert "named like an image" in _one_sentence(capsys.readouterr().err)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"source,face\r\x00\xff\x89PNG\r\n\x1a\n" * 3)
    assert in_process(["quality", str(faces), "--out", str(binary), "--resume", *ARGS]) == 2
    _one_sentence(capsys.readouterr().err)


@pytest.mark.parametrize("damage", [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b"[" * 100_000])
def test_damaged_settings_record_on_resume(earlier, faces, tmp_path, in_process, capsys, damage):
    out = tmp_path / "out"
    shutil.copytree(earlier / "out", out)
    (out / "results.settings.json").write_bytes(damage)
    assert in_process(["explain", str(faces), "--out", str(out), "--resume", *ARGS]) == 2
    assert "damaged" in _one_sentence(capsys.readouterr().err)


def test_deeply_nested_settings_file(faces, tmp_path, in_process, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    args = ["quality", str(faces), "--out", "q.csv", "--settings", str(deep), *ARGS]
    assert in_process(args) == 2
    assert "--settings" in _one_sentence(capsys.readouterr().err)
    assert not (tmp_path / "q.csv").exists()


def test_pixelfiq_home_that_is_a_file(faces, tmp_path, in_process, capsys, monkeypatch):
    home = tmp_path / "home"
    home.write_text("a file")
    monkeypatch.setenv("PIXELFIQ_HOME", str(home))
    assert in_process(["models"]) == 2
    assert "PIXELFIQ_HOME" in _one_sentence(capsys.readouterr().err)
    env = {**os.environ, "PIXELFIQ_HOME": str(home / "sub"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pixelfiq_lib.cli", "quality", str(faces), *ARGS]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "PIXELFIQ_HOME" in _one_sentence(proc.stderr)


READ_ONLY = """
set -u
mount --bind "$RO" "$RO" && mount -o remount,ro,bind "$RO" || exit 99
pf() { "$PY" -m pixelfiq_lib.cli "$@" --quiet 2>>"$LOG"; echo "$?" >>"$CODES"; }
pf explain "$FACES" --out "$RO/out" --resume --aligned --passes 2 --device cpu
pf quality "$FACES" --out "$RO/q.csv" --resume --aligned --passes 2 --device cpu
pf quality "$FACES" --out "$RO/new.csv" --aligned --passes 2 --device cpu
pf merge "$RO/shards" --out "$RO/merged.csv"
"""


def test_read_only_out(earlier, faces, sface, tmp_path):
    """``--out`` on a read-only file system (a read-only bind mount in a private mount
    namespace: ``chmod`` does not stop root, which runs these tests)."""
    if (
        shutil.which("unshare") is None
        or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode
    ):
        pytest.skip("needs unshare -rm (user and mount namespaces) to make a read-only mount")
    ro = tmp_path / "ro"
    shutil.copytree(earlier, ro)
    for i in (1, 2):
        quality_table(sface, [str(faces)], ro / "shards" / "x.csv", shard=(i, 2), **RUN)
    log, codes = tmp_path / "err.log", tmp_path / "codes"
    env = {
        **os.environ,
        "RO": str(ro),
        "FACES": str(faces),
        "PY": sys.executable,
        "LOG": str(log),
        "CODES": str(codes),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", READ_ONLY], env=env, capture_output=True, timeout=900
    )
    if proc.returncode == 99:
        pytest.skip("cannot make a read-only bind mount here")
    err = log.read_text()
    assert codes.read_text().split() == ["2", "2", "2", "2"], err
    lines = [ln for ln in err.splitlines() if ln.startswith("pixelfiq: error:")]
    assert len(lines) == 4 and "Traceback" not in err, err
    assert all("Read-only file system" in ln for ln in lines), err
