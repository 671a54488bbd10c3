"""The localisation stage of ``pixelfiq evaluate``: method selection, colour faces, tables."""

from __future__ import annotations

import pytest

from pixelfiq_lib.core import maps as core_maps
from pixelfiq_lib.errors import InvalidArgumentError
from pixelfiq_lib.evaluation import localisation_stage as stage
from pixelfiq_lib.evaluation import summary
from pixelfiq_lib.evaluation.settings import evaluation_config


def test_loc_methods_resolve_recommended_and_refuse_unknown_names():
    assert stage.parse_loc_methods(None) is None
    assert stage.parse_loc_methods(" , ") is None
    got = stage.parse_loc_methods("plq, recommended,plq")
    assert got == ["plq", core_maps.RECOMMENDED_MAP]
    with pytest.raises(InvalidArgumentError, match="unknown map method"):
        stage.parse_loc_methods("plq,bestmap")


def test_evaluation_config_names_a_bad_loc_method_by_its_option():
    assert evaluation_config(loc_methods="flatness,plq")["loc_methods"] == ["flatness", "plq"]
    assert evaluation_config()["loc_methods"] is None
    with pytest.raises(InvalidArgumentError, match="--loc-methods"):
        evaluation_config(loc_methods="nope")


def test_colour_faces_are_the_installed_sample_faces():
    faces = stage.colour_faces()
    assert len(faces) == 7 and all(f.shape == (112, 112, 3) for f in faces)


def test_summary_states_what_each_map_was_tuned_on_and_the_colour_tables():
    rec = dict(model="sface", occluder="black", size=40, metric="loc_auroc", n=7)
    results = {
        "meta": {
            "models": ["sface"],
            "colour_faces": "7 insightface sample faces",
            "map_tuned_on": {"plq": "", "counterfactual_gradient": "black squares"},
            "quality_stability": {"sface": {"note": "sface: quality is stable enough"}},
        },
        "localisation": [],
        "localisation_colour": [
            {**rec, "map_method": "plq", "mean": 0.61, "ci_low": 0.5, "ci_high": 0.7}
        ],
    }
    text = summary.maps_summary(results)
    assert "sface: loc_auroc on the colour faces" in text and "0.610 [0.50, 0.70]" in text
    assert "| plq | none (fixed defaults) |" in text
    assert "Quality stability: sface: quality is stable enough." in text
    assert "| counterfactual_gradient | black squares |" in text
    spec = core_maps.map_spec("counterfactual_gradient")
    assert "sunglasses" in spec.tuned_on and core_maps.map_spec("flatness").tuned_on == ""


def test_a_network_whose_maps_cannot_be_judged_is_not_localised(monkeypatch):
    """MobileFaceNet's packaged stability says no T <= 1000 makes Q-hat stable enough:
    the stage records why and measures nothing, unless asked to."""
    from pixelfiq_lib.core import packaged_stability

    check = packaged_stability("mobilefacenet")
    assert check is not None and not check.judgeable
    called = []

    def benchmark(*args, **kwargs):
        called.append(1)
        return {"records": [], "costs": [], "verdicts": []}

    monkeypatch.setattr(stage, "localisation_benchmark", benchmark)
    monkeypatch.setattr(stage, "localisation_faces", lambda *a: ([object()] * 2, ["raj"] * 2))
    model = type("M", (), {"name": "mobilefacenet"})()
    cfg = {"loc_faces": 2, "seed": 0, "fast": True, "loc_sizes": [40], "passes": 4}
    sections = {"localisation": [], "map_costs": [], "region_verdicts": []}
    results = {"meta": {"models": ["mobilefacenet"], "timings_s": {"mobilefacenet": {}}}}
    stage.evaluate_localisation(model, None, cfg, results | sections)
    skipped = results["meta"]["localisation_skipped"]["mobilefacenet"]
    assert not called and "cannot be judged" in skipped
    assert results["meta"]["quality_stability"]["mobilefacenet"]["judgeable"] is False
    assert "Its localisation was not run" in summary.maps_summary(results | sections)
    stage.evaluate_localisation(model, None, cfg | {"loc_unstable": True}, results | sections)
    assert called, "asked to, it runs the benchmark"
