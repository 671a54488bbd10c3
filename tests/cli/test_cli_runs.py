"""Issue 14.1-14.3 and 14.7: nothing lost, nothing hidden. The marker never lands in a
photo folder, two runs into one table cannot lose rows, quality shards and merge,
resume retries transient errors and finds inputs by identity, CSV cells are safe."""

from __future__ import annotations

import csv
import errno
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from pixelfiq_lib.batch import inputs, pipeline, scoring, table
from pixelfiq_lib.data import detect_faces, load_image, sample_image_paths

pytestmark = pytest.mark.slow

PASSES = ["--passes", "4", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Three loose face crops of insightface's group photo and one non-image."""
    root = tmp_path_factory.mktemp("photos")
    group = load_image(sample_image_paths()["t1"])
    for k, face in enumerate(detect_faces(group)[:3]):
        x, y, w, h = face.bbox
        x0, y0 = max(0, int(x - 0.6 * w)), max(0, int(y - 0.6 * h))
        crop = group[y0 : int(y + 1.6 * h), x0 : int(x + 1.6 * w)]
        Image.fromarray(crop).save(root / f"face{k}.jpg")
    (root / "=cmd.jpg").write_text("not an image")  # a formula-like name
    return root


@pytest.fixture
def run(in_process):
    """``cli.main`` in this process (conftest's ``in_process``)."""
    return in_process


def _cli(*args, cwd=None, **kw):
    cmd = [sys.executable, "-m", "pixelfiq_lib.cli", *map(os.fspath, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, cwd=cwd, env=env, text=True, **kw)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------------- the marker
def test_out_equal_to_input_folder_or_empty_is_refused(photos, run, capsys):
    assert run(["explain", str(photos), "--out", str(photos), *PASSES]) == 2
    assert run(["explain", str(photos), "--out", "", *PASSES]) == 2
    assert run(["explain", str(photos / "face0.jpg"), str(photos), "--out", "", *PASSES]) == 2
    assert run(["quality", str(photos), "--out", "", *PASSES]) == 2
    assert run(["explain", str(photos), "--out", str(photos.parent), *PASSES]) == 2
    err = capsys.readouterr().err
    assert "input folder" in err and "empty" in err and "Traceback" not in err
    assert not (photos / inputs.OUTPUT_MARKER).exists()
    assert not (photos.parent / inputs.OUTPUT_MARKER).exists()


def test_existing_folder_of_photos_is_not_marked(photos, tmp_path, run, capsys):
    other = tmp_path / "holiday"
    other.mkdir()
    Image.open(photos / "face0.jpg").save(other / "beach.jpg")
    assert run(["explain", str(photos / "face0.jpg"), "--out", str(other), *PASSES]) == 2
    assert "did not write" in capsys.readouterr().err
    assert not (other / inputs.OUTPUT_MARKER).exists()


def test_marked_folder_with_foreign_photos_is_read_with_a_warning(photos, tmp_path, caplog):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / inputs.OUTPUT_MARKER).write_text("")
    Image.open(photos / "face0.jpg").save(folder / "mine.jpg")
    Image.open(photos / "face0.jpg").save(folder / "face0-0123abcd_0.png")  # pixelfiq's
    with caplog.at_level(logging.WARNING):
        items = inputs.expand_inputs([str(tmp_path)])
    assert [Path(i.path).name for i in items] == ["mine.jpg"]
    assert "did not write" in caplog.text
    (folder / "mine.jpg").unlink()
    assert inputs.expand_inputs([str(tmp_path)]) == []  # only pixelfiq's output: skipped


# ---------------------------------------------------------------- lock, shards, merge
def test_second_run_into_the_same_output_is_refused(photos, tmp_path):
    out = tmp_path / "o"
    first = _cli(
        "explain", photos, "--out", out, "--batch-size", "1", *PASSES, stderr=subprocess.PIPE
    )
    owner = out / ".results.csv.lock.owner"
    deadline = time.monotonic() + 120
    while not owner.exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.01)
    assert owner.exists(), "the first run took the lock"
    first.send_signal(signal.SIGSTOP)  # hold it there, however fast this machine is
    try:
        second = _cli("explain", photos, "--out", out, *PASSES, stderr=subprocess.PIPE)
        err2 = second.communicate(timeout=120)[1]
    finally:
        first.send_signal(signal.SIGCONT)
    err1 = first.communicate(timeout=300)[1]
    assert second.returncode == 2, err2
    assert f"another pixelfiq run (pid {first.pid} on " in err2 and "Traceback" not in err2
    assert first.returncode == 1, err1  # the non-image row
    assert len(_rows(out / "results.csv")) == 4, "no row lost"


def test_parallel_quality_shards_then_merge_equal_the_whole_run(photos, tmp_path, run):
    whole = tmp_path / "whole.csv"
    assert run(["quality", str(photos), "--out", str(whole), *PASSES]) == 1
    out = tmp_path / "x.csv"
    procs = [
        _cli("quality", photos, "--out", out, "--shard", f"{i}/2", *PASSES, stderr=subprocess.PIPE)
        for i in (1, 2)
    ]
    for proc in procs:
        err = proc.communicate(timeout=300)[1]
        assert proc.returncode in (0, 1), err
    shards = [tmp_path / "x-shard1of2.csv", tmp_path / "x-shard2of2.csv"]
    assert sum(len(_rows(s)) for s in shards) == 4 and not out.exists()
    assert run(["merge", str(shards[0]), str(shards[1])]) == 0
    assert out.read_bytes() == whole.read_bytes()


