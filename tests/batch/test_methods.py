"""``pixelfiq quality --method``: a column per quality method in the per-image table."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import pixelfiq_lib as pfl
from pixelfiq_lib.batch import method_columns, methods_table


@pytest.fixture(scope="module")
def amy_dir():
    return pfl.config.bbt_dir() / "amy"


def test_methods_table_scores_every_face_with_every_method(sface, amy_dir, tmp_path):
    out = tmp_path / "t.csv"
    methods = ["embedding_norm", "serfiq"]
    rows = methods_table(
        sface, [str(amy_dir)], out, methods, settings={"serfiq": {"n_passes": 8, "seed": 0}}
    )
    assert [r["status"] for r in rows] == ["ok"] * 5
    with open(out, newline="") as fh:
        table = list(csv.reader(fh))
    assert tuple(table[0]) == method_columns(methods)
    assert table[0][-2:] == ["quality_embedding_norm", "quality_serfiq"]
    faces = [pfl.extract_faces(p, faces="main")[0].image for p in sorted(amy_dir.iterdir())]
    expected = pfl.face_quality(sface, pfl.to_tensor(faces), "serfiq", n_passes=8, seed=0)
    np.testing.assert_allclose([r["quality_serfiq"] for r in rows], expected, rtol=1e-6)
    np.testing.assert_allclose([float(v[-1]) for v in table[1:]], expected, rtol=1e-5)


def test_a_photo_without_a_face_gets_its_status(sface, tmp_path):
    blank = tmp_path / "blank.png"
    import cv2

    cv2.imwrite(str(blank), np.full((200, 200, 3), 127, np.uint8))
    rows = methods_table(sface, [str(blank)], None, ["embedding_norm"])
    assert rows == [
        {"source": str(blank), "face": "", "status": "no_face", "error": rows[0]["error"]}
    ]
    assert rows[0]["error"]


def test_quality_method_option_writes_a_column_each(in_process, amy_dir, tmp_path):
    out = tmp_path / "m.csv"
    argv = ["quality", str(amy_dir), "--method", "embedding_norm", "--method", "grafiqs"]
    assert in_process([*argv, "--out", str(out), "--quiet"]) == 0
    header = out.read_text().splitlines()[0]
    assert header == "source,face,status,error,quality_embedding_norm,quality_grafiqs"


def test_a_method_the_network_cannot_run_exits_2_with_the_reason(in_process, amy_dir, capsys):
    if not pfl.models.MODELS["mobilefacenet"].is_ready():
        pytest.skip("mobilefacenet not fetched: run `pixelfiq models fetch mobilefacenet`")
    argv = ["quality", str(amy_dir), "--model", "mobilefacenet", "--method", "grafiqs"]
    assert in_process(argv) == 2
    assert "BatchNorm" in capsys.readouterr().err
