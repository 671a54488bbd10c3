"""Markdown summaries of the map sections: every value lands in its method's row and its
occluder's column, missing cells are marked, and the run's seed and machine are stated."""

from __future__ import annotations

from pixelfiq_lib.evaluation import summary


def _rec(method, occluder, size, metric, mean, model="sface", n=20):
    return {
        "map_method": method,
        "model": model,
        "occluder": occluder,
        "size": size,
        "metric": metric,
        "mean": mean,
        "ci_low": mean - 0.05,
        "ci_high": mean + 0.05,
        "n": n,
    }


def _cells(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]


LOC = [
    _rec(None, "black", 40, "delta_q", -0.3),
    _rec(None, "sunglasses", 0, "delta_q", -0.2),
    _rec("plq", "black", 40, "loc_auroc", 0.6),
    _rec("plq", "sunglasses", 0, "loc_auroc", 0.43),
    _rec("counterfactual", "black", 40, "loc_auroc", 0.87),
    _rec("plq", "black", 40, "pointing", 0.25),
    _rec("plq", "black", 40, "loc_auroc", 0.99, model="mobilefacenet"),
]


def test_localisation_table_puts_each_value_in_its_row_and_column():
    rows = _cells(summary.localisation_table(LOC, "sface"))
    assert rows[0] == ["method", "black 40", "sunglasses"]
    assert rows[2] == ["Q̂ change (n 20)", "-0.300 [-0.35, -0.25]", "-0.200 [-0.25, -0.15]"]
    assert rows[3] == ["plq", "0.600 [0.55, 0.65]", "0.430 [0.38, 0.48]"]
    assert rows[4] == ["counterfactual", "0.870 [0.82, 0.92]", "–"], "missing cell marked"
    pointing = _cells(summary.localisation_table(LOC, "sface", "pointing"))
    assert pointing[3][1] == "0.250 [0.20, 0.30]"
    assert "0.990" not in summary.localisation_table(LOC, "sface"), "other networks left out"
    assert "no localisation records" in summary.localisation_table(LOC, "arcface")


def test_deletion_cost_and_verdict_tables():
    faith = [
        {**_rec("plq", None, 0, "deletion_auc_low_first_quality", 0.41), "n": 40},
        {**_rec("plq", None, 0, "deletion_auc_high_first_quality", 0.10), "n": 40},
        {**_rec("plq", None, 0, "insertion_auc_quality", 0.57), "n": 40},
        {**_rec("plq", None, 0, "insertion_auc_cosine", 0.9), "n": 40},
    ]
    rows = _cells(summary.deletion_table(faith, "sface"))
    assert rows[0][1] == "deletion low-first ↑ (n 40)"
    assert rows[2] == ["plq", "0.410 [0.36, 0.46]", "0.100 [0.05, 0.15]", "0.570 [0.52, 0.62]"]
    costs = [
        {"map_method": "plq", "model": m, "seconds_per_face": s, "fwd_bwd_equivalents": e}
        for m, s, e in (("sface", 0.04, 1.9), ("mobilefacenet", 0.015, 1.2))
    ]
    rows = _cells(summary.cost_table(costs))
    assert rows[0][1:] == [
        "sface s/face",
        "mobilefacenet s/face",
        "sface fwd+bwd",
        "mobilefacenet fwd+bwd",
    ]
    assert rows[2] == ["plq", "0.040", "0.015", "1.9", "1.2"]
    verdicts = [
        {"map_method": "plq", "model": "sface", "occluder": "eye_square", "accuracy": 0.9, "n": 20},
        {"map_method": "cf", "model": "sface", "occluder": "sunglasses", "accuracy": 0.85, "n": 20},
        {"map_method": "cf", "model": "sface", "occluder": "mouth_square", "accuracy": 0.75}
        | {"ci_low": 0.55, "ci_high": 0.9, "n": 20},
    ]
    rows = _cells(summary.verdict_table(verdicts))
    assert rows[0] == [
        "method",
        "sface eye_square (n 20)",
        "sface sunglasses (n 20)",
        "sface mouth_square (n 20)",
    ]
    assert rows[2:] == [["plq", "0.90", "–", "–"], ["cf", "–", "0.85", "0.75 [0.55, 0.90]"]]


def test_maps_summary_states_seed_machine_and_every_network():
    results = {
        "meta": {
            "models": ["sface", "mobilefacenet"],
            "seed": 7,
            "passes": 100,
            "data_dir": "/d/bbt",
            "machine": {"cpu": "AMD EPYC", "cpu_count": 2, "versions": {"torch": "2.14.1"}},
        },
        "localisation": LOC,
        "faithfulness": [],
        "map_costs": [],
        "region_verdicts": [],
    }
    text = summary.maps_summary(results)
    assert "seed 7" in text and "AMD EPYC" in text and "torch 2.14.1" in text
    assert "## sface: loc_auroc" in text and "## mobilefacenet: loc_auroc" in text
    assert "no faithfulness records for sface" in text and "(no map costs)" in text
