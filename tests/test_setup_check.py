"""The course's readiness check (``python -m pixelfiq_lib.setup_check``, ``make check``).

Each check must pass on a working install and fail, with a fix a learner can act on, on the
breakages a workshop meets: a package missing, MobileFaceNet never fetched, no kernel.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pixelfiq_lib import setup_check
from pixelfiq_lib.models import registry
from tools import REPO_ROOT


def test_imports_pass_here_and_name_the_missing_package_with_the_fix():
    ok = setup_check.check_imports()
    assert ok.ok, ok.line()
    assert "torch" in ok.detail and "build" in ok.detail
    broken = setup_check.check_imports({"numpy": "numpy", "no_such_module_pf": "no-such-package"})
    assert not broken.ok
    assert broken.detail == "not installed: no-such-package"
    assert (
        "pip install -e '.[notebooks]'" in broken.fix and "download.pytorch.org" not in broken.fix
    )
    assert broken.line().startswith("FAIL  imports") and "fix:" in broken.line()


def test_missing_torch_points_to_the_cpu_wheels_first(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torchvision(name, *args, **kwargs):
        if name == "torchvision":
            raise ModuleNotFoundError("No module named 'torchvision'", name="torchvision")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchvision)
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    check = setup_check.check_imports({"torch": "torch", "torchvision": "torchvision"})
    assert not check.ok and check.detail == "not installed: torchvision"
    assert check.fix.startswith(setup_check.TORCH_FIX) and "'.[notebooks]'" in check.fix


def test_failed_imports_stop_the_other_checks(monkeypatch):
    monkeypatch.setattr(setup_check, "COURSE_MODULES", {"no_such_module_pf": "no-such-package"})
    lines: list[str] = []
    checks = setup_check.check_setup(echo=lines.append)
    assert [c.ok for c in checks] == [False, False]
    assert "not run" in checks[1].detail
    assert len(lines) == 2 and all(line.startswith("FAIL") for line in lines)
    assert setup_check.verdict(checks, 1.0).startswith("NOT READY: 2 check(s) failed")


def test_an_unfetched_network_fails_with_the_command_that_fetches_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PIXELFIQ_HOME", str(tmp_path))  # an empty model cache
    monkeypatch.setattr(registry, "_LOADED", {})  # nothing loaded earlier in this process
    check = setup_check.check_network("mobilefacenet")
    assert not check.ok
    assert "not fetched" in check.detail
    assert "pixelfiq models fetch mobilefacenet" in check.fix


def test_a_network_that_loads_passes_with_its_embedding_size():
    check = setup_check.check_network("sface")
    assert check.ok, check.line()
    assert "128-d" in check.detail


def test_one_map_is_computed_and_reported(monkeypatch):
    check = setup_check.check_map(n_passes=8)
    assert check.ok, check.line()
    assert "T = 8" in check.detail and "Q̂ = 0." in check.detail


def test_a_kernel_that_does_not_exist_fails_with_a_fix():
    check = setup_check.check_kernel(timeout=20, kernel="no-such-kernel-pf")
    assert not check.ok and "does not start" in check.detail
    assert "ipykernel install" in check.fix


def test_pixelfiq_check_prints_the_failures_and_exits_1(monkeypatch, capsys):
    from pixelfiq_lib import cli

    monkeypatch.setattr(setup_check, "COURSE_MODULES", {"no_such_module_pf": "no-such-package"})
    assert cli.main(["check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  imports: not installed: no-such-package" in out
    assert "fix: install the course" in out
    assert out.strip().splitlines()[-1].startswith("NOT READY")


@pytest.mark.slow
def test_the_command_says_ready_on_this_machine():
    """The whole check, as a learner runs it: every line PASS, READY, exit 0."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "pixelfiq_lib.setup_check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in proc.stdout.splitlines() if line[:4] in ("PASS", "FAIL")]
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    names = [line.split(":")[0][6:] for line in lines]
    assert names == [
        "imports",
        "network sface",
        "network mobilefacenet",
        "one map",
        "Jupyter kernel",
    ], proc.stdout
    assert all(line.startswith("PASS") for line in lines)
    assert proc.stdout.strip().splitlines()[-1].startswith("READY")
    assert str(REPO_ROOT) in proc.stdout, "the kernel imports this clone's pixelfiq_lib"
