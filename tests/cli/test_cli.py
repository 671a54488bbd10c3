"""The ``pixelfiq`` command end to end, as a subprocess, on a folder of real and broken files.

The folder holds real faces (crops of insightface's group photo and Tom Hanks, in many
encodings) and every kind of bad input a real folder has. Runs use SFace on the CPU
with T=4 passes for speed.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pixelfiq_lib import cli
from pixelfiq_lib.batch import inputs
from pixelfiq_lib.data import detect_faces, load_image, sample_image_paths

pytestmark = pytest.mark.slow

PASSES = ["--passes", "4", "--device", "cpu"]
NON_UTF8 = b"caf\xe9.jpg"
LONG_NAME = "L" * 196 + ".jpg"
#: relative name -> expected (status, number of faces); failures have 0 faces.
EXPECTED = {
    "a/face.jpg": ("ok", 1),
    "b/face.jpg": ("ok", 1),
    "b/Face2.JPG": ("ok", 1),
    "tom.png": ("ok", 1),
    "group.jpg": ("ok", 6),
    "gray.jpg": ("ok", 1),
    "palette.png": ("ok", 1),
    "rgba.png": ("ok", 1),
    "cmyk.jpg": ("ok", 1),
    "png16.png": ("ok", 1),
    "exif_rotated.jpg": ("ok", 1),
    LONG_NAME: ("ok", 1),
    os.fsdecode(NON_UTF8): ("ok", 1),
    "empty.jpg": ("unreadable", 0),
    "truncated.jpg": ("unreadable", 0),
    "truncated.png": ("unreadable", 0),
    "text.jpg": ("unreadable", 0),
    "bomb.png": ("unreadable", 0),
    "tiny.png": ("too_small", 0),
    "noise.jpg": ("no_face", 0),
    "pipe.jpg": ("skipped", 0),
}


# ---------------------------------------------------------------------------- fixtures
def _png_header_bomb(side: int = 50_000) -> bytes:
    """A PNG whose header claims side x side RGB pixels, without any pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _face_crops(group: np.ndarray, n: int = 3) -> list[Image.Image]:
    """Loose crops (box plus 60 % margin) around the first faces of the group photo."""
    crops = []
    for face in detect_faces(group)[:n]:
        x, y, w, h = face.bbox
        x0, y0 = max(0, int(x - 0.6 * w)), max(0, int(y - 0.6 * h))
        crops.append(Image.fromarray(group[y0 : int(y + 1.6 * h), x0 : int(x + 1.6 * w)]))
    return crops


