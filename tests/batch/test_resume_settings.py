"""``--resume`` continues only the run it was given: every setting that changes a row is
recorded in ``results.settings.json`` and compared both ways (issue case 2)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from helpers.faces import write_faces

from pixelfiq_lib.batch import explain_folder
from pixelfiq_lib.core.scale100 import fit_quality_100
from pixelfiq_lib.errors import InvalidArgumentError

pytestmark = pytest.mark.slow
RUN = dict(passes=2, device="cpu")


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return write_faces(tmp_path_factory.mktemp("faces"), ["a.png", "b.png"])[0].parent


@pytest.fixture(scope="module")
def mine(tmp_path_factory) -> Path:
    """A --settings file with a quality_100 map other than SFace's own."""
    path = tmp_path_factory.mktemp("settings") / "mine.json"
    fit_quality_100([0.80, 0.82, 0.84, 0.86, 0.88], model="sface").save(path)
    return path


@pytest.fixture(scope="module")
def runs(faces, mine, sface, tmp_path_factory) -> dict[str, Path]:
    """Finished runs of the same two faces with one setting changed each."""
    root = tmp_path_factory.mktemp("runs")
    kinds = {
        "plain": dict(aligned=True),
        "gradient": dict(aligned=True, map_method="quality_gradient"),
        "mine": dict(aligned=True, settings=mine),
        "detected": dict(aligned=False),
    }
    for name, kw in kinds.items():
        explain_folder(sface, [str(faces)], root / name, **RUN, **kw)
    return {name: root / name for name in kinds}


def _copy(runs, name, tmp_path) -> Path:
    out = tmp_path / name
    shutil.copytree(runs[name], out)
    return out


@pytest.mark.parametrize(
    "earlier, now, setting",
    [
        ("gradient", dict(aligned=True), "map"),  # the issue: map method mixed in one table
        ("plain", dict(aligned=True, map_method="quality_gradient"), "map"),
        ("mine", dict(aligned=True), "settings_sha256"),  # two quality_100 scales
        ("plain", dict(aligned=True, settings="MINE"), "settings_sha256"),
        ("detected", dict(aligned=True), "aligned"),  # detected and aligned rows mixed
        ("plain", dict(aligned=False), "aligned"),
        ("plain", dict(aligned=True, passes=3), "n_passes"),
        ("plain", dict(aligned=True, seed=1), "seed"),
        ("plain", dict(aligned=True, faces="largest"), "faces"),
        ("plain", dict(aligned=True, min_face_size=20.0), "min_face_size"),
    ],
)
def test_a_changed_setting_is_refused_both_ways(
    runs, faces, mine, sface, tmp_path, earlier, now, setting
):
    out = _copy(runs, earlier, tmp_path)
    before = (out / "results.csv").read_bytes(), (out / "results.settings.json").read_bytes()
    kw = {**RUN, **now}
    if kw.get("settings") == "MINE":
        kw["settings"] = mine
    with pytest.raises(InvalidArgumentError, match=f"other settings .*{setting} was ") as err:
        explain_folder(sface, [str(faces)], out, resume=True, **kw)
    assert ", now " in str(err.value) and "\n" not in str(err.value)
    after = (out / "results.csv").read_bytes(), (out / "results.settings.json").read_bytes()
    assert after == before, "a refused resume changes nothing"


@pytest.mark.parametrize(
    "key, value",
    [("model_sha256", "0" * 64), ("pixelfiq", "0.0.1"), ("model", "mobilefacenet")],
)
def test_other_weights_or_version_are_refused(runs, faces, sface, tmp_path, key, value):
    out = _copy(runs, "plain", tmp_path)
    meta = out / "results.settings.json"
    record = json.loads(meta.read_text())
    assert record[key] and record[key] != value, "the run records it"
    meta.write_text(json.dumps({**record, key: value}))
    with pytest.raises(InvalidArgumentError, match=f"{key} was "):
        explain_folder(sface, [str(faces)], out, resume=True, aligned=True, **RUN)


def test_every_setting_is_recorded_even_the_defaults(runs, mine):
    record = json.loads((runs["plain"] / "results.settings.json").read_text())
    assert record["map"] == "plq" and record["aligned"] is True
    assert record["settings_sha256"] is None and len(record["model_sha256"]) == 64
    assert {"n_passes", "seed", "faces", "min_face_size", "pixelfiq", "model"} <= set(record)
    assert record["coverage"]["finished"] is True and record["coverage"]["n_inputs"] == 2
    detected = json.loads((runs["detected"] / "results.settings.json").read_text())
    assert detected["aligned"] is False
    gradient = json.loads((runs["gradient"] / "results.settings.json").read_text())
    assert gradient["map"] == "quality_gradient"
    with_mine = json.loads((runs["mine"] / "results.settings.json").read_text())
    assert with_mine["settings_sha256"] and "quality_100" in with_mine


def test_the_same_settings_resume_and_keep_every_row(runs, faces, sface, tmp_path):
    out = _copy(runs, "gradient", tmp_path)
    table = (out / "results.csv").read_bytes()
    run = explain_folder(
        sface, [str(faces)], out, resume=True, aligned=True, map_method="quality_gradient", **RUN
    )
    assert (out / "results.csv").read_bytes() == table and len(run.rows) == 2


def test_a_table_of_the_previous_version_still_resumes(runs, faces, sface, tmp_path, caplog):
    """pixelfiq 0.1.0 recorded ``map`` only when not plq and no aligned/digest/version."""
    out = _copy(runs, "plain", tmp_path)
    meta = out / "results.settings.json"
    record = json.loads(meta.read_text())
    old = {k: record[k] for k in ("command", "model", "n_passes", "seed", "faces")}
    meta.write_text(json.dumps({**old, "min_face_size": record["min_face_size"]}))
    with pytest.raises(InvalidArgumentError, match='region_map was "plq"'):
        explain_folder(sface, [str(faces)], out, resume=True, aligned=True, **RUN)
    with caplog.at_level(logging.WARNING):  # its regions were named by the map it showed
        run = explain_folder(
            sface, [str(faces)], out, resume=True, aligned=True, region_map="plq", **RUN
        )
    assert len(run.rows) == 2 and "did not record aligned" in caplog.text
    assert json.loads(meta.read_text())["format"] == 2, "rewritten in the new layout"
    meta.write_text(json.dumps({**old, "min_face_size": 40.0, "map": "quality_gradient"}))
    with pytest.raises(InvalidArgumentError, match='map was "quality_gradient", now "plq"'):
        explain_folder(sface, [str(faces)], out, resume=True, aligned=True, **RUN)
