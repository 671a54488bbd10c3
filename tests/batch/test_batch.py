"""Batch-run building blocks without a model: inputs, output names, the results table."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelfiq_lib import files
from pixelfiq_lib.batch import inputs, outputs, pipeline, scoring, table
from pixelfiq_lib.errors import InvalidArgumentError, NoFaceError

STEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{8}$")


# ------------------------------------------------------------------------ output names
@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        ".",
        "a/..",
        ".hidden.jpg",
        "-rf.jpg",
        "photos/ä ö ü.png",
        "x/" + "y" * 300 + ".jpg",
        "名前.jpg",
        "a\nb.jpg",
        "a\\b.jpg",
    ],
)
def test_output_stem_is_one_safe_file_name(path):
    stem = outputs.output_stem(path)
    assert STEM.match(stem), stem
    assert len(stem) <= inputs.MAX_STEM + 9
    assert outputs.safe_join("/out", f"{stem}_0.npy").parent == Path("/out")


def test_output_stem_of_undecodable_and_long_names():
    assert outputs.output_stem(b"caf\xe9.jpg").startswith("caf")
    assert outputs.output_stem(os.fsdecode(b"caf\xe9.jpg")) == outputs.output_stem(b"caf\xe9.jpg")
    assert outputs.output_stem("Jürgen 1.jpg").startswith("Jurgen_1-")
    long_a, long_b = "a" * 200 + "1.jpg", "a" * 200 + "2.jpg"
    assert outputs.output_stem(long_a) != outputs.output_stem(long_b), "the hash keeps them apart"


def test_same_name_in_two_folders_gets_two_stems_and_is_stable():
    one, two = outputs.output_stem("x/face.jpg"), outputs.output_stem("y/face.jpg")
    assert one != two and one.startswith("face-") and two.startswith("face-")
    assert outputs.output_stem("x/face.jpg") == one
    assert outputs.output_stem(os.path.abspath("x/face.jpg")) == one, "hash of the absolute path"


@given(st.binary(min_size=1, max_size=300).filter(lambda b: b"\0" not in b))
@settings(max_examples=200, deadline=None)
def test_any_byte_name_gives_a_safe_stem(raw):
    stem = outputs.output_stem(raw)
    assert STEM.match(stem) and len(os.fsencode(stem)) < 100


@pytest.mark.parametrize("name", ["../x.npy", "/etc/x", ".x", "a/b.npy", "", "..", "n" * 300])
def test_safe_join_refuses_names_that_leave_the_folder(name):
    with pytest.raises(InvalidArgumentError):
        outputs.safe_join("/out", name)


def test_display_path_escapes_bytes_and_control_characters():
    assert inputs.display_path(b"d/caf\xe9.jpg") == "d/caf\\xe9.jpg"
    assert inputs.display_path("a\nb.jpg") == "a\\nb.jpg"
    assert inputs.display_path("ä b.jpg") == "ä b.jpg"


# ------------------------------------------------------------------------------ inputs
@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """photos/{a.JPG, b.png, notes.txt, .hidden.jpg, sub/c.jpeg, sub/up -> .., out/ (a
    pixelfiq output folder: marker and a figure named like pixelfiq names them)}."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    (root / "out").mkdir()
    for name in (
        "a.JPG",
        "b.png",
        "notes.txt",
        ".hidden.jpg",
        "sub/c.jpeg",
        "out/a-0123abcd_0.png",
    ):
        (root / name).write_bytes(b"x")
    (root / "out" / inputs.OUTPUT_MARKER).write_text("")
    os.symlink("..", root / "sub" / "up")
    return root


def names(items, root: Path) -> list[str]:
    return [os.path.relpath(it.path, root) for it in items]


def test_folder_walk_filters_extensions_and_ends_symlink_loops(tree):
    items = inputs.expand_inputs([str(tree)])
    assert names(items, tree) == ["a.JPG", "b.png", "sub/c.jpeg"]
    assert all(it.skip_reason is None and not it.aligned for it in items)


def test_output_folder_is_excluded_even_without_a_marker(tree):
    (tree / "out" / inputs.OUTPUT_MARKER).unlink()
    assert "out/a-0123abcd_0.png" in names(inputs.expand_inputs([str(tree)]), tree)
    items = inputs.expand_inputs([str(tree)], exclude=[tree / "out"])
    assert "out/a-0123abcd_0.png" not in names(items, tree)


def test_explicit_files_are_kept_in_order_once(tree):
    args = [str(tree / "notes.txt"), str(tree / "b.png"), str(tree), str(tree / "b.png")]
    items = inputs.expand_inputs(args, aligned=True)
    assert names(items, tree) == ["notes.txt", "b.png", "a.JPG", "sub/c.jpeg"]
    assert all(it.aligned for it in items)