def _write_good(root: Path, group: np.ndarray, tom: Image.Image) -> None:
    crop, crop2, crop3 = _face_crops(group)
    for sub in ("a", "b"):
        (root / sub).mkdir()
    crop.save(root / "a" / "face.jpg")
    crop2.save(root / "b" / "face.jpg")  # the same stem in another folder
    crop3.save(root / "b" / "Face2.JPG", format="JPEG")  # upper-case extension
    tom.save(root / "tom.png")
    Image.fromarray(group).save(root / "group.jpg")
    crop.convert("L").save(root / "gray.jpg")
    crop.convert("P", palette=Image.Palette.ADAPTIVE).save(root / "palette.png")
    crop.convert("RGBA").save(root / "rgba.png")
    crop.convert("CMYK").save(root / "cmyk.jpg")
    bgr16 = cv2.cvtColor(np.asarray(crop), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    cv2.imwrite(str(root / "png16.png"), bgr16)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the pixels are stored sideways
    crop.transpose(Image.Transpose.ROTATE_90).save(root / "exif_rotated.jpg", exif=exif)
    crop.save(root / LONG_NAME)
    crop.save(os.path.join(os.fsencode(root), NON_UTF8), format="JPEG")


def _write_bad(root: Path, crop: Image.Image, tom: Image.Image) -> None:
    (root / "empty.jpg").write_bytes(b"")
    jpg, png = io.BytesIO(), io.BytesIO()
    crop.save(jpg, format="JPEG")
    crop.save(png, format="PNG")
    (root / "truncated.jpg").write_bytes(jpg.getvalue()[: len(jpg.getvalue()) // 2])
    (root / "truncated.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    (root / "text.jpg").write_text("this is not a picture\n")
    (root / "bomb.png").write_bytes(_png_header_bomb())
    tom.resize((40, 40), Image.Resampling.BOX).save(root / "tiny.png")
    noise = np.random.default_rng(0).integers(100, 140, (240, 320, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "noise.jpg")
    os.mkfifo(root / "pipe.jpg")
    (root / "notes.txt").write_text("not an image: ignored in folders\n")
    (root / "._face.jpg").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    os.symlink(".", root / "loop")  # a symlink loop


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    """A folder of real faces and broken files (see EXPECTED), with a symlink loop."""
    root = tmp_path_factory.mktemp("photos")
    paths = sample_image_paths()
    group = load_image(paths["t1"])
    tom = Image.open(paths["Tom_Hanks_54745"]).convert("RGB")
    _write_good(root, group, tom)
    _write_bad(root, _face_crops(group, 1)[0], tom)
    return root


def run_cli(*args: str | os.PathLike, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m pixelfiq_lib.cli ARGS`` with stderr not a terminal (no progress bar)."""
    cmd = [sys.executable, "-m", "pixelfiq_lib.cli", *map(os.fspath, args)]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def by_input(rows: list[dict[str, str]], root: Path) -> dict[str, list[dict[str, str]]]:
    groups: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        name = (
            os.path.relpath(row["source"], root)
            if "\\x" not in row["source"]
            else os.fsdecode(NON_UTF8)
        )
        groups.setdefault(name, []).append(row)
    return groups


@pytest.fixture(scope="module")
def explained(photo_dir: Path):
    """``explain`` on the whole folder, with the output folder inside it."""
    out = photo_dir / "out"
    proc = run_cli("explain", photo_dir, "--out", out, *PASSES)
    return proc, out, read_rows(out / "results.csv")


# ------------------------------------------------------------------------------- tests
def test_explain_gives_every_input_exactly_one_outcome(explained, photo_dir):
    proc, out, rows = explained
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    groups = by_input(rows, photo_dir)
    assert set(groups) == set(EXPECTED), "ignored files, loops and outputs are not inputs"
    for name, (status, n_faces) in EXPECTED.items():
        got = groups[name]
        assert [r["status"] for r in got] == [status] * max(n_faces, 1), (name, got)
        assert [r["face"] for r in got] == ([str(k) for k in range(n_faces)] or [""]), name
        if status != "ok":
            assert got[0]["error"].strip(), f"{name} has no reason"
    assert "18 faces ok from 13 images" in proc.stderr


def test_explain_writes_a_map_and_a_figure_per_face(explained):
    _, out, rows = explained
    ok = [r for r in rows if r["status"] == "ok"]
    assert len({r["map_file"] for r in ok}) == len(ok) == 18, "no two faces share a file"
    for row in ok:
        plq = np.load(out / row["map_file"])
        assert plq.shape == (112, 112) and plq.dtype == np.float32
        assert 0.0 <= plq.min() and plq.max() <= 1.0
        assert (out / row["map_file"]).with_suffix(".png").is_file()
        assert 0.0 < float(row["quality"]) < 1.0 and 0.0 < float(row["quality_raw"]) <= 1.0
        assert "/" not in row["map_file"] and not row["map_file"].startswith(".")
    assert not list(out.glob(".pixelfiq-tmp-*")), "no temporary file is left behind"


def test_shards_together_equal_the_whole_run(explained, photo_dir, tmp_path, in_process):
    _, _, rows = explained
    parts = []
    for i in (1, 2):  # in this process, to share one model load
        out = tmp_path / f"shard{i}"
        assert (
            in_process(["explain", str(photo_dir), "--out", str(out), "--shard", f"{i}/2", *PASSES])
            == 1
        )
        parts += read_rows(out / f"results-shard{i}of2.csv")
    key = lambda r: tuple(r.values())  # noqa: E731
    for a, b in zip(sorted(parts, key=key), sorted(rows, key=key)):
        assert a == b, {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    assert len(parts) == len(rows)
    assert {p.name for p in (tmp_path / "shard1").glob("*.npy")}.isdisjoint(
        p.name for p in (tmp_path / "shard2").glob("*.npy")
    )


def test_killed_run_resumes_to_an_identical_table(explained, photo_dir, tmp_path):
    _, base_out, _ = explained
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "pixelfiq_lib.cli",
        "explain",
        str(photo_dir),
        "--out",
        str(out),
        "--batch-size",
        "1",
        *PASSES,
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    table = out / "results.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if table.is_file() and table.read_bytes().count(b"\n") >= 8:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = table.read_bytes().count(b"\n") - 1
    assert 7 <= n_before < len(read_rows(base_out / "results.csv")), "killed halfway"
    # every visible file is complete (pathlib's glob also lists the hidden temporaries of
    # writes the kill interrupted: those are incomplete by design, removed on --resume)
    visible = lambda pattern: [p for p in out.glob(pattern) if not p.name.startswith(".")]
    for npy in visible("*.npy"):
        assert np.load(npy).shape == (112, 112)
    for png in visible("*.png"):
        Image.open(png).verify()
    resumed = run_cli("explain", photo_dir, "--out", out, "--resume", *PASSES)
    assert resumed.returncode == 1 and "Traceback" not in resumed.stderr, resumed.stderr
    assert "resuming" in resumed.stderr
    assert table.read_bytes() == (base_out / "results.csv").read_bytes()
    assert not list(out.glob(".pixelfiq-tmp-*"))


def test_quality_explicit_files_globs_and_largest_face(photo_dir, tmp_path):
    pattern = str(photo_dir / "b" / "*.[jJ]*")  # quoted: expanded by pixelfiq, not the shell
    proc = run_cli(
        "quality",
        photo_dir / "notes.txt",
        pattern,
        photo_dir / "group.jpg",
        "--faces",
        "largest",
        "--out",
        tmp_path / "q.csv",
        *PASSES,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    rows = read_rows(tmp_path / "q.csv")
    groups = by_input(rows, photo_dir)
    assert list(groups) == ["notes.txt", "b/Face2.JPG", "b/face.jpg", "group.jpg"]
    assert groups["notes.txt"][0]["status"] == "unreadable", "files named are always tried"
    assert [r["face"] for r in groups["group.jpg"]] == ["0"]
    assert all(r["map_file"] == "" for r in rows) and not list(tmp_path.glob("*.npy"))


@pytest.mark.slow
def test_explain_map_works_for_every_map_method(tmp_path, in_process, capsys):
    from pixelfiq_lib import config
    from pixelfiq_lib.core.maps import MAP_METHODS

    face = config.bbt_dir() / "raj" / "raj1.png"
    maps = {}
    for name in MAP_METHODS:
        out = tmp_path / name
        argv = ["explain", str(face), "--aligned", "--map", name, "--out", str(out)]
        assert in_process([*argv, "--figures", "none", *PASSES]) == 0, name
        (row,) = read_rows(out / "results.csv")
        assert row["status"] == "ok", (name, row)
        maps[name] = np.load(out / row["map_file"])
        assert maps[name].shape == (112, 112) and np.isfinite(maps[name]).all(), name
    assert "Traceback" not in capsys.readouterr().err
    # one option, different maps: the methods are not aliases of one another
    assert not np.allclose(maps["plq"], maps["counterfactual"])
    assert not np.allclose(maps["plq"], maps["occlusion"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["explain", "nowhere/*.jpg", "--out", "o"], "no such file"),
        (["quality", "missing.jpg"], "no such file"),
        (["quality", ".", "--shard", "3/2"], "--shard"),
        (["quality", ".", "--shard", "0/2"], "--shard"),
        (["quality", ".", "--shard", "a/b"], "--shard"),
        (["quality", ".", "--passes", "1"], "--passes"),
        (["quality", ".", "--batch-size", "0"], "--batch-size"),
        (["explain", "."], "--out"),
        (["quality", "empty"], "no image files"),
        (["quality", "face.png", "--model", "nonet"], "unknown model"),
        (["quality", "face.png", "--device", "nodevice"], "--device"),
        (["quality", "face.png", "--resume"], "--resume needs --out"),
        (["explain", "face.png", "--out", "o", "--map", "nomap"], "unknown map method"),
        (
            ["explain", "face.png", "--out", "o", "--map", "grafiqs", "--model", "mobilefacenet"],
            "BatchNorm",
        ),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(in_process, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "face.png").write_bytes(b"")
    assert in_process(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_resume_refuses_other_settings(explained, photo_dir, tmp_path, in_process, capsys):
    _, base_out, _ = explained
    out = tmp_path / "copy"
    shutil.copytree(base_out, out)
    args = ["explain", str(photo_dir), "--out", str(out), "--resume", "--passes", "5"]
    assert in_process(args) == 2
    assert "other settings" in capsys.readouterr().err


def test_missing_plugin_module_exits_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pixelfiq_lib.cli.commands.evaluate", None)  # import fails
    assert cli.main(["evaluate", "--help"]) == 2
    assert "pixelfiq evaluate" in capsys.readouterr().err


def test_models_lists_licences_and_readiness(in_process, capsys):
    assert in_process(["models"]) == 0
    out = capsys.readouterr().out
    assert "sface  [ready offline]" in out and "weights licence" in out
    assert "mobilefacenet" in out


def test_output_marker_keeps_earlier_outputs_out_of_the_inputs(explained, photo_dir):
    _, out, _ = explained
    assert (out / inputs.OUTPUT_MARKER).is_file()
    items = inputs.expand_inputs([str(photo_dir)])
    assert not [it for it in items if Path(it.path).parent == out]


def test_demo_explains_every_face_of_the_group_photo(tmp_path):
    """The README's main job: 6 faces of insightface's group photo plus one aligned crop."""
    proc = run_cli("demo", "--out", tmp_path / "demo", "--passes", "8")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = read_rows(tmp_path / "demo" / "results.csv")
    assert [r["status"] for r in rows] == ["ok"] * 7
    assert sum(r["source"].endswith("t1.jpg") for r in rows) == 6
    for r in rows:
        plq = np.load(tmp_path / "demo" / r["map_file"])
        assert plq.shape == (112, 112) and plq.dtype == np.float32
        assert 0.0 <= plq.min() and plq.max() < 1.0
        assert (tmp_path / "demo" / r["map_file"].replace(".npy", ".png")).is_file()
    assert (tmp_path / "demo" / "overview.png").stat().st_size > 10_000


def test_folder_of_netpbm_and_gif_faces_is_found_and_scored(tmp_path):
    """The classic face sets come as .pgm (8 and 16 bit), .ppm and .gif: none is invisible."""
    crop = _face_crops(load_image(sample_image_paths()["t1"]), 1)[0]
    folder = tmp_path / "yale"
    folder.mkdir()
    crop.convert("L").save(folder / "grey8.pgm")
    grey16 = np.asarray(crop.convert("L")).astype(np.uint16) * 257
    cv2.imwrite(str(folder / "grey16.pgm"), grey16)
    crop.save(folder / "colour.ppm")
    crop.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "subject01.gif")
    crop.save(tmp_path / "face.raw", format="PNG")  # unknown suffix, named explicitly
    proc = run_cli("quality", folder, tmp_path / "face.raw", "--out", tmp_path / "q.csv", *PASSES)
    assert proc.returncode == 0, proc.stderr
    rows = read_rows(tmp_path / "q.csv")
    names = [os.path.basename(r["source"]) for r in rows]
    assert names == ["colour.ppm", "grey16.pgm", "grey8.pgm", "subject01.gif", "face.raw"]
    assert all(r["status"] == "ok" and 0 <= int(r["quality_100"]) <= 100 for r in rows)


def test_calibrate_then_settings_puts_the_median_face_at_50(tmp_path):
    """Round trip: fit quality_100 on one folder, apply it: its median face lands at 50 +- 2."""
    from pixelfiq_lib import config

    if config.bbt_dir() is None:
        pytest.skip("data/bbt not found")
    folder = tmp_path / "mine"
    folder.mkdir()
    for path in sorted(config.bbt_dir().glob("*/*.png"))[:15]:  # 3 identities, odd count
        shutil.copy(path, folder / path.name)
    settings = tmp_path / "mine.json"
    proc = run_cli("quality", "--calibrate", folder, "--out", settings, *PASSES)
    assert proc.returncode == 0 and settings.is_file(), proc.stderr
    assert "percentiles" in proc.stderr and "--settings" in proc.stderr
    proc = run_cli("quality", folder, "--settings", settings, "--out", tmp_path / "q.csv", *PASSES)
    assert proc.returncode == 0, proc.stderr
    q100 = [int(r["quality_100"]) for r in read_rows(tmp_path / "q.csv")]
    assert len(q100) == 15 and abs(np.median(q100) - 50) <= 2, q100
    assert min(q100) < 50 < max(q100)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    proc = run_cli("quality", folder, "--settings", bad, *PASSES)
    assert proc.returncode == 2 and "settings" in proc.stderr


def test_models_verbose_prints_the_percentile_table(in_process, capsys):
    assert in_process(["models", "--verbose"]) == 0
    out = capsys.readouterr().out
    for name in ("sface", "mobilefacenet"):
        assert name in out
    assert out.count("| 5 % |") == 2 and "quality_100 = round(100" in out
    assert "held-out" in out
    # Q̂'s Monte-Carlo stability, with the numbers
    assert "mobilefacenet: its maps cannot be judged" in out and "T 1000: 0.050" in out
    assert "sface: quality is stable enough to explain at T 100" in out
