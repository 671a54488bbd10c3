"""The committed evaluation run is read back exactly as benchmarks/RESULTS.md quotes it."""

from __future__ import annotations

import json

import pytest

from pixelfiq_lib.errors import PixelfiqError
from pixelfiq_lib.evaluation import committed


@pytest.fixture(scope="module")
def run() -> dict:
    return committed.load_run()


def test_the_committed_run_is_the_full_one(run):
    meta = run["meta"]
    assert meta["fast"] is False and meta["passes"] == 100 and meta["n_images"] == 40
    assert meta["models"] == ["sface", "mobilefacenet"]
    path = committed.runs_dir() / committed.COMMITTED_RUN / "results.json"
    assert run == json.loads(path.read_text(encoding="utf-8"))


def test_records_are_filtered_by_their_fields(run):
    rows = committed.run_records(run, "localisation", model="sface", metric="loc_auroc")
    assert rows and all(r["model"] == "sface" and r["metric"] == "loc_auroc" for r in rows)
    value = committed.run_value(
        run, "localisation", model="sface", metric="loc_auroc", map_method="plq",
        occluder="sunglasses", size=0,
    )  # fmt: skip
    assert value == pytest.approx(0.429, abs=5e-4), "RESULTS.md: plq on sunglasses 0.429"
    with pytest.raises(PixelfiqError, match="expected exactly one"):
        committed.run_value(run, "localisation", model="sface", metric="loc_auroc")
    with pytest.raises(PixelfiqError, match="no record list"):
        committed.run_records(run, "meta")


def test_faithfulness_aucs_hold_every_method_and_three_curves(run):
    aucs = committed.faithfulness_aucs(run, "sface", track="quality")
    assert len(aucs) == 14 and set(aucs) >= {"plq", "counterfactual", "occlusion", "random"}
    low, high, ins = aucs["plq"]
    assert low[0] == pytest.approx(0.415, abs=5e-4) and low[1] < low[0] < low[2]
    assert high[0] == pytest.approx(0.102, abs=5e-4) and ins[0] == pytest.approx(0.561, abs=5e-4)
    assert committed.faithfulness_aucs(run, "nonsense") == {}


def test_an_unknown_run_lists_the_known_ones():
    with pytest.raises(PixelfiqError, match=committed.COMMITTED_RUN):
        committed.load_run("no-such-run")
