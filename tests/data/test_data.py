"""Tests of pixelfiq_lib.data: loading, detection, alignment, tensors, sample data.

Real photos come from the insightface wheel (t1.jpg: 6 people) and the repository's
data/bbt (8 identities x 5 tight crops). Bad files are built in tmp_path.
"""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from pixelfiq_lib import config, data, errors

T = data.ARCFACE_TEMPLATE
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
needs_bbt = pytest.mark.skipif(
    config.bbt_dir() is None, reason="data/bbt not found (PIXELFIQ_DATA points elsewhere?)"
)


@pytest.fixture(scope="module")
def t1() -> np.ndarray:
    """t1.jpg as (886, 1280, 3) uint8 RGB."""
    return data.load_image(data.sample_image_paths()["t1"])


def _encode(img: np.ndarray | Image.Image, fmt: str, **kw) -> bytes:
    im = img if isinstance(img, Image.Image) else Image.fromarray(img)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height RGB pixels but holds none (no allocation)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


# ------------------------------------------------------------------------ real faces
def test_t1_has_six_faces_sorted_largest_first(t1):
    faces = data.detect_faces(t1)
    assert len(faces) == 6
    areas = [f.bbox[2] * f.bbox[3] for f in faces]
    assert areas == sorted(areas, reverse=True)
    for f in faces:
        assert f.landmarks.shape == (5, 2) and f.landmarks.dtype == np.float32
        assert f.landmarks[0, 0] < f.landmarks[1, 0]  # image-left eye first
        assert f.landmarks[3, 0] < f.landmarks[4, 0]  # image-left mouth corner first
        assert 0.6 <= f.score <= 1.0


def test_extract_faces_t1(t1):
    crops = data.extract_faces(data.sample_image_paths()["t1"])
    assert len(crops) == 6 and [c.index for c in crops] == list(range(6))
    for c in crops:
        assert c.image.shape == (112, 112, 3) and c.image.dtype == np.uint8
        assert c.face is not None and "t1.jpg" in c.source
    largest = data.extract_faces(t1, faces="largest")
    assert len(largest) == 1 and np.array_equal(largest[0].image, crops[0].image)