def test_glob_patterns_are_expanded_without_following_loops(tree, monkeypatch):
    monkeypatch.chdir(tree)
    assert names(inputs.expand_inputs(["*.png"]), Path(".")) == ["b.png"]
    assert names(inputs.expand_inputs(["**/*.jp*g"]), Path(".")) == ["sub/c.jpeg"]
    assert names(inputs.expand_inputs([str(tree / "**" / "*.JPG")]), tree) == ["a.JPG"]
    with pytest.raises(InvalidArgumentError, match="no match"):  # only out/a-0123abcd_0.png matches
        inputs.expand_inputs(["*/*.png"])


def test_missing_inputs_are_reported_together(tree):
    with pytest.raises(InvalidArgumentError, match="nope.jpg.*zzz"):
        inputs.expand_inputs([str(tree / "nope.jpg"), str(tree / "zzz*.png"), str(tree)])
    assert inputs.expand_inputs([str(tree / "sub" / "up" / "sub")])  # through the link: fine


def test_unlistable_folder_becomes_a_skipped_input(tree):
    if os.geteuid() == 0:
        pytest.skip("root can list any folder")
    (tree / "locked").mkdir()
    (tree / "locked").chmod(0)
    try:
        items = inputs.expand_inputs([str(tree)])
    finally:
        (tree / "locked").chmod(0o755)
    assert [it.skip_reason is not None for it in items if it.path.endswith("locked")] == [True]


@pytest.mark.parametrize("text, expected", [("1/1", (1, 1)), ("2/4", (2, 4)), (" 3 / 3 ", (3, 3))])
def test_parse_shard(text, expected):
    assert inputs.parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1", "-1/2", ""])
def test_parse_shard_refuses_bad_values(text):
    with pytest.raises(InvalidArgumentError, match="1-based"):
        inputs.parse_shard(text)


def test_shards_partition_the_inputs():
    items = [inputs.InputItem(f"{k}.jpg", f"{k}.jpg") for k in range(11)]
    parts = [inputs.select_shard(items, (i, 3)) for i in (1, 2, 3)]
    assert sorted((it for p in parts for it in p), key=items.index) == items
    assert [it.path for it in parts[1]] == ["1.jpg", "4.jpg", "7.jpg", "10.jpg"]
    assert inputs.select_shard(items, None) == items


# ----------------------------------------------------------------------- results table
def row(source, face="", status="ok", n_faces=1, map_file=""):
    return table.make_row(
        source,
        face=face,
        status=status,
        n_faces=n_faces,
        map_file=map_file,
        quality=0.5 if status == "ok" else "",
    )


def test_make_row_formats_floats_and_orders_columns():
    r = table.make_row("a.jpg", face=0, status="ok", quality=0.123456789, n_faces=2)
    assert r[:9] == ["a.jpg", "0", "ok", "0.123457", "", "", "", "", "2"]
    assert r[9:] == [""] * (len(inputs.COLUMNS) - 9), "later columns are appended, empty here"
    assert inputs.COLUMNS.index("quality_100") >= 9
    with pytest.raises(InvalidArgumentError):
        table.make_row("a.jpg", colour="red")


def test_failure_maps_exceptions_to_status_and_one_line_reason():
    assert table.failure(NoFaceError("no face\nin x")) == ("no_face", "no face in x")
    assert table.failure(ValueError("bad")) == ("error", "ValueError: bad")
    assert table.failure(RuntimeError()) == ("error", "RuntimeError:")


def test_table_is_rewritten_in_input_order_and_survives_a_cut_line(tmp_path):
    path = tmp_path / "results.csv"
    tbl = table.ResultsTable(path, {"a": 0, "b": 1, "c": 2})
    tbl.start()
    for r in (
        row("c", status="no_face", n_faces=0),
        row("b", 1, n_faces=2),
        row("a", 0),
        row("b", 0, n_faces=2),
    ):
        tbl.append(r)
    with open(path, "ab") as fh:
        fh.write(b"d,0,ok,0.5")  # a line cut by a kill
    rows = tbl.finish()
    assert [(r[0], r[1]) for r in rows] == [("a", "0"), ("b", "0"), ("b", "1"), ("c", "")]
    assert table.read_results(path) == rows
    assert path.read_text().splitlines()[0] == ",".join(inputs.COLUMNS)


def test_read_results_refuses_other_files(tmp_path):
    (tmp_path / "x.csv").write_text("name,score\n")
    with pytest.raises(InvalidArgumentError, match="not a pixelfiq results table"):
        table.read_results(tmp_path / "x.csv")


