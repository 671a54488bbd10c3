"""``merge`` joins only the finished parts of one run over one input list, never into one
of its own shards, and says what it merged (issue case 1)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from helpers.faces import write_faces

from pixelfiq_lib.batch import merge_tables, pipeline, quality_table
from pixelfiq_lib.errors import InvalidArgumentError

pytestmark = pytest.mark.slow
RUN = dict(passes=2, device="cpu", aligned=True)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return write_faces(tmp_path_factory.mktemp("faces"), [f"f{k}.png" for k in range(4)])[0].parent


@pytest.fixture(scope="module")
def shards(faces, sface, tmp_path_factory) -> Path:
    """Both finished shards of one quality run of four faces, ``x-shard{1,2}of2.csv``."""
    root = tmp_path_factory.mktemp("shards")
    for i in (1, 2):
        quality_table(sface, [str(faces)], root / "x.csv", shard=(i, 2), **RUN)
    return root


def _copy(shards: Path, tmp_path: Path) -> Path:
    out = tmp_path / "s"
    shutil.copytree(shards, out)
    return out


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))[1:]


def _parts(folder: Path) -> list[str]:
    return [str(folder / f"x-shard{i}of2.csv") for i in (1, 2)]


def test_finished_shards_merge_into_the_whole_table(shards, faces, sface, tmp_path, in_process):
    folder = _copy(shards, tmp_path)
    whole = quality_table(sface, [str(faces)], tmp_path / "whole.csv", **RUN)
    assert in_process(["merge", *_parts(folder), "--quiet"]) == 0
    merged = _rows(folder / "x.csv")
    assert [r[:3] for r in merged] == [r[:3] for r in whole.rows], "same inputs, same order"
    assert [float(r[4]) for r in merged] == pytest.approx([float(r[4]) for r in whole.rows], 1e-3)
    record = json.loads((folder / "x.settings.json").read_text())
    assert record["coverage"] == {**record["coverage"], "shard": None, "finished": True}
    # the merged table resumes without scoring anything again
    table = (folder / "x.csv").read_bytes()
    again = quality_table(sface, [str(faces)], folder / "x.csv", resume=True, **RUN)
    assert (folder / "x.csv").read_bytes() == table and len(again.rows) == 4


def test_merge_says_rows_inputs_and_shards(shards, tmp_path, in_process, capsys):
    folder = _copy(shards, tmp_path)
    assert in_process(["merge", str(folder), "--quiet"]) == 0
    assert "4 rows of 4 inputs from 2 shards merged into" in capsys.readouterr().err


def test_an_unfinished_shard_is_refused(faces, sface, tmp_path, monkeypatch):
    """A shard stopped halfway (Ctrl-C here; kill -9 or still running leave the same
    record) is not merged; finished with --resume, it is."""
    out = tmp_path / "x.csv"
    quality_table(sface, [str(faces)], out, shard=(1, 2), **RUN)
    real = pipeline.score_faces
    calls = []

    def interrupted(model, faces, opts):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(model, faces, opts)

    monkeypatch.setattr(pipeline, "score_faces", interrupted)
    with pytest.raises(KeyboardInterrupt):
        quality_table(sface, [str(faces)], out, shard=(2, 2), batch_size=1, **RUN)
    monkeypatch.undo()
    parts = _parts(tmp_path)
    assert len(list(csv.reader(open(parts[1])))) == 2, "one row of two written"
    with pytest.raises(InvalidArgumentError, match="shard 2/2 .* did not finish"):
        merge_tables(parts)
    assert not (tmp_path / "x.csv").exists()
    quality_table(sface, [str(faces)], out, shard=(2, 2), resume=True, **RUN)
    _, rows, _ = merge_tables(parts)
    assert len(rows) == 4


def test_out_that_is_one_of_the_shards_is_refused(shards, tmp_path, in_process, capsys):
    folder = _copy(shards, tmp_path)
    parts = _parts(folder)
    before = Path(parts[0]).read_bytes()
    with pytest.raises(InvalidArgumentError, match="one of the shards"):
        merge_tables(parts, parts[0])
    with pytest.raises(InvalidArgumentError, match="one of the shards|not a pixelfiq results"):
        merge_tables(parts, folder / "x-shard1of2.settings.json")
    assert in_process(["merge", *parts, "--out", parts[0], "--quiet"]) == 2
    assert "one of the shards" in capsys.readouterr().err
    assert Path(parts[0]).read_bytes() == before


def test_shards_of_different_input_lists_are_refused(faces, sface, tmp_path):
    """A file added between the shards, or shards of two folders, do not merge."""
    grown = tmp_path / "grown"
    shutil.copytree(faces, grown)
    quality_table(sface, [str(grown)], tmp_path / "x.csv", shard=(1, 2), **RUN)
    write_faces(grown, ["f05.png"])  # sorted among the others: every later part shifts
    quality_table(sface, [str(grown)], tmp_path / "x.csv", shard=(2, 2), **RUN)
    with pytest.raises(InvalidArgumentError, match="different input lists"):
        merge_tables(_parts(tmp_path))
    other = write_faces(tmp_path / "inB", ["g0.png", "g1.png", "g2.png", "g3.png"])[0].parent
    quality_table(sface, [str(other)], tmp_path / "x.csv", shard=(2, 2), overwrite=True, **RUN)
    with pytest.raises(InvalidArgumentError, match="different input lists"):
        merge_tables(_parts(tmp_path))


def test_missing_repeated_and_overlapping_shards_are_refused(shards, tmp_path):
    folder = _copy(shards, tmp_path)
    parts = _parts(folder)
    with pytest.raises(InvalidArgumentError, match="missing"):
        merge_tables(parts[:1])
    with pytest.raises(InvalidArgumentError, match="twice"):
        merge_tables([parts[0], parts[0]])
    # shard 1 also holding a row of shard 2's inputs
    row = Path(parts[1]).read_text().splitlines()[1]
    with open(parts[0], "a") as fh:
        fh.write(row + "\n")
    with pytest.raises(InvalidArgumentError, match="holds 3 inputs, its part of the 4 inputs is 2"):
        merge_tables(parts)
    # a finished shard whose table lost a face row
    folder = _copy(shards, tmp_path / "cut")
    table = folder / "x-shard2of2.csv"
    lines = table.read_text().splitlines(keepends=True)
    cut = lines[1].split(",")
    cut[8] = "2"  # the input claims two faces; only face 0 is there
    table.write_text("".join([lines[0], ",".join(cut), *lines[2:]]))
    with pytest.raises(InvalidArgumentError, match="lacks face rows"):
        merge_tables(_parts(folder))


def test_shards_with_other_settings_are_refused(faces, sface, tmp_path):
    quality_table(sface, [str(faces)], tmp_path / "x.csv", shard=(1, 2), **RUN)
    quality_table(sface, [str(faces)], tmp_path / "x.csv", shard=(2, 2), seed=1, **RUN)
    with pytest.raises(InvalidArgumentError, match="seed differ"):
        merge_tables(_parts(tmp_path))


def test_out_holding_another_run_is_replaced_only_with_overwrite(shards, faces, sface, tmp_path):
    folder = _copy(shards, tmp_path)
    other = tmp_path / "other.csv"
    quality_table(sface, [str(faces)], other, seed=3, **RUN)
    before = other.read_bytes()
    with pytest.raises(InvalidArgumentError, match="holds the results of another run"):
        merge_tables(_parts(folder), other)
    assert other.read_bytes() == before
    _, rows, _ = merge_tables(_parts(folder), other, overwrite=True)
    assert len(rows) == 4 and other.read_bytes() != before
    merge_tables(_parts(folder), other)  # the same merge again replaces its own result
