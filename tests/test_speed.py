"""The benchmark: the naive official-style path agrees with the fast one; the report's shape.

No timing is asserted here: the performance targets and numbers live in
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from helpers.models import make_tiny_model

from pixelfiq_lib import speed as bench
from pixelfiq_lib.cli.commands import bench as bench_command
from pixelfiq_lib.core.backprop import pixel_quality_map
from pixelfiq_lib.core.maps import RECOMMENDED_MAP, list_map_methods
from pixelfiq_lib.errors import InvalidArgumentError
from pixelfiq_lib.evaluation import reference
from pixelfiq_lib.speed_maps import map_rows_wanted


def test_naive_and_fast_paths_agree_on_sface(sface, real_faces, threads):
    """Same masks -> same Q̂; one backward per chunk -> the same maps as one per image."""
    x = real_faces[:3]
    fast = pixel_quality_map(sface, x, n_passes=8, seed=5)
    naive = reference.naive_pixel_quality_map(sface, x, n_passes=8, seed=5)
    torch.testing.assert_close(naive.quality.q, fast.quality.q, rtol=0, atol=1e-5)
    torch.testing.assert_close(naive.quality.q_raw, fast.quality.q_raw, rtol=0, atol=1e-6)
    # Maps in [0, 1] and gradients relative to their largest element: the two paths
    # batch the body differently, so they agree to float32 rounding through the network
    # (see test_backprop.test_batch_maps_equal_per_image_maps_on_sface).
    torch.testing.assert_close(naive.plq, fast.plq, rtol=0, atol=1e-4)
    torch.testing.assert_close(
        naive.grads, fast.grads, rtol=0, atol=1e-4 * float(fast.grads.abs().max())
    )


def test_naive_path_is_exact_in_float64():
    model = make_tiny_model(torch.float64, size=16)
    x = torch.rand(3, 3, 16, 16, dtype=torch.float64) * 255
    fast = pixel_quality_map(model, x, n_passes=6, seed=1, a="paper")
    naive = reference.naive_pixel_quality_map(model, x, n_passes=6, seed=1, a="paper")
    torch.testing.assert_close(naive.quality.q, fast.quality.q, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(naive.grads, fast.grads, rtol=1e-8, atol=1e-14)
    torch.testing.assert_close(naive.node_scale, fast.node_scale)


def test_naive_path_with_a_different_seed_changes_the_quality(sface, real_faces):
    x = real_faces[:1]
    q0 = reference.naive_pixel_quality_map(sface, x, n_passes=8, seed=0).quality
    q1 = reference.naive_pixel_quality_map(sface, x, n_passes=8, seed=1).quality
    assert q0.seed == 0 and q1.seed == 1
    assert not torch.equal(q0.mean_distance, q1.mean_distance)


def test_fill_batch_repeats_the_faces_cyclically():
    faces = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 3, 2, 2)
    out = bench.fill_batch(faces, 7)
    assert out.shape == (7, 3, 2, 2)
    assert out[:, 0, 0, 0].tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_ratios_are_time_per_image_over_the_floor():
    rows = [
        dict(
            model="m",
            device="cpu",
            batch=8,
            method=m,
            images_per_s=v,
            ratio_to_floor=None,
            peak_mem_mb=1.0,
        )
        for m, v in (("forward_backward", 10.0), ("plq", 8.0), ("forward", 40.0))
    ]
    ratios = {r["method"]: r["ratio_to_floor"] for r in bench.add_ratios(rows)}
    assert ratios == pytest.approx({"forward_backward": 1.0, "plq": 1.25, "forward": 0.25})


def test_peak_memory_sees_a_torch_allocation():
    peak = bench.peak_memory_mb(lambda: torch.ones(64 * 2**20 // 4).add_(1), torch.device("cpu"))
    if peak is None:
        pytest.skip("peak resident memory cannot be reset on this system")
    assert 48 <= peak <= 256


def test_every_method_runs_on_a_tiny_model():
    model = make_tiny_model(torch.float32, size=16)
    faces = torch.rand(2, 3, 16, 16) * 255
    s = bench.BenchSettings(
        n_passes=4, repeats=1, ig_steps=3, occlusion_window=8, occlusion_stride=8
    )
    methods = [m for m in bench.METHODS if m not in bench.CLI_METHODS]  # those need 112 px
    said = []
    rows = bench.bench_model(model, faces, [1, 3], methods, s, log=said.append)
    # the tiny net's 2 BatchNorm layers make no GraFIQs block2: left out, with a line
    assert any("fiqa_grafiqs: left out" in line for line in said)
    methods.remove("fiqa_grafiqs")
    assert [(r["batch"], r["method"]) for r in rows] == [(b, m) for b in (1, 3) for m in methods]
    assert all(r["images_per_s"] > 0 and r["ratio_to_floor"] > 0 for r in rows)
    per_image = [r for r in rows if r["method"] == "naive_plq"]
    assert per_image[0]["images_per_s"] == per_image[1]["images_per_s"]


def test_cli_writes_the_report(tmp_path, monkeypatch):
    model = make_tiny_model(torch.float32, size=112)
    monkeypatch.setattr(bench, "load_model", lambda name, device=None: model)
    sub = argparse.ArgumentParser().add_subparsers()
    bench_command.add_parser(sub)
    parser = sub.choices["bench"]
    out = tmp_path / "bench.json"
    args = parser.parse_args(
        [
            "--out",
            str(out),
            "--models",
            "tiny",
            "--batches",
            "2",
            "--passes",
            "4",
            "--repeats",
            "1",
            "--device",
            "cpu",
            "--methods",
            "forward",
            "forward_backward",
            "plq",
            "quality",
            "cli_explain",
            "cli_quality",
            "--maps",
            "plq",
        ]
    )
    assert bench_command.run(args) == 0
    report = json.loads(out.read_text())
    assert set(report["machine"]) >= {
        "cpu",
        "gpu",
        "torch_threads",
        "versions",
        "date",
        "load_average",
    }
    methods = ["forward", "forward_backward", "plq", "quality", "cli_explain", "cli_quality"]
    assert [r["method"] for r in report["results"]] == [*methods, "map:plq"]
    ratios = {r["method"]: r["ratio_to_kernel"] for r in report["results"]}
    assert ratios["plq"] is None and ratios["cli_explain"] > 0 and ratios["cli_quality"] > 0
    assert set(report["results"][0]) == {
        "model",
        "device",
        "batch",
        "method",
        "images_per_s",
        "ratio_to_floor",
        "ratio_to_kernel",
        "peak_mem_mb",
    }


def test_interleaved_timing_calls_each_function_once_per_round_after_a_warm_up():
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in ("a", "b")}
    times = bench.time_interleaved(fns, torch.device("cpu"), repeats=3)
    assert calls == ["a", "b"] + ["a", "b"] * 3
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())


def test_map_rows_are_forward_backward_equivalents_beside_their_own_floor(sface, real_faces):
    from pixelfiq_lib import speed_maps

    s = bench.BenchSettings(n_passes=4, few_repeats=1)
    rows = speed_maps.bench_maps(
        sface,
        real_faces[:2],
        ["plq", "flatness"],
        s,
        log=lambda m: None,
        floor=bench.run_forward_backward,
        timer=bench.time_interleaved,
        fill=bench.fill_batch,
    )
    assert [r["method"] for r in rows] == ["map:plq", "map:flatness"]
    assert all(r["batch"] == speed_maps.MAP_BATCH for r in rows)
    by = {r["method"]: r["ratio_to_floor"] for r in rows}
    assert by["map:flatness"] < by["map:plq"], "a model-free control costs less than a backward"
    assert bench.add_ratios(rows)[0]["ratio_to_floor"] == by["map:plq"], "not overwritten"


def test_map_rows_wanted_all_none_or_checked_names():
    assert map_rows_wanted(["all"]) == list_map_methods()
    assert map_rows_wanted(["none"]) == []
    assert map_rows_wanted(["recommended"]) == [RECOMMENDED_MAP]
    with pytest.raises(InvalidArgumentError):
        map_rows_wanted(["nope"])