def test_finished_rows_keep_only_complete_inputs(tmp_path):
    for name in ("g_0", "g_1", "h_0"):
        (tmp_path / f"{name}.npy").write_bytes(b"")
        (tmp_path / f"{name}.png").write_bytes(b"")
    rows = [
        row("bad", status="unreadable", n_faces=0),
        row("g", 0, n_faces=2, map_file="g_0.npy"),
        row("g", 1, n_faces=2, map_file="g_1.npy"),
        row("half", 0, n_faces=3, map_file="g_0.npy"),  # killed after 1 of 3 faces
        row("h", 0, map_file="h_0.npy"),
        row("lost", 0, map_file="lost_0.npy"),
        row("err", 0, status="error", n_faces=1),  # transient: retried (issue 14.3)
        row("mixed", 0, n_faces=2, map_file="g_0.npy"),
        row("mixed", 1, status="error", n_faces=2),
    ]
    kept = table.finished_rows(rows, tmp_path)
    assert sorted({r[0] for r in kept}) == ["bad", "g", "h"]
    assert {r[0] for r in table.finished_rows(rows, None)} == {"bad", "g", "h", "lost"}


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "x.npy"

    def broken(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        files.atomic_write(target, broken)
    assert list(tmp_path.iterdir()) == []
    files.atomic_write(target, lambda fh: np.save(fh, np.zeros(3, np.float32)))
    assert np.load(target).shape == (3,) and [p.name for p in tmp_path.iterdir()] == ["x.npy"]


def test_stale_temporaries_of_dead_runs_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    prefix = f"{files.TEMP_PREFIX}{files._host()}-"
    (tmp_path / f"{prefix}{dead}-a.npy").write_bytes(b"")
    (tmp_path / f"{prefix}{os.getpid()}-b.npy").write_bytes(b"")  # a live run's file
    (tmp_path / ".pixelfiq-tmp-otherhost-1-c.npy").write_bytes(b"")
    assert files.remove_stale_temporaries(tmp_path) == 1
    assert len(list(tmp_path.iterdir())) == 2


def test_summary_counts_faces_and_failures_by_status():
    rows = [
        row("a", 0, n_faces=2),
        row("a", 1, n_faces=2),
        row("b", status="no_face", n_faces=0),
        row("c", status="unreadable", n_faces=0),
        row("d", status="unreadable", n_faces=0),
    ]
    text, ok = pipeline.summarise(rows)
    assert text == "2 faces ok from 1 images; 3 failed: no_face 1, unreadable 2" and not ok
    assert pipeline.summarise(rows[:2]) == ("2 faces ok from 1 images", True)


# --------------------------------------------------------------------------- pipeline
class _FakeModel:
    """Stands in for a network: its device says CPU; scoring is patched below."""

    device = type("D", (), {"type": "cpu"})()


def test_a_failing_face_is_isolated_from_its_batch(monkeypatch):
    def score(model, faces, opts):
        if any(f == "bad" for f in faces):
            raise ValueError("degenerate")
        return [scoring._Score(0.5, 0.9, 0.01, None) for _ in faces]

    monkeypatch.setattr(scoring, "_score_chunk", score)
    opts = pipeline.BatchOptions(csv_path=Path("x.csv"))
    monkeypatch.setattr(_FakeModel.device, "type", "cuda")  # one chunk: the retry path
    out = scoring.score_faces(_FakeModel(), ["f1", "bad", "f2"], opts)
    assert [type(o).__name__ for o in out] == ["_Score", "ValueError", "_Score"]


def test_worker_thread_reports_every_input_in_order(tmp_path, monkeypatch):
    def fake_extract(index, item, opts):
        if item.path == "boom":
            raise AssertionError("_extract must never raise")
        return pipeline._Job(index, item, faces=[index])

    monkeypatch.setattr(pipeline, "_extract", fake_extract)
    items = [inputs.InputItem(str(k), str(k)) for k in range(20)]
    out, stop = queue.Queue(maxsize=2), threading.Event()
    worker = threading.Thread(target=pipeline._produce, args=(items, None, out, stop), daemon=True)
    worker.start()
    assert [job.index for job in pipeline._jobs(out, worker)] == list(range(20))


def test_extract_turns_every_error_into_a_status(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "x.jpg").write_text("text")
    opts = pipeline.BatchOptions(csv_path=tmp_path / "r.csv")
    jobs = [
        pipeline._extract(0, inputs.InputItem(str(tmp_path / n), n), opts)
        for n in ("pipe.jpg", "x.jpg", "missing.jpg")
    ]
    assert [(j.status, bool(j.reason)) for j in jobs] == [
        ("skipped", True),
        ("unreadable", True),
        ("unreadable", True),
    ]
