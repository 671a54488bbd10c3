"""Nothing is replaced silently, and a refused run creates nothing (issue cases 3 and 8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.faces import write_faces

from pixelfiq_lib.batch import explain_folder, quality_table
from pixelfiq_lib.batch.inputs import OUTPUT_MARKER
from pixelfiq_lib.errors import InvalidArgumentError

pytestmark = pytest.mark.slow
RUN = dict(passes=2, device="cpu", aligned=True)
ARGS = ["--aligned", "--passes", "2", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    names = [f"f{k}.png" for k in range(5)]
    return write_faces(tmp_path_factory.mktemp("faces"), names)[0].parent


@pytest.fixture(scope="module")
def five(faces, sface, tmp_path_factory) -> Path:
    """An explain folder holding the results of five faces."""
    out = tmp_path_factory.mktemp("five") / "out"
    explain_folder(sface, [str(faces)], out, **RUN)
    return out


def _copy(folder: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(folder, out)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_rerun_into_a_folder_with_results_is_refused(five, faces, tmp_path, in_process, capsys):
    """The issue: one face into a folder of five left a 1-row table and four orphan maps."""
    out = _copy(five, tmp_path)
    before = _files(out)
    assert in_process(["explain", str(faces / "f0.png"), "--out", str(out), *ARGS]) == 2
    err = capsys.readouterr().err
    assert "holds the results of an earlier run" in err and "--overwrite" in err
    assert _files(out) == before


def test_overwrite_replaces_the_table_and_removes_the_old_maps(five, faces, sface, tmp_path):
    out = _copy(five, tmp_path)
    (out / "notes.txt").write_text("mine")  # not pixelfiq's: kept
    old_maps = sorted(p.name for p in out.glob("*.npy"))
    assert len(old_maps) == 5
    run = explain_folder(sface, [str(faces / "f0.png")], out, overwrite=True, **RUN)
    assert len(run.rows) == 1
    maps = sorted(p.name for p in out.glob("*.npy"))
    assert maps == [run.rows[0][5]] and len(list(out.glob("*.png"))) == 1
    assert (out / "notes.txt").read_text() == "mine"


def test_quality_table_is_replaced_only_with_overwrite(faces, sface, tmp_path, in_process):
    table = tmp_path / "q.csv"
    quality_table(sface, [str(faces)], table, **RUN)
    before = table.read_bytes()
    args = ["quality", str(faces / "f0.png"), "--out", str(table), *ARGS]
    assert in_process(args) == 2
    assert table.read_bytes() == before
    assert in_process([*args, "--overwrite"]) == 0
    assert table.read_bytes().count(b"\n") == 2
    assert in_process([*args, "--overwrite", "--resume"]) == 2


@pytest.mark.parametrize(
    "inputs, why",
    [
        (["missing.png"], "no such file"),
        (["faces/*.jpg"], "no such file"),  # an empty glob
        (["empty"], "no image files"),
        (["earlier"], "no image files"),  # an earlier output folder
        (["faces", "--settings", "bad.json"], "--settings"),
        (["faces", "--address", "auto"], "--address needs --engine ray"),
        (["faces", "--map", "nomap"], "unknown map method"),
    ],
)
def test_a_refused_run_creates_nothing(faces, tmp_path, in_process, capsys, inputs, why):
    shutil.copytree(faces, tmp_path / "faces")
    (tmp_path / "empty").mkdir()
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / OUTPUT_MARKER).write_text("")
    (tmp_path / "bad.json").write_text("{}")
    entries = set(tmp_path.iterdir())
    assert in_process(["explain", *inputs, "--out", "new", *ARGS]) == 2
    assert why in capsys.readouterr().err
    assert not (tmp_path / "new").exists() and set(tmp_path.iterdir()) == entries
    assert in_process(["quality", *inputs, "--out", "new.csv", *ARGS]) in (2,)
    assert set(tmp_path.iterdir()) == entries, "no table, lock or record either"


def test_resume_and_overwrite_together_are_refused(five, faces, sface, tmp_path):
    out = _copy(five, tmp_path)
    with pytest.raises(InvalidArgumentError, match="give one"):
        explain_folder(sface, [str(faces)], out, resume=True, overwrite=True, **RUN)
