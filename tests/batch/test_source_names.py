"""``source`` names each input once and reads back, for every name the file system allows
(issue case 4): control characters next to their escaped look-alikes, undecodable bytes
next to the text of their escape, through the table, ``--resume`` and ``merge``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from helpers.faces import write_faces

from pixelfiq_lib.batch import explain_folder, merge_tables, quality_table
from pixelfiq_lib.batch.inputs import display_path, expand_inputs
from pixelfiq_lib.batch.table import read_results

pytestmark = pytest.mark.slow
RUN = dict(passes=2, device="cpu", aligned=True)
#: Pairs that collapsed to one source before: a control character and its escape text,
#: an undecodable byte and its escape text, a backslash.
NAMES = [
    b"a\nb.png",
    b"a\\nb.png",
    b"c\td.png",
    b"c\\td.png",
    b"e\xe9.png",
    b"e\\xe9.png",
    b"=f\r.png",
    b"g\\.png",
]


def test_display_path_is_one_to_one():
    names = [*NAMES, b"x\xc2\x85.png", b"x\\u0085.png", b"x\x85.png", b"\\\\n", b"\\\n"]
    texts = [display_path(n) for n in names]
    assert len(set(texts)) == len(texts), texts
    assert all(t.isprintable() for t in texts)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("names")
    write_faces(folder, NAMES)
    return folder


def test_every_name_gets_its_own_source_and_resume_finds_each(faces, sface, tmp_path, caplog):
    items = expand_inputs([str(faces)], aligned=True)
    assert len({it.source for it in items}) == len(NAMES) == len(items)
    out = tmp_path / "out"
    run = explain_folder(sface, [str(faces)], out, **RUN)
    assert f"{len(NAMES)} faces ok from {len(NAMES)} images" in run.summary
    sources = [r[0] for r in read_results(out / "results.csv")]
    assert sorted(sources) == sorted(it.source for it in items), "read back as written"
    with caplog.at_level(logging.INFO):
        again = explain_folder(sface, [str(faces)], out, resume=True, **RUN)
    assert f"resuming: {len(NAMES)} input(s) already finished" in caplog.text
    assert again.rows == run.rows


def test_names_survive_shards_and_merge(faces, sface, tmp_path):
    whole = quality_table(sface, [str(faces)], tmp_path / "whole.csv", **RUN)
    for i in (1, 2, 3):
        quality_table(sface, [str(faces)], tmp_path / "x.csv", shard=(i, 3), **RUN)
    path, rows, _ = merge_tables([str(tmp_path)])
    assert [r[0] for r in rows] == [r[0] for r in whole.rows]
    assert len({r[0] for r in rows}) == len(NAMES)
    assert [r[0] for r in read_results(path)] == [r[0] for r in whole.rows]
    assert os.path.basename(path) == "x.csv"