def _composite(t1: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A large face cut by the left border and a smaller subject in the centre.

    Returns the image and the subject's box (x, y, w, h) as pasted.
    """

    def crop(face: data.Face) -> np.ndarray:
        x, y, w, h = face.bbox
        x0, y0 = max(0, int(x - 0.5 * w)), max(0, int(y - 0.5 * h))
        return t1[y0 : int(y + 1.5 * h), x0 : int(x + 1.5 * w)]

    found = data.detect_faces(t1)
    big = cv2.resize(crop(found[0]), (300, 300))
    subject = cv2.resize(crop(found[1]), (170, 170))
    canvas = np.full((400, 500, 3), 128, np.uint8)
    canvas[50:350, 0:150] = big[:, 150:]  # the right half of a big face at the border
    canvas[115:285, 165:335] = subject
    return canvas, (165, 115, 170, 170)


def test_main_face_is_the_centred_subject_not_the_large_border_face(t1):
    canvas, (sx, sy, sw, sh) = _composite(t1)
    found = data.detect_faces(canvas)
    assert len(found) == 2, "both faces must be detected for the test to mean anything"
    largest = data.extract_faces(canvas, faces="largest")[0]
    main = data.extract_faces(canvas, faces="main")
    assert len(main) == 1 and main[0].index == 1, "the border face is larger"
    x, y, w, h = main[0].face.bbox
    assert sx < x + w / 2 < sx + sw and sy < y + h / 2 < sy + sh
    assert largest.face.bbox[0] < 20, "largest still means the big border face"
    assert data.main_face(found, canvas.shape) is found[1]
    with pytest.raises(errors.InvalidArgumentError, match="main"):
        data.extract_faces(canvas, faces="middle")


def test_sample_faces_and_tensor_round_trip():
    faces = data.sample_faces()
    assert len(faces) == 7 and len(data.sample_faces(3)) == 3
    assert faces[-1].face is None and "Tom_Hanks" in faces[-1].source
    xs = [f.face.bbox[0] for f in faces[:6]]
    assert xs == sorted(xs)  # left to right
    batch = data.to_tensor(faces[:2])
    assert batch.shape == (2, 3, 112, 112) and batch.dtype == torch.float32
    assert 0.0 <= float(batch.min()) and float(batch.max()) <= 255.0
    assert np.array_equal(data.to_image(batch[1]), faces[1].image)
    assert np.array_equal(data.to_image(data.to_tensor(faces[0].image)), faces[0].image)


def test_sample_images_without_faces_give_no_face_error():
    paths = data.sample_image_paths()
    assert set(paths) >= {"t1", "Tom_Hanks_54745", "mask_blue"}
    with pytest.raises(errors.NoFaceError, match="mask_blue"):
        data.extract_faces(paths["mask_blue"])  # a surgical-mask texture, no face


def test_gradient_gives_no_face_error():
    grad = np.repeat(np.linspace(0, 255, 320)[None, :, None], 240, 0).repeat(3, 2)
    with pytest.raises(errors.NoFaceError):
        data.extract_faces(grad.astype(np.uint8))


def test_tiny_faces_are_too_small(t1):
    small = cv2.resize(t1, (320, 221), interpolation=cv2.INTER_AREA)  # faces ~25 px wide
    assert len(data.detect_faces(small)) >= 1
    with pytest.raises(errors.FaceTooSmallError):
        data.extract_faces(small)
    assert len(data.extract_faces(small, min_face_size=10)) >= 1


@pytest.mark.parametrize(
    "tag, stored_as",
    [
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_90),
        (8, Image.Transpose.ROTATE_270),
    ],
)
def test_exif_orientation_gives_upright_detection(t1, tag, stored_as, tmp_path):
    upright = Image.fromarray(t1)
    exif = Image.Exif()
    exif[0x0112] = tag
    (tmp_path / "rot.jpg").write_bytes(
        _encode(upright.transpose(stored_as), "JPEG", quality=95, exif=exif)
    )
    img = data.load_image(tmp_path / "rot.jpg")
    assert img.shape == t1.shape
    ref = data.detect_faces(data.load_image(_encode(upright, "JPEG", quality=95)))
    got = data.detect_faces(img)
    assert len(got) == len(ref) == 6
    ref_l = sorted((f.landmarks for f in ref), key=lambda lm: lm[0, 0])
    got_l = sorted((f.landmarks for f in got), key=lambda lm: lm[0, 0])
    assert max(np.abs(a - b).max() for a, b in zip(ref_l, got_l)) < 3.0


# ------------------------------------------------------------------------ alignment
def test_alignment_maps_landmarks_onto_template():
    """Dots drawn on a rotated, scaled, shifted template land on the template."""
    angle, scale, shift = np.deg2rad(25.0), 2.3, np.array([140.0, 90.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lmk = (T.astype(np.float64) @ rot.T + shift).astype(np.float32)
    canvas = np.zeros((480, 520, 3), np.uint8)
    for x, y in lmk:
        cv2.circle(canvas, (round(float(x)), round(float(y))), 6, (255, 255, 255), -1)
    crop = data.align_face(canvas, lmk)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    n, _lab, _, cent = cv2.connectedComponentsWithStats((crop[:, :, 0] > 127).astype(np.uint8))
    assert n == 6  # background + 5 dots
    found = sorted(cent[1:], key=lambda c: (round(c[1] / 10), c[0]))
    want = sorted(T, key=lambda c: (round(c[1] / 10), c[0]))
    assert np.abs(np.array(found) - np.array(want)).max() < 1.0
    assert data.align_face(canvas, lmk, size=224).shape == (224, 224, 3)


def test_redetected_eyes_sit_on_template():
    faces = data.sample_faces()[:6]
    errs = [
        np.linalg.norm(
            data.detect_faces(np.ascontiguousarray(f.image))[0].landmarks[:2].mean(0)
            - T[:2].mean(0)
        )
        for f in faces
    ]
    assert np.median(errs) < 5.0 and max(errs) < 10.0


# ------------------------------------------------------------------------------- bbt
@pytest.mark.bbt
@needs_bbt
def test_bbt_every_image_gives_one_aligned_face():
    root = config.bbt_dir()
    files = sorted(root.glob("*/*.png"))
    assert len(files) == 40
    for f in files:
        crops = data.extract_faces(f)
        assert len(crops) == 1, f
        eyes = data.detect_faces(np.ascontiguousarray(crops[0].image))[0].landmarks[:2]
        assert np.linalg.norm(eyes.mean(0) - T[:2].mean(0)) < 8.0, f
    faces = data.bbt_faces()
    assert len(faces) == 8 and all(len(v) == 5 for v in faces.values())


@needs_bbt
def test_bbt_main_face_is_the_subject():
    """bbt crops hold one subject each: main is that face (index 0, the largest)."""
    for f in sorted(config.bbt_dir().glob("*/*.png")):
        main, every = data.extract_faces(f, faces="main"), data.extract_faces(f)
        assert len(main) == 1 and main[0].index == 0, f
        assert np.array_equal(main[0].image, every[0].image), f


def test_missing_bbt_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PIXELFIQ_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(errors.DataNotFoundError, match="PIXELFIQ_DATA"):
        data.bbt_faces()


def test_the_papers_test_faces_are_not_shipped():
    """They are CC BY-NC: the course cites the paper's numbers instead."""
    assert not hasattr(data, "paper_faces")
    assert not list(config.REPO_ROOT.glob("data/**/xfiq_test_*"))


# ------------------------------------------------------------------------ bad inputs
def _bad_files(tmp, t1_small: np.ndarray) -> dict[str, object]:
    jpg, png = _encode(t1_small, "JPEG"), _encode(t1_small, "PNG")
    files = {
        "missing": tmp / "missing.jpg",
        "directory": tmp,
        "empty": tmp / "empty.jpg",
        "trunc_jpg": tmp / "trunc.jpg",
        "trunc_png": tmp / "trunc.png",
        "text": tmp / "text.jpg",
        "bomb": tmp / "bomb.png",
        "over_limit": tmp / "big.png",
    }
    files["empty"].write_bytes(b"")
    files["trunc_jpg"].write_bytes(jpg[: len(jpg) // 2])
    files["trunc_png"].write_bytes(png[: len(png) // 2])
    files["text"].write_text("this is not an image\n")
    files["bomb"].write_bytes(_png_header(50_000, 50_000))
    files["over_limit"].write_bytes(_png_header(8_000, 7_000))  # 56 MP, below Pillow's limit
    return files


def test_bad_files_raise_image_load_error(t1, tmp_path):
    for kind, path in _bad_files(tmp_path, t1[:64, :64]).items():
        with pytest.raises(errors.ImageLoadError) as info:
            data.load_image(path)
        assert str(path) in str(info.value), kind
        if kind in ("bomb", "over_limit"):
            assert "MAX_PIXELS" in str(info.value) or "bomb" in str(info.value)
        with pytest.raises(errors.ImageLoadError):
            data.extract_faces(path)


@pytest.mark.parametrize(
    "arr",
    [
        np.zeros((8, 8, 3), np.complex64),
        np.zeros((8, 8, 3), object),
        np.zeros((8, 8, 2), np.uint8),
        np.zeros((3, 8, 8, 3), np.uint8),
        np.zeros((3, 8, 8), np.float32),
        np.zeros((0, 8, 3), np.uint8),
        np.zeros(8, np.uint8),
        np.full((8, 8, 3), np.nan),
        np.full((8, 8, 3), np.inf, np.float32),
        np.full((8, 8, 3), -0.5),
        np.full((8, 8, 3), 300.0),
        np.full((8, 8), 256, np.int32),
        np.full((8, 8), -1, np.int8),
        np.array("image"),
    ],
    ids=lambda a: f"{a.dtype}{a.shape}",
)
def test_bad_arrays_raise_image_load_error(arr):
    with pytest.raises(errors.ImageLoadError):
        data.load_image(arr)


@pytest.mark.parametrize("obj", [None, 3, b"", bytearray(b"\x00\x01"), torch.zeros(3, 4, 4)])
def test_bad_objects_raise_image_load_error(obj):
    with pytest.raises(errors.ImageLoadError):
        data.load_image(obj)


# ----------------------------------------------------------------------- conversions
@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)


def test_grey_palette_and_16bit_files_load_as_rgb(rgb):
    grey = rgb[:, :, 0]
    assert np.array_equal(data.load_image(_encode(grey, "PNG")), np.dstack([grey] * 3))
    pal = Image.fromarray(rgb).convert("P")
    assert np.array_equal(data.load_image(_encode(pal, "PNG")), np.asarray(pal.convert("RGB")))
    grey16 = grey.astype(np.uint16) * 257
    assert np.array_equal(data.load_image(_encode(grey16, "PNG")), np.dstack([grey] * 3))
    _, rgb16 = cv2.imencode(".png", (rgb.astype(np.uint16) * 257)[:, :, ::-1])
    assert np.array_equal(data.load_image(rgb16.tobytes()), rgb)


def test_netpbm_gif_and_unknown_suffix_decode_by_content(rgb, tmp_path):
    from pixelfiq_lib.files import IMAGE_SUFFIXES, is_image_name

    assert {".pgm", ".ppm", ".pbm", ".gif"} <= IMAGE_SUFFIXES and is_image_name("a.PGM")
    from PIL import features

    assert (".jp2" in IMAGE_SUFFIXES) == features.check("jpg_2000")
    grey = rgb[:, :, 0]
    cv2.imwrite(str(tmp_path / "g16.pgm"), grey.astype(np.uint16) * 257)  # 16-bit PGM
    Image.fromarray(grey).save(tmp_path / "g8.pgm")
    Image.fromarray(rgb).save(tmp_path / "c.ppm")
    assert np.array_equal(data.load_image(tmp_path / "g16.pgm"), np.dstack([grey] * 3))
    assert np.array_equal(data.load_image(tmp_path / "g8.pgm"), np.dstack([grey] * 3))
    assert np.array_equal(data.load_image(tmp_path / "c.ppm"), rgb)
    frames = [Image.fromarray(grey).convert("P"), Image.fromarray(255 - grey).convert("P")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert np.array_equal(data.load_image(tmp_path / "anim.gif")[:, :, 0], grey)  # 1st frame
    (tmp_path / "photo.dat").write_bytes(_encode(rgb, "PNG"))  # a suffix nobody knows
    assert np.array_equal(data.load_image(tmp_path / "photo.dat"), rgb)


def test_alpha_is_composited_on_black(rgb):
    alpha = np.full(rgb.shape[:2], 128, np.uint8)
    rgba = np.dstack([rgb, alpha])
    want = ((rgb.astype(np.uint16) * 128 + 127) // 255).astype(np.uint8)
    assert np.array_equal(data.load_image(_encode(rgba, "PNG")), want)
    assert np.array_equal(data.load_image(rgba), want)
    la = Image.fromarray(np.dstack([rgb[:, :, 0], np.full(rgb.shape[:2], 255, np.uint8)]), "LA")
    assert np.array_equal(data.load_image(_encode(la, "PNG")), np.dstack([rgb[:, :, 0]] * 3))


def test_cmyk_jpeg_loads_as_rgb():
    flat = np.full((32, 32, 3), (200, 80, 30), np.uint8)
    jpg = _encode(Image.fromarray(flat).convert("CMYK"), "JPEG", quality=95)
    out = data.load_image(jpg)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - flat).max() <= 6


def test_array_dtype_rules(rgb):
    f = rgb.astype(np.float32)
    assert np.array_equal(data.load_image(f), rgb)  # [0, 255]
    assert np.array_equal(data.load_image(f / 255.0), rgb)  # [0, 1] since max <= 1
    assert np.array_equal(data.load_image(rgb.astype(np.uint16) * 257), rgb)
    assert np.array_equal(data.load_image(rgb.astype(np.int64)), rgb)
    assert np.array_equal(data.load_image(rgb[:, :, :1]), np.dstack([rgb[:, :, 0]] * 3))
    assert data.load_image(np.ones((4, 4), bool)).max() == 255
    out = data.load_image(rgb)
    assert out is not rgb and out.flags.writeable


# ------------------------------------------------------------------ argument errors
def test_align_and_tensor_argument_errors(t1):
    lmk = data.detect_faces(t1)[0].landmarks
    for bad in (np.zeros((5, 2)), np.full((5, 2), np.nan), np.zeros((4, 2)), "eyes"):
        with pytest.raises(errors.InvalidArgumentError):
            data.align_face(t1, bad)
    with pytest.raises(errors.InvalidArgumentError):
        data.align_face(t1, lmk, size=100)
    with pytest.raises(errors.ImageLoadError):
        data.align_face(t1.astype(np.float32), lmk)
    with pytest.raises(errors.InvalidArgumentError):
        data.extract_faces(t1, faces="biggest")
    with pytest.raises(errors.InvalidArgumentError):
        data.to_tensor([])
    with pytest.raises(errors.ImageLoadError):
        data.to_tensor([t1])
    with pytest.raises(errors.ImageLoadError):
        data.to_image(torch.full((3, 8, 8), 1000.0))


# --------------------------------------------------------------------- property tests
_SEEDS = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"GIF89a",
    b"BM",
    b"P6\n4 4\n255\n",
    b"II*\x00",
    b"RIFF\x00\x00\x00\x00WEBP",
]
_DTYPES = st.sampled_from(
    [
        np.uint8,
        np.uint16,
        np.int8,
        np.int32,
        np.int64,
        np.float16,
        np.float32,
        np.float64,
        np.bool_,
        np.complex64,
    ]
)
_ARRAYS = hnp.arrays(_DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40))


def _check_image_result(fn, *args, **kw):
    """Call fn; it must return normally or raise a PixelfiqError subclass."""
    try:
        return fn(*args, **kw)
    except errors.PixelfiqError:
        return None


@FUZZ
@given(prefix=st.sampled_from(_SEEDS), body=st.binary(max_size=300))
def test_fuzz_random_bytes(prefix, body):
    out = _check_image_result(data.load_image, prefix + body)
    if out is not None:
        assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8
    _check_image_result(data.extract_faces, prefix + body)


@FUZZ
@given(
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.integers(0, 10**6), max_size=5),
    fmt=st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]),
)
def test_fuzz_damaged_real_files(cut, flips, fmt):
    raw = bytearray(_encode(np.random.default_rng(1).integers(0, 256, (20, 24, 3), np.uint8), fmt))
    for pos in flips:
        raw[pos % len(raw)] ^= 0xA5
    raw = bytes(raw[: max(1, int(len(raw) * cut))])
    out = _check_image_result(data.load_image, raw)
    if out is not None:
        assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8


