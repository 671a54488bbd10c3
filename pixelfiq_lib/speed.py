"""Speed and memory of the PLQ map against its floor, the naive loop and Captum.

``pixelfiq bench`` (and ``benchmarks/bench_plq.py``) time, for every installed network
and batch size, in one process and on the same real aligned faces:

* ``forward``: the embedding, no gradient;
* ``forward_backward``: **the floor**: forward and backward to the input of the sum of
  the embedding's components, in the same chunks as the PLQ path;
* ``quality``: SER-FIQ (:func:`~pixelfiq_lib.core.quality.serfiq_quality`, T passes);
* ``plq``: the full map (:func:`~pixelfiq_lib.core.backprop.pixel_quality_map`);
* ``naive_plq``: :func:`naive_pixel_quality_map`, the official code's way;
* ``captum_ig``: Captum ``IntegratedGradients`` on the cosine to the unmodified embedding;
* ``captum_occlusion``: Captum ``Occlusion`` on the same target;
* ``fiqa_grafiqs``, ``fiqa_faceqan`` (the paper's budget), ``fiqa_embedding_norm``: the
  quality methods of :mod:`~pixelfiq_lib.fiqa` (SER-FIQ is ``quality``); their
  ``ratio_to_floor`` is their cost in forward + backward passes per face. A method that
  does not apply to a network (GraFIQs on MobileFaceNet) is left out for it, with a line;
* ``cli_quality``, ``cli_explain``, ``cli_explain_nofig``: the whole ``pixelfiq quality``
  / ``explain --aligned`` (``--figures png`` / ``none``) pipeline (decoding thread, batches
  of the device's chunk size, CSV, maps, figures) on a folder holding the batch's faces as
  PNG files, with the already loaded network; ``ratio_to_kernel`` is their images/s over
  that of ``quality`` / ``plq`` at the same batch (higher is better, 1 = no overhead).

The last three treat one image at a time, so their cost per image does not depend on
the batch: they are measured once per network on ``few`` images and that rate is
reported for every batch size. Peak memory is the rise of the process's peak resident
set (CPU: ``VmHWM`` reset through ``/proc/self/clear_refs`` after returning freed heap
to the system) or of ``torch.cuda.max_memory_allocated`` (CUDA) over one call.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .core.backprop import pixel_quality_map
from .core.baselines import similarity_forward
from .core.batching import chunk_size as chunk_size_for
from .core.quality import (
    serfiq_quality,
)
from .evaluation.reference import naive_pixel_quality_map
from .evaluation.runinfo import peak_memory_mb, run_metadata, timed
from .fiqa import face_quality, not_applicable
from .models import FRModel, list_models, load_model

METHODS = (
    "forward",
    "forward_backward",
    "quality",
    "plq",
    "naive_plq",
    "captum_ig",
    "captum_occlusion",
    "fiqa_grafiqs",
    "fiqa_faceqan",
    "fiqa_embedding_norm",
    "cli_quality",
    "cli_explain",
    "cli_explain_nofig",
)
FLOOR = "forward_backward"
#: The whole command on a folder of aligned faces -> the kernel it should run at.
CLI_METHODS = {"cli_quality": "quality", "cli_explain": "plq", "cli_explain_nofig": "plq"}
#: Methods that loop over images: measured on ``few`` images, rate reused for every batch.
PER_IMAGE_METHODS = ("naive_plq", "captum_ig", "captum_occlusion", "fiqa_grafiqs", "fiqa_faceqan")
#: Load average per CPU above which ``run_cli`` warns that timings will be distorted.
LOAD_WARNING = 0.75


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class BenchSettings:
    """What the benchmark runs.

    Attributes:
        n_passes: T of SER-FIQ (quality, plq, naive_plq).
        repeats: timed rounds (the median is kept), after one warm-up call of each
            method; the methods of one batch run in turn within each round.
        chunk_size: faces per forward(+backward) pass; ``None`` = the PLQ default
            (:func:`~pixelfiq_lib.core.batching.chunk_size`). Used by every method.
        few: images on which the per-image methods are measured.
        few_repeats: timed rounds for the per-image methods.
        ig_steps: Integrated Gradients steps.
        occlusion_window, occlusion_stride: Occlusion square window and stride (pixels;
            all 3 channels occluded together).
        baseline: pixel value (0..255) of the IG baseline and the occluding patch;
            127.5 is zero after the networks' input normalisation.
        seed: dropout-mask seed.
    """

    n_passes: int = 100
    repeats: int = 3
    chunk_size: int | None = None
    few: int = 1
    few_repeats: int = 1
    ig_steps: int = 50
    occlusion_window: int = 16
    occlusion_stride: int = 8
    baseline: float = 127.5
    seed: int = 0

    def chunk(self, x: torch.Tensor) -> int:
        """Faces per pass for the batch ``x``."""
        return chunk_size_for(x.device, self.chunk_size)


Runner = Callable[[FRModel, torch.Tensor, BenchSettings], object]


# ---------------------------------------------------------------------------- methods
def run_forward(model: FRModel, x: torch.Tensor, s: BenchSettings) -> None:
    """Embeddings of the batch, chunked, without autograd."""
    with torch.inference_mode():
        for chunk in x.split(s.chunk(x)):
            model(chunk)


def run_forward_backward(model: FRModel, x: torch.Tensor, s: BenchSettings) -> None:
    """The floor: gradient of the sum of embedding components w.r.t. the input, chunked."""
    for chunk in x.split(s.chunk(x)):
        xi = chunk.detach().clone().requires_grad_(True)
        torch.autograd.grad(model(xi).sum(), xi)


def run_quality(model: FRModel, x: torch.Tensor, s: BenchSettings) -> None:
    """SER-FIQ of the batch with T passes."""
    serfiq_quality(model, x, n_passes=s.n_passes, seed=s.seed)


def run_plq(model: FRModel, x: torch.Tensor, s: BenchSettings) -> None:
    """The fast PLQ map."""
    pixel_quality_map(
        model, x, n_passes=s.n_passes, seed=s.seed, chunk_size=s.chunk(x), on_degenerate="clamp"
    )


def run_naive(model: FRModel, x: torch.Tensor, s: BenchSettings) -> None:
    """The naive, official-style PLQ map."""
    naive_pixel_quality_map(model, x, n_passes=s.n_passes, seed=s.seed, on_degenerate="clamp")


def run_captum_ig(model: FRModel, x: torch.Tensor, s: BenchSettings) -> None:
    """Captum Integrated Gradients of the cosine to the unmodified embedding."""
    from captum.attr import IntegratedGradients

    with torch.inference_mode():
        ref = model(x).clone()
    IntegratedGradients(similarity_forward(model, "cosine")).attribute(
        x,
        baselines=s.baseline,
        additional_forward_args=(ref,),
        n_steps=s.ig_steps,
        internal_batch_size=s.chunk(x),
    )


def run_captum_occlusion(model: FRModel, x: torch.Tensor, s: BenchSettings) -> None:
    """Captum Occlusion (square patch over all channels) of the same cosine target."""
    from captum.attr import Occlusion

    w, st = s.occlusion_window, s.occlusion_stride
    with torch.inference_mode():
        ref = model(x).clone()
        Occlusion(similarity_forward(model, "cosine")).attribute(
            x,
            sliding_window_shapes=(3, w, w),
            strides=(3, st, st),
            baselines=s.baseline,
            additional_forward_args=(ref,),
            perturbations_per_eval=s.chunk(x),
        )


_FOLDERS: dict[tuple, Path] = {}


def _face_folder(x: torch.Tensor) -> Path:
    """A folder (kept until exit) holding the faces of ``x`` as PNG files, made once per batch."""
    import atexit
    import shutil
    import tempfile

    from PIL import Image

    from .data import to_image

    key = (x.data_ptr(), tuple(x.shape), str(x.device))
    if key not in _FOLDERS:
        folder = Path(tempfile.mkdtemp(prefix="pixelfiq-bench-"))
        atexit.register(shutil.rmtree, folder, True)
        for k, face in enumerate(x):
            Image.fromarray(to_image(face.detach().cpu())).save(folder / f"face{k:05d}.png")
        _FOLDERS[key] = folder
    return _FOLDERS[key]


def _cli_runner(maps: bool, figures: str = "png") -> Runner:
    def run(model: FRModel, x: torch.Tensor, s: BenchSettings) -> None:
        import tempfile

        from .batch import pipeline
        from .batch.inputs import expand_inputs

        items = expand_inputs([str(_face_folder(x))], aligned=True)
        with tempfile.TemporaryDirectory(prefix="pixelfiq-bench-out-") as tmp:
            opts = pipeline.BatchOptions(
                csv_path=Path(tmp) / "results.csv",
                maps_dir=Path(tmp) if maps else None,
                n_passes=s.n_passes,
                seed=s.seed,
                batch_size=s.chunk(x),
                model_name=model.name,
                figures=figures,
            )
            pipeline.run_batch(items, lambda: model, opts)

    return run


def _fiqa_runner(name: str) -> Runner:
    def run(model: FRModel, x: torch.Tensor, s: BenchSettings) -> None:
        face_quality(model, x, name, **({"seed": s.seed} if name == "faceqan" else {}))

    return run


RUNNERS: dict[str, Runner] = {
    "forward": run_forward,
    "forward_backward": run_forward_backward,
    "quality": run_quality,
    "plq": run_plq,
    "naive_plq": run_naive,
    "captum_ig": run_captum_ig,
    "captum_occlusion": run_captum_occlusion,
    **{f"fiqa_{m}": _fiqa_runner(m) for m in ("grafiqs", "faceqan", "embedding_norm")},
    "cli_quality": _cli_runner(maps=False),
    "cli_explain": _cli_runner(maps=True),
    "cli_explain_nofig": _cli_runner(maps=True, figures="none"),
}


# -------------------------------------------------------------------- time and memory
def time_interleaved(
    fns: dict[str, Callable[[], object]], device: torch.device, repeats: int
) -> dict[str, float]:
    """Median wall time (s) per function over ``repeats`` round-robin rounds.

    Every function is called once to warm up, then once per round in turn: a burst of
    load from other jobs then hits one round of every method (the median drops it)
    rather than every call of one method, and ratios compare calls made side by side.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, repeats)):
        for name, fn in fns.items():
            times[name].append(timed(fn, device=device)[1])
    return {name: statistics.median(t) for name, t in times.items()}


