"""Is this machine ready for the course? Imports, both networks, one map, a Jupyter kernel.

``python -m pixelfiq_lib.setup_check`` (or ``make check``) prints one plain-language line per
check, ``PASS`` or ``FAIL`` with what to do, and a verdict; it exits 0 when every check passed,
1 otherwise. It needs no internet and takes well under two minutes on a laptop CPU (the
first run converts the networks into the model cache, later runs load them from it).

Only the standard library is imported at the top: on a machine where the install failed,
the check still runs and says what is missing.

Used by: ``make check``, ``pixelfiq check``; explained in docs/install.md and docs/workshop.md
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: What the course imports: module -> the pip package that provides it.
COURSE_MODULES: dict[str, str] = {
    "torch": "torch",
    "torchvision": "torchvision",
    "numpy": "numpy",
    "onnx": "onnx",
    "onnx2torch": "onnx2torch",
    "onnxruntime": "onnxruntime",
    "cv2": "opencv-python",
    "insightface": "insightface",
    "skimage": "scikit-image",
    "matplotlib": "matplotlib",
    "seaborn": "seaborn",
    "PIL": "pillow",
    "tqdm": "tqdm",
    "captum": "captum",
    "pytorch_grad_cam": "grad-cam",
    "scipy": "scipy",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "jupyterlab": "jupyterlab",
    "ipywidgets": "ipywidgets",
    "ipykernel": "ipykernel",
    "nbconvert": "nbconvert",
}
#: The oldest Python the course runs on (pyproject.toml's requires-python).
MIN_PYTHON = (3, 10)
TORCH_FIX = "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu"
INSTALL_FIX = "install the course: pip install -e '.[notebooks]' (docs/install.md)"
KERNEL_CODE = "import pixelfiq_lib, ipywidgets, torch; print(pixelfiq_lib.__file__)"


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``ok``, what was found (``detail``) and, when it failed, ``fix``."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        """``PASS  name: detail (1.2 s)``, or ``FAIL  name: detail`` and the fix below it."""
        text = f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail} ({self.seconds:.1f} s)"
        return text if self.ok or not self.fix else f"{text}\n      fix: {self.fix}"


def check_imports(modules: dict[str, str] | None = None) -> Check:
    """Every module the course imports can be imported here."""
    modules = COURSE_MODULES if modules is None else modules
    if sys.version_info[:2] < MIN_PYTHON:
        found = sys.version.split()[0]
        return Check("imports", False, f"Python {found} is too old", "use Python 3.10 or newer")
    missing, broken, versions = [], [], {}
    for module, package in modules.items():
        try:
            versions[module] = getattr(importlib.import_module(module), "__version__", "?")
        except ModuleNotFoundError as exc:
            if exc.name != module.split(".")[0]:  # installed, but a module it needs is not
                broken.append(f"{package} (needs {exc.name})")
            else:
                missing.append(package)
        except Exception as exc:  # an install can break a module in many ways
            broken.append(f"{package} ({type(exc).__name__}: {str(exc)[:80]})")
    if missing or broken:
        detail = "; ".join(
            part
            for part in (
                f"not installed: {', '.join(missing)}" if missing else "",
                f"installed but broken: {'; '.join(broken)}" if broken else "",
            )
            if part
        )
        fix = (
            TORCH_FIX + ", then " + INSTALL_FIX
            if {"torch", "torchvision"} & set(missing)
            else INSTALL_FIX
        )
        return Check("imports", False, detail, fix)
    torch_v = versions.get("torch", "?")
    build = "CUDA build" if "torch" in versions and _torch_has_cuda_build() else "CPU build"
    detail = f"{len(modules)} course modules; torch {torch_v} ({build})"
    return Check("imports", True, detail)


def _torch_has_cuda_build() -> bool:
    import torch

    return torch.version.cuda is not None


def check_network(name: str) -> Check:
    """The shipped network ``name`` loads on the CPU and embeds a face."""
    from .errors import ModelError

    try:
        import torch

        from .models import load_model

        model = load_model(name, device="cpu")
        with torch.no_grad():
            emb = model(torch.full((1, 3, *model.input_size), 127.0))
        if not bool(torch.isfinite(emb).all()):
            raise ModelError(f"{name} gives a non-finite embedding")
    except ModelError as exc:
        from .models.registry import MODELS

        hint = getattr(MODELS.get(name), "fetch_hint", "")
        fix = f"run `{hint}` once, with internet" if hint else INSTALL_FIX
        return Check(f"network {name}", False, str(exc).split("\n")[0][:200], fix)
    except Exception as exc:
        return Check(f"network {name}", False, f"{type(exc).__name__}: {exc}"[:200], INSTALL_FIX)
    return Check(f"network {name}", True, f"loads, {emb.shape[1]}-d embedding")


def check_map(n_passes: int = 100) -> Check:
    """One PLQ map of a shipped face with SFace on the CPU, finite and in [0, 1)."""
    try:
        import torch

        from . import pixel_quality_map, sample_faces, to_tensor
        from .models import load_model

        face = to_tensor(sample_faces(1))
        res = pixel_quality_map(load_model("sface", device="cpu"), face, n_passes=n_passes, seed=0)
        plq, q = res.plq, float(res.quality.q[0])
        if not (bool(torch.isfinite(plq).all()) and 0 <= float(plq.min()) <= float(plq.max()) < 1):
            return Check("one map", False, "the map is not finite or leaves [0, 1)", INSTALL_FIX)
    except Exception as exc:
        return Check("one map", False, f"{type(exc).__name__}: {exc}"[:200], INSTALL_FIX)
    return Check("one map", True, f"SFace, T = {n_passes}, one face: Q̂ = {q:.3f}")


def check_kernel(timeout: float = 60.0, kernel: str = "python3") -> Check:
    """A Jupyter kernel starts and imports pixelfiq_lib and ipywidgets (what the notebooks do)."""
    import subprocess
    import tempfile

    try:
        from jupyter_client.manager import start_new_kernel
    except Exception as exc:
        return Check("Jupyter kernel", False, f"no jupyter_client ({exc})", INSTALL_FIX)
    outputs: list[str] = []
    with tempfile.TemporaryFile() as log:  # the kernel's own messages, shown only on failure
        try:
            manager, client = start_new_kernel(
                kernel_name=kernel, startup_timeout=timeout, stdout=log, stderr=subprocess.STDOUT
            )
        except Exception as exc:
            fix = "python -m ipykernel install --user (then restart Jupyter)"
            return Check("Jupyter kernel", False, f"{kernel!r} does not start: {exc}"[:200], fix)
        try:
            reply = client.execute_interactive(
                KERNEL_CODE,
                timeout=timeout,
                output_hook=lambda msg: outputs.append(msg["content"].get("text", "")),
            )
            status = reply["content"]["status"]
        except Exception as exc:
            status, outputs = "error", [f"{type(exc).__name__}: {exc}"]
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    if status != "ok":
        detail = f"the kernel cannot import the course ({''.join(outputs)[:120] or status})"
        fix = f"start Jupyter from the environment where you installed the course ({sys.prefix})"
        return Check("Jupyter kernel", False, detail, fix)
    where = "".join(outputs).strip()
    return Check("Jupyter kernel", True, f"{kernel!r} starts and imports pixelfiq_lib ({where})")


def run_checks(checks: Iterable[Callable[[], Check]], echo=print) -> list[Check]:
    """Run ``checks`` in order, timing each; ``echo`` gets each line as soon as it is known."""
    results = []
    for check in checks:
        start = time.perf_counter()
        result = check()
        result = Check(
            result.name, result.ok, result.detail, result.fix, time.perf_counter() - start
        )
        results.append(result)
        if echo:
            echo(result.line())
    return results


def check_setup(echo=print, *, n_passes: int = 100, kernel: str = "python3") -> list[Check]:
    """Every readiness check: imports, SFace, MobileFaceNet, one map, a Jupyter kernel.

    Later checks are skipped (not run, reported as failed) when the imports fail: nothing
    else can work then. Returns the checks; ``all(c.ok for c in ...)`` means ready.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    first = run_checks([check_imports], echo)
    if not first[0].ok:
        skipped = Check("other checks", False, "not run: the imports failed")
        if echo:
            echo(skipped.line())
        return first + [skipped]
    return first + run_checks(
        [
            lambda: check_network("sface"),
            lambda: check_network("mobilefacenet"),
            lambda: check_map(n_passes),
            lambda: check_kernel(kernel=kernel),
        ],
        echo,
    )


def verdict(checks: list[Check], seconds: float) -> str:
    """The closing line: READY, or NOT READY with the number of failed checks."""
    failed = [c for c in checks if not c.ok]
    if not failed:
        return f"READY: this machine can run the course (checked in {seconds:.0f} s)"
    names = ", ".join(c.name for c in failed)
    return f"NOT READY: {len(failed)} check(s) failed ({names}); see the fix lines above"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pixelfiq_lib.setup_check",
        description="Say whether this machine is ready for the pixelfiq course.",
    )
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel to try (python3)")
    args = parser.parse_args(argv)
    print(f"pixelfiq course check: Python {sys.version.split()[0]} at {sys.executable}")
    start = time.perf_counter()
    checks = check_setup(kernel=args.kernel)
    print(verdict(checks, time.perf_counter() - start))
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