@FUZZ
@given(arr=_ARRAYS)
def test_fuzz_random_arrays(arr):
    out = _check_image_result(data.load_image, arr)
    if out is not None:
        assert out.shape == arr.shape[:2] + (3,) and out.dtype == np.uint8
    faces = _check_image_result(data.detect_faces, arr)
    if faces is not None:
        assert all(f.landmarks.shape == (5, 2) for f in faces)
    for aligned in (False, True):
        crops = _check_image_result(data.extract_faces, arr, aligned=aligned)
        assert crops is None or all(c.image.shape == (112, 112, 3) for c in crops)


@FUZZ
@given(
    img=_ARRAYS
    | hnp.arrays(
        np.uint8,
        hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=40).map(
            lambda s: s[:2] + (3,)
        ),
    ),
    lmk=hnp.arrays(
        np.float64,
        st.sampled_from([(5, 2), (5, 3), (2,), (0, 2)]),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=64),
    )
    | hnp.arrays(np.float32, (5, 2), elements=st.floats(-100, 200, width=32)),
    size=st.sampled_from([112, 224, 0, -112, 100]),
)
def test_fuzz_align_face(img, lmk, size):
    out = _check_image_result(data.align_face, img, lmk, size)
    if out is not None:
        assert out.shape == (size, size, 3) and out.dtype == np.uint8


