"""Issue 14.5: every numeric option of the command line refuses bad numbers up front
(exit 2, before anything is written), and random numbers and strings never give a
traceback: only exit 0, 1 or 2."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelfiq_lib.cli.main import PLUGINS, _load_plugin, build_parser, main

#: Numeric (and device) options of explain/quality, and of the plugins.
RUN_OPTIONS = ["--passes", "--seed", "--batch-size", "--min-face-size", "--shard", "--device"]
PLUGIN_OPTIONS = {
    "bench": [
        "--batches",
        "--passes",
        "--repeats",
        "--chunk-size",
        "--few",
        "--few-repeats",
        "--threads",
    ],
    "evaluate": [
        "--seed",
        "--passes",
        "--copies",
        "--max-pairs",
        "--paper-faces",
        "--faith-faces",
        "--faith-steps",
    ],
}
NUMBERS = st.one_of(
    st.integers(-(2**80), 2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=12),
    st.sampled_from(["", " ", "1e3", "0x10", "2/0", "0/0", "-", "nan", "mps", "cuda:9"]),
)


@pytest.fixture(autouse=True)
def _restore_logging():
    """``main`` sets up logging on the (captured) stderr: undo it for the next tests."""
    root = logging.getLogger()
    saved = (root.level, root.handlers[:])
    yield
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])
    logging.captureWarnings(False)


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pixelfiq_lib.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def not_an_image(tmp_path_factory) -> Path:
    """An input that is read without loading a network: its row is ``unreadable``."""
    path = tmp_path_factory.mktemp("in") / "x.jpg"
    path.write_text("not an image")
    return path


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(option=st.sampled_from(RUN_OPTIONS), value=NUMBERS)
def test_run_options_never_give_a_traceback(
    option, value, not_an_image, tmp_path_factory, capsys
) -> None:
    out = tmp_path_factory.mktemp("out") / "r.csv"
    code = main(["quality", str(not_an_image), "--out", str(out), "--quiet", option, value])
    err = capsys.readouterr().err
    assert code in (0, 1, 2), err
    assert "Traceback" not in err and "run with --debug" not in err, err


@settings(max_examples=60, deadline=None)
@given(
    command=st.sampled_from(sorted(PLUGIN_OPTIONS)),
    index=st.integers(0, 6),
    value=NUMBERS,
)
def test_plugin_options_parse_or_exit_2(command, index, value) -> None:
    option = PLUGIN_OPTIONS[command][index]
    parser = build_parser(_load_plugin(command), command)
    required = ["--out", "o"] + (["--data", "d"] if command == "evaluate" else [])
    try:
        parser.parse_args([command, *required, option, value])
    except SystemExit as exc:
        assert exc.code == 2
    assert set(PLUGIN_OPTIONS) == set(PLUGINS)


@pytest.mark.parametrize(
    "option",
    [
        ["--seed", str(2**70)],
        ["--seed", "-1"],
        ["--passes", "99999999999999999999"],
        ["--passes", "40000"],
        ["--passes", "1"],
        ["--batch-size", "0"],
        ["--device", "mps"],
        ["--device", "meta"],
        ["--device", "nosuch"],
    ],
    ids=" ".join,
)
def test_bad_numbers_exit_2_before_writing(option, not_an_image, tmp_path) -> None:
    out = tmp_path / "out"
    proc = _cli(["explain", str(not_an_image), "--out", str(out), *option], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