def test_merge_refuses_other_settings_and_missing_shards(photos, tmp_path, run, capsys):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run(["quality", str(photos), "--out", str(a), "--shard", "1/2", *PASSES]) == 1
    shard1 = tmp_path / "a-shard1of2.csv"
    assert run(["merge", str(shard1)]) == 2
    assert "missing" in capsys.readouterr().err
    opts = ["--shard", "2/2", "--passes", "5", "--device", "cpu", "--quiet"]
    assert run(["quality", str(photos), "--out", str(a), *opts]) in (0, 1)
    assert run(["merge", str(tmp_path)]) == 2
    assert "n_passes" in capsys.readouterr().err
    assert not b.exists()


def test_quality_does_not_overwrite_an_unrelated_file(photos, tmp_path, run, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    assert run(["quality", str(photos / "face0.jpg"), "--out", str(notes), *PASSES]) == 2
    assert notes.read_text() == "my notes\n"
    assert "not a pixelfiq results table" in capsys.readouterr().err


# ------------------------------------------------------------------------------ resume
def test_disk_full_run_resumed_equals_an_uninterrupted_run(photos, tmp_path, run, monkeypatch):
    base = tmp_path / "base"
    assert run(["explain", str(photos), "--out", str(base), *PASSES]) == 1

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "full"
    with monkeypatch.context() as m:
        m.setattr(scoring, "write_face_files", full)
        assert run(["explain", str(photos), "--out", str(out), *PASSES]) == 1
    rows = _rows(out / "results.csv")
    assert [r["status"] for r in rows].count("error") == 3
    assert run(["explain", str(photos), "--out", str(out), "--resume", *PASSES]) == 1
    assert (out / "results.csv").read_bytes() == (base / "results.csv").read_bytes()


def test_resume_from_another_directory_adds_no_duplicates(photos, tmp_path, run, monkeypatch):
    out = tmp_path / "q.csv"
    monkeypatch.chdir(photos.parent)
    rel = os.path.relpath(photos)
    assert run(["quality", rel, "--out", str(out), *PASSES]) == 1
    first = out.read_bytes()
    monkeypatch.chdir(tmp_path)
    assert run(["quality", str(photos), "--out", str(out), "--resume", *PASSES]) == 1
    rows = _rows(out)
    assert len(rows) == 4 and len({r["source"] for r in rows}) == 4
    assert all(Path(r["source"]).is_absolute() for r in rows), "renamed to this run's text"
    assert [r["quality"] for r in rows] == [r["quality"] for r in _rows_bytes(first)]


def _rows_bytes(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(data.decode().splitlines()))


# ----------------------------------------------------------------------- CSV escaping
def test_formula_like_names_are_escaped_in_the_csv(photos, tmp_path, run, monkeypatch):
    out = tmp_path / "q.csv"
    monkeypatch.chdir(photos)
    assert run(["quality", "=cmd.jpg", "--out", str(out), *PASSES]) == 1
    text = out.read_text()
    assert text.splitlines()[1].startswith("'=cmd.jpg,")
    assert run(["quality", "=cmd.jpg", "--out", str(out), "--resume", *PASSES]) == 1
    assert out.read_text() == text, "the escaped cell reads back as the same input"
    assert table.unescape_cell(table.escape_cell("'x")) == "'x"
    assert table.escape_cell("-0.5") == "-0.5" and table.escape_cell("@SUM(A1)") == "'@SUM(A1)"


# ------------------------------------------------------------------- --aligned face check
def test_aligned_non_faces_are_flagged_with_their_quality_kept(tmp_path, run):
    import numpy as np

    from pixelfiq_lib.data import sample_faces

    folder = tmp_path / "crops"
    folder.mkdir()
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 112).astype(np.uint8)
    crops = {
        "0_face.png": sample_faces(1)[0].image,
        "1_noise.png": rng.integers(0, 256, (112, 112, 3), dtype=np.uint8),
        "2_blank.png": np.full((112, 112, 3), 128, np.uint8),
        "3_gradient.png": np.tile(ramp[None, :, None], (112, 1, 3)),
    }
    for name, image in crops.items():
        Image.fromarray(np.ascontiguousarray(image)).save(folder / name)
    out = tmp_path / "q.csv"
    assert run(["quality", str(folder), "--aligned", "--out", str(out), *PASSES]) == 0
    rows = _rows(out)
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert [r["not_a_face"] for r in rows] == ["0", "1", "1", "1"]
    assert list(rows[0]).index("not_a_face") > list(rows[0]).index("n_faces"), "appended"
    assert all(0.0 < float(r["quality"]) < 1.0 for r in rows), "quality kept"


def test_folder_named_like_an_image_gets_a_row(tmp_path):
    (tmp_path / "x.jpg").mkdir()
    (items,) = [inputs.expand_inputs([str(tmp_path / "x.jpg")])]
    assert len(items) == 1 and "folder" in items[0].skip_reason


def test_closed_stdout_is_a_clear_error(photos, tmp_path):
    cmd = f"exec {sys.executable} -m pixelfiq_lib.cli quality {photos / 'face0.jpg'} >&-"
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "stdout is closed" in proc.stderr, proc.stderr
    assert "AttributeError" not in proc.stderr


def test_symlink_loop_is_reported_as_one(tmp_path):
    os.symlink("loop.jpg", tmp_path / "loop.jpg")
    assert pipeline._not_regular(str(tmp_path / "loop.jpg")) == "a symlink loop"