def test_tight_crop_is_padded_and_mapped_back(t1):
    """A crop cut at the face box is found on a black border; coordinates map back."""
    full = data.detect_faces(t1)[0]
    x, y, w, h = (round(v) for v in full.bbox)
    crop = np.ascontiguousarray(t1[y : y + h, x : x + w])
    pad = round(data.PAD_FRACTION * max(crop.shape[:2]))
    padded = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    faces = data.detect_faces(crop)
    assert len(faces) == 1
    ref = data.detect_faces(padded)[0].landmarks - pad
    np.testing.assert_allclose(faces[0].landmarks, ref, atol=1e-3)
    assert np.abs(faces[0].landmarks + [x, y] - full.landmarks).max() < 10.0


def test_large_image_is_downscaled_for_detection(t1):
    big = cv2.resize(t1, (2560, 1772), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(big, (1920, 1329), interpolation=cv2.INTER_AREA)
    scale = np.array([1920 / 2560, 1329 / 1772])
    ref = [f.landmarks / scale for f in data.detect_faces(small)]
    got = [f.landmarks for f in data.detect_faces(big)]
    assert len(got) == len(ref) == 6
    for a, b in zip(ref, got):
        np.testing.assert_allclose(b, a, atol=1e-2)
    assert max(f.bbox[2] for f in data.detect_faces(big)) > 150  # full-size units


def test_aligned_input_is_resized_not_detected():
    tom = data.load_image(data.sample_image_paths()["Tom_Hanks_54745"])
    big = cv2.resize(tom, (224, 224), interpolation=cv2.INTER_CUBIC)
    out = data.extract_faces(big, aligned=True)
    assert len(out) == 1 and out[0].face is None
    assert np.abs(out[0].image.astype(int) - tom).mean() < 3.0
    assert not out[0].image.flags.writeable
