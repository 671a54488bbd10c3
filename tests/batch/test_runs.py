"""The library's batch runs (:mod:`pixelfiq_lib.batch.runs`): what ``pixelfiq explain`` and
``quality`` do, called from Python, with the same table and the same refusals."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

import pixelfiq_lib as pfl
from pixelfiq_lib.batch import COLUMNS
from pixelfiq_lib.data import sample_image_paths


@pytest.fixture
def faces_dir(tmp_path):
    """A folder with the aligned sample crop twice (two inputs, one face each)."""
    src = sample_image_paths()["Tom_Hanks_54745"]
    folder = tmp_path / "faces"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(src, folder / name)
    return folder


def test_explain_folder_returns_the_table_it_wrote(tmp_path, faces_dir, sface):
    run = pfl.explain_folder(sface, [faces_dir], tmp_path / "out", aligned=True, passes=4)
    table = run.table
    assert run.all_ok and list(table.columns) == list(COLUMNS) and len(table) == 2
    assert (table["status"] == "ok").all()
    # the same face twice: the same quality, and its map file holds a map in [0, 1]
    assert table["quality"].nunique() == 1 and 0 < table["quality"].iloc[0] < 1
    plq = np.load(run.maps_dir / table["map_file"].iloc[0])
    assert plq.shape == (112, 112) and 0 <= plq.min() and plq.max() <= 1
    assert run.csv_path.read_text().count("\n") == 3  # header + 2 rows


def test_lowest_region_comes_from_the_recommended_map(tmp_path, faces_dir, sface):
    from pixelfiq_lib.core.maps import RECOMMENDED_MAP, map_spec
    from pixelfiq_lib.evaluation.regions import lowest_region, network_region_reference

    kw = dict(aligned=True, passes=4, seed=3, figures="none")
    run = pfl.explain_folder(sface, [faces_dir], tmp_path / "plq", **kw)
    assert run.settings["region_map"] == RECOMMENDED_MAP and run.settings["map"] == "plq"
    # the verdict is the recommended map's, computed beside the paper's map that is shown
    spec = map_spec(RECOMMENDED_MAP)
    faces = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(faces_dir.iterdir())]
    x = pfl.to_tensor(faces)
    ref = network_region_reference("sface", RECOMMENDED_MAP)
    want = [lowest_region(m, ref)[0] for m in spec.fn(sface, x, **spec.defaults(4, 3, False))]
    assert sorted(run.table["lowest_region"]) == sorted(want)
    same = pfl.explain_folder(sface, [faces_dir], tmp_path / "rec", map_method="recommended", **kw)
    assert list(same.table["lowest_region"]) == list(run.table["lowest_region"])
    none = pfl.explain_folder(sface, [faces_dir], tmp_path / "none", region_map=None, **kw)
    assert (none.table["lowest_region"] == "").all() and none.settings["region_map"] == ""
    with pytest.raises(pfl.UsageError, match="--region-map"):
        pfl.explain_folder(sface, [faces_dir], tmp_path / "x", region_map="nomap", **kw)


def test_quality_table_matches_explain(tmp_path, faces_dir, sface):
    kw = dict(aligned=True, passes=4, seed=3)
    maps = pfl.explain_folder(sface, [faces_dir], tmp_path / "maps", **kw).table
    only = pfl.quality_table(sface, [faces_dir], tmp_path / "q.csv", **kw).table
    np.testing.assert_array_equal(only["quality_raw"], maps["quality_raw"])
    assert (only["map_file"] == "").all()


def test_runs_refuse_before_writing(tmp_path, faces_dir):
    with pytest.raises(pfl.UsageError, match="input folder"):
        pfl.explain_folder("sface", [faces_dir], faces_dir)
    with pytest.raises(pfl.UsageError, match="--map"):
        pfl.explain_folder("sface", [faces_dir], tmp_path / "x", map_method="no_such_map")
    with pytest.raises(pfl.UsageError, match="--map grafiqs: .*BatchNorm"):
        pfl.explain_folder("mobilefacenet", [faces_dir], tmp_path / "g", map_method="grafiqs")
    assert not (tmp_path / "g").exists()
    # the map that names regions is refused under its own option, before anything is written
    with pytest.raises(pfl.UsageError, match="^--region-map grafiqs: .*BatchNorm"):
        pfl.explain_folder(
            "mobilefacenet", [faces_dir], tmp_path / "g", map_method="plq", region_map="grafiqs"
        )
    assert not (tmp_path / "g").exists()
    with pytest.raises(pfl.UsageError, match="unknown model"):
        pfl.quality_table("no_such_net", [faces_dir], tmp_path / "q.csv")
    assert not (tmp_path / "q.csv").exists()


def test_calibration_needs_five_faces(tmp_path, faces_dir, sface):
    mapping, run = pfl.calibrate_quality_100(
        sface, faces_dir, tmp_path / "q100.json", aligned=True, passes=4
    )
    assert mapping is None and len(run.rows) == 2 and not (tmp_path / "q100.json").exists()