# ------------------------------------------------------------------------ measurement
def fill_batch(faces: torch.Tensor, batch: int) -> torch.Tensor:
    """Repeat ``faces`` (N, 3, H, W) cyclically to exactly ``batch`` images."""
    reps = math.ceil(batch / len(faces))
    return faces.repeat(reps, 1, 1, 1)[:batch].contiguous()


def measure(
    model: FRModel, x: torch.Tensor, methods: list[str], s: BenchSettings, repeats: int
) -> dict[str, tuple[float, float | None]]:
    """Images per second and peak memory (MiB) of each method on the batch ``x``."""
    fns = {m: (lambda m=m: RUNNERS[m](model, x, s)) for m in methods}
    seconds = time_interleaved(fns, x.device, repeats)
    return {m: (len(x) / seconds[m], peak_memory_mb(fns[m], x.device)) for m in methods}


def bench_model(
    model: FRModel,
    faces: torch.Tensor,
    batches: list[int],
    methods: list[str],
    s: BenchSettings,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Result rows of every method and batch size for one network."""
    refused = {m: m.startswith("fiqa_") and not_applicable(model, m[5:]) for m in methods}
    for m, why in refused.items():
        if why:
            log(f"{model.name:>14} {m}: left out: {why}")
    methods = [m for m in methods if not refused[m]]
    per_image = [m for m in methods if m in PER_IMAGE_METHODS]
    once = measure(model, fill_batch(faces, s.few).to(model.device), per_image, s, s.few_repeats)
    rows = []
    for batch in batches:
        x = fill_batch(faces, batch).to(model.device)
        found = measure(model, x, [m for m in methods if m not in per_image], s, s.repeats) | once
        for method in methods:
            ips, mem = found[method]
            rows.append(
                dict(
                    model=model.name,
                    device=str(x.device),
                    batch=batch,
                    method=method,
                    images_per_s=ips,
                    ratio_to_floor=None,
                    ratio_to_kernel=None,
                    peak_mem_mb=mem,
                )
            )
            log(
                f"{model.name:>14} {x.device} batch {batch:>3} {method:>17}: {ips:8.2f} img/s, "
                f"peak {mem if mem is None else round(mem, 1)} MiB"
            )
    return add_ratios(rows)


def add_ratios(rows: list[dict]) -> list[dict]:
    """Fill ``ratio_to_floor``: time per image over that of ``forward_backward``
    (same model and batch); and for the whole-command rows ``ratio_to_kernel``: their
    images/s over their kernel's (:data:`CLI_METHODS`)."""
    rate = {(r["model"], r["device"], r["batch"], r["method"]): r["images_per_s"] for r in rows}
    for row in rows:
        if row["method"].startswith("map:"):  # measured beside their own floor
            continue
        key = (row["model"], row["device"], row["batch"])
        ref = rate.get((*key, FLOOR))
        row["ratio_to_floor"] = None if ref is None else ref / row["images_per_s"]
        kernel = rate.get((*key, CLI_METHODS.get(row["method"], "")))
        row["ratio_to_kernel"] = None if kernel is None else row["images_per_s"] / kernel
    return rows


# --------------------------------------------------------------------------- reporting
def settings_info(s: BenchSettings, device: torch.device) -> dict:
    """The settings, with the chunking and memory method spelled out."""
    info = asdict(s)
    size = f"{chunk_size_for(device, s.chunk_size)} faces"
    info["chunking"] = (
        f"{size} per forward(+backward) pass in forward, forward_backward, plq, "
        "captum_ig (internal_batch_size) and captum_occlusion (perturbations_per_eval); "
        "quality uses serfiq_quality's own chunking; naive_plq sends each image's T copies "
        "through the network as one batch"
    )
    info["per_image_methods"] = (
        f"{', '.join(PER_IMAGE_METHODS)}: measured once per model on "
        f"{s.few} image(s); the per-image rate is reported for every batch"
    )
    info["peak_mem"] = (
        "CUDA: max_memory_allocated rise"
        if device.type == "cuda"
        else "rise of VmHWM over VmRSS in one call (malloc_trim, then /proc/self/clear_refs)"
    )
    return info


def format_table(report: dict) -> str:
    """The results as a Markdown table."""
    lines = [
        "| model | device | batch | method | images/s | ratio to floor | to kernel | peak MiB |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        mem = "n/a" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.0f}"
        ratio = "n/a" if r["ratio_to_floor"] is None else f"{r['ratio_to_floor']:.2f}"
        kernel = r.get("ratio_to_kernel")
        kernel = "" if kernel is None else f"{kernel:.2f}"
        lines.append(
            f"| {r['model']} | {r['device']} | {r['batch']} | {r['method']} | "
            f"{r['images_per_s']:.2f} | {ratio} | {kernel} | {mem} |"
        )
    return "\n".join(lines)


def run_benchmark(
    model_names: list[str],
    batches: list[int],
    device: torch.device,
    s: BenchSettings,
    methods: list[str] | None = None,
    log: Callable[[str], None] = print,
    maps: list[str] | None = None,
) -> dict:
    """Benchmark the named networks (``maps``: map methods timed as ``map:NAME`` rows,
    :mod:`.speed_maps`); returns ``{"machine", "settings", "results"}``."""
    from .data import sample_faces, to_tensor
    from .speed_maps import bench_maps

    machine = run_metadata(device)  # load average and date before the run
    faces = to_tensor(sample_faces())
    results = []
    for name in model_names:
        model = load_model(name, device=device)
        results += bench_model(model, faces, batches, list(methods or METHODS), s, log)
        kw = dict(floor=run_forward_backward, timer=time_interleaved, fill=fill_batch)
        results += bench_maps(model, faces, maps or [], s, log, **kw)
    return dict(machine=machine, settings=settings_info(s, device), results=results)


# ----------------------------------------------------------------------- helpers
def ready_models() -> list[str]:
    """Names of the shipped networks whose weights are on this machine."""
    return [m["name"] for m in list_models() if m["ready"]]


def warn_if_busy() -> None:
    """Print a warning when other jobs keep the CPUs busy (timings would be distorted)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > LOAD_WARNING * (os.cpu_count() or 1):
        print(
            f"warning: load average {load:.2f} on {os.cpu_count()} CPUs: other jobs will distort "
            "the timings; rerun when the machine is idle"
        )
