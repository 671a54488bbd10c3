"""The explorer's plain functions (edits, rendering, uploads) and the widget wiring."""

from __future__ import annotations

from datetime import datetime

import cv2
import numpy as np
import pytest
from matplotlib import pyplot as plt

from pixelfiq_lib import widgets
from pixelfiq_lib.data import sample_faces, sample_image_paths
from pixelfiq_lib.errors import ImageLoadError, NoFaceError, PixelfiqError


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return np.array(sample_faces(3)[2].image)


def test_no_edit_returns_an_equal_copy(face):
    out = widgets.apply_edits(face)
    assert out is not face and out.dtype == np.uint8 and np.array_equal(out, face)


def test_occluder_is_a_black_square_centred_at_x_y(face):
    out = widgets.apply_edits(face, occluder=(40, 60, 10))
    assert (out[55:65, 35:45] == 0).all()
    untouched = np.ones(face.shape[:2], bool)
    untouched[55:65, 35:45] = False
    assert np.array_equal(out[untouched], face[untouched])
    assert face[55:65, 35:45].any(), "the input must not be modified"


def test_occluder_is_clipped_at_the_border(face):
    out = widgets.apply_edits(face, occluder=(0, 111, 20))
    assert (out[101:, :10] == 0).all()
    assert np.array_equal(out[:101], face[:101]) and np.array_equal(out[:, 10:], face[:, 10:])
    assert np.array_equal(widgets.apply_edits(face, occluder=(56, 56, 0)), face)
    assert np.array_equal(widgets.apply_edits(face, occluder=(-100, -100, 20)), face)


def test_blur_smooths_and_noise_is_seeded(face):
    blurred = widgets.apply_edits(face, blur=2.0)
    lap = lambda im: cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert lap(blurred) < 0.3 * lap(face)
    n1 = widgets.apply_edits(face, noise=20, seed=1)
    assert np.array_equal(n1, widgets.apply_edits(face, noise=20, seed=1))
    assert not np.array_equal(n1, widgets.apply_edits(face, noise=20, seed=2))
    diff = n1.astype(float) - face
    assert 15 < diff.std() < 22, "noise std is in grey levels (clipping lowers it a little)"


def test_bad_edits_raise(face):
    with pytest.raises(PixelfiqError):
        widgets.apply_edits(face, blur=-1)
    with pytest.raises(PixelfiqError):
        widgets.apply_edits(face, occluder=(10, 10, -5))
    with pytest.raises(PixelfiqError):
        widgets.apply_edits(face.astype(np.float32))


def test_render_explanation_draws_three_panels_and_returns_the_map(sface, face):
    fig, res = widgets.render_explanation(sface, face, n_passes=8, seed=0, title="sface")
    try:
        assert len(fig.axes) == 3
        assert (
            res.plq.shape == (1, 112, 112) and 0 <= float(res.plq.min()) <= float(res.plq.max()) < 1
        )
        assert fig._suptitle.get_text().startswith("sface: ")
        assert f"{float(res.quality.q[0]):.3f}" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_occluding_the_eyes_lowers_quality(sface, face):
    _, clean = widgets.render_explanation(sface, face, n_passes=16, seed=0)
    _, hidden = widgets.render_explanation(
        sface, widgets.apply_edits(face, occluder=(56, 52, 50)), n_passes=16, seed=0
    )
    plt.close("all")
    assert float(hidden.quality.q[0]) < float(clean.quality.q[0])


def test_face_from_upload_detects_and_aligns():
    blob = sample_image_paths()["t1"].read_bytes()
    value = (
        {"name": "t1.jpg", "type": "image/jpeg", "size": len(blob), "content": memoryview(blob)},
    )
    img = widgets.face_from_upload(value)
    assert img.shape == (112, 112, 3) and img.dtype == np.uint8
    assert np.array_equal(img, widgets.face_from_upload(blob))


def test_face_from_upload_takes_an_aligned_square_crop_as_is():
    blob = sample_image_paths()["Tom_Hanks_54745"].read_bytes()
    assert widgets.face_from_upload(blob).shape == (112, 112, 3)


def test_face_from_upload_errors():
    with pytest.raises(ImageLoadError):
        widgets.face_from_upload(())
    with pytest.raises(ImageLoadError):
        widgets.face_from_upload(b"not an image")
    ok, png = cv2.imencode(".png", np.full((60, 200, 3), 127, np.uint8))
    with pytest.raises(NoFaceError):
        widgets.face_from_upload(png.tobytes())


def _value(name: str, blob: bytes) -> tuple[dict, ...]:
    """What an ipywidgets 8 FileUpload holds after one file was chosen."""
    return (
        {
            "name": name,
            "type": "image/png",
            "size": len(blob),
            "content": memoryview(blob),
            "last_modified": datetime.now(),
        },
    )


def test_upload_errors_name_the_file():
    with pytest.raises(ImageLoadError) as err:
        widgets.face_from_upload(_value("holiday.jpg", b"not an image"))
    assert "'holiday.jpg'" in str(err.value) and "<bytes" not in str(err.value)
    ok, png = cv2.imencode(".png", np.full((60, 200, 3), 127, np.uint8))
    with pytest.raises(NoFaceError, match="grey.png"):
        widgets.face_from_upload(png.tobytes(), name="grey.png")


def test_uploaded_files_reads_every_form_of_the_value():
    assert widgets.uploaded_files(()) == [] and widgets.uploaded_files(None) == []
    assert widgets.uploaded_files(_value("a.png", b"xy")) == [("a.png", b"xy")]
    assert widgets.uploaded_files({"b.png": {"metadata": {"name": "b.png"}, "content": b"z"}}) == [
        ("b.png", b"z")
    ]  # ipywidgets 7
    assert widgets.uploaded_files(b"abc") == [("<3 bytes>", b"abc")]


def test_passes_per_network():
    assert widgets.passes_for("sface", 16) == 16
    per = {"sface": 16, "mobilefacenet": 1000}
    assert widgets.passes_for("mobilefacenet", per) == 1000
    with pytest.raises(PixelfiqError, match="other"):
        widgets.passes_for("other", per)
    with pytest.raises(PixelfiqError):
        widgets.passes_for("sface", 1)


def test_status_text_shows_the_error_bar_and_warns_when_it_is_large():
    calm = widgets.status_text("face 2", "sface", 0.9671, 0.0031, 16)
    assert "Q̂ = 0.967 ± 0.003" in calm and "T = 16" in calm and "warning" not in calm
    noisy = widgets.status_text("face 2", "mobilefacenet", 0.5, 0.34, 16)
    assert "± 0.340" in noisy and "warning" in noisy and "mobilefacenet" in noisy


def _counting(sface):
    loads = []

    def load(name):
        loads.append(name)
        return sface

    return loads, load


def test_explorer_draws_once_and_follows_its_controls(sface, face):
    pytest.importorskip("ipywidgets")
    loads, load = _counting(sface)
    box = widgets.explorer(
        {"a": face, "b": np.array(sample_faces(1)[0].image)},
        ["sface"],
        load=load,
        n_passes=8,
        default_map="plq",
    )
    assert loads == ["sface"], "the default view is drawn once on creation"
    q0 = float(box.update().quality.q[0])
    box.controls["size"].value = 50  # observers redraw
    assert len(loads) == 3
    assert float(box.update().quality.q[0]) < q0
    assert "Q̂ =" in box.children[1].value and "±" in box.children[1].value
    plt.close("all")


def test_explorer_shows_every_upload_even_after_a_failed_one(sface, face):
    pytest.importorskip("ipywidgets")
    loads, load = _counting(sface)
    box = widgets.explorer(
        {"sample face 2": face}, ["sface"], load=load, n_passes=8, default_map="plq"
    )
    upload, face_dd, status = box.controls["upload"], box.controls["face"], box.children[1]
    paths = sample_image_paths()
    for k, (name, path) in enumerate(
        (("t1.jpg", paths["t1"]), ("hanks.png", paths["Tom_Hanks_54745"]), ("t1.jpg", paths["t1"])),
        start=1,
    ):
        before = len(loads)
        upload.value = _value(name, path.read_bytes())
        assert face_dd.value == f"upload {k}: {name}", "each upload gets its own entry"
        assert len(loads) == before + 1, (
            "an upload is drawn exactly once (no detour via another face)"
        )
        expected = widgets.face_from_upload(path.read_bytes())
        _, direct = widgets.render_explanation(sface, expected, n_passes=8)
        assert float(box.update().quality.q[0]) == pytest.approx(float(direct.quality.q[0]))
        assert upload.value == (), "cleared, so choosing the same file again is a new upload"
    shown, before = face_dd.value, len(loads)
    upload.value = _value("notes.txt", b"not an image")
    assert (
        "upload failed" in status.value
        and "notes.txt" in status.value
        and "<bytes" not in status.value
    )
    assert face_dd.value == shown and len(loads) == before
    upload.value = _value("again.png", paths["Tom_Hanks_54745"].read_bytes())
    assert face_dd.value == "upload 4: again.png" and "upload failed" not in status.value
    plt.close("all")


def test_explorer_uses_each_networks_own_passes_and_warns_on_noise(sface, face):
    pytest.importorskip("ipywidgets")
    _, load = _counting(sface)
    box = widgets.explorer(
        {"f": face},
        ["sface", "other"],
        load=load,
        n_passes={"sface": 8, "other": 4},
        max_se=1e-9,
        default_map="plq",
    )
    assert box.update().quality.n_passes == 8 and "T = 8" in box.children[1].value
    box.controls["model"].value = "other"
    assert box.update().quality.n_passes == 4 and "T = 4" in box.children[1].value
    assert "warning" in box.children[1].value
    plt.close("all")


def test_explorer_controls_wrap_instead_of_overflowing(sface, face):
    pytest.importorskip("ipywidgets")
    _, load = _counting(sface)
    box = widgets.explorer({"f": face}, ["sface"], load=load, n_passes=4, default_map="plq")
    controls = box.children[0]
    assert controls.layout.flex_flow == "row wrap"
    widths = [
        int(w.layout.width.rstrip("px")) for name, w in box.controls.items() if name != "upload"
    ]
    assert max(widths) * 3 + 3 * 12 < 1000, "three columns fit a notebook in a 1280 px window"
    assert widgets.FIGSIZE[0] * 100 <= 700, "the figure fits beside JupyterLab's file browser"
    plt.close("all")


def test_map_menu_offers_every_method_with_the_recommended_map_first():
    from pixelfiq_lib.core.maps import MAP_METHODS

    options = widgets.map_options()
    assert [m for _, m in options][:2] == [widgets.RECOMMENDED_MAP, "plq"]
    assert sorted(m for _, m in options) == sorted(MAP_METHODS), "every map method, once"
    assert "recommended" in options[0][0] and "paper" in options[1][0]
    assert widgets.map_options(["random", "plq"]) == [
        ("plq (the paper's: sensitivity of Σe)", "plq"),
        ("random", "random"),
    ]
    with pytest.raises(PixelfiqError, match="nonsense"):
        widgets.map_options(["plq", "nonsense"])
    assert "map counterfactual" in widgets.status_text(
        "f", "sface", 0.5, 0.01, 8, method="counterfactual"
    )


def test_render_explanation_draws_another_map_as_ranks_with_the_same_quality(sface, face):
    hidden = widgets.apply_edits(face, occluder=(56, 52, 40))
    fig, res = widgets.render_explanation(
        sface,
        hidden,
        n_passes=8,
        seed=0,
        method="counterfactual",
        map_kwargs={"n_passes": 10, "n_segments": (25,), "seed": 0},
    )
    try:
        assert isinstance(res, widgets.MapExplanation) and res.method == "counterfactual"
        assert res.map.shape == res.ranks.shape == (1, 112, 112)
        assert 0 < float(res.ranks.min()) < float(res.ranks.max()) <= 1.0  # ties: mean rank
        assert fig.axes[1].get_title() == "counterfactual (rank)"
        _, plq = widgets.render_explanation(sface, hidden, n_passes=8, seed=0)
        assert float(res.quality.q[0]) == pytest.approx(float(plq.quality.q[0]), abs=1e-6)
        # the black square over the eyes is what lowers quality: it ranks below the rest
        square = np.zeros((112, 112), bool)
        square[32:72, 36:76] = True
        ranks = res.ranks[0].numpy()
        assert ranks[square].mean() < ranks[~square].mean()
    finally:
        plt.close("all")
    with pytest.raises(PixelfiqError, match="unknown map method"):
        widgets.render_explanation(sface, face, n_passes=8, method="nonsense")


def test_explorer_opens_on_the_recommended_map_and_switches_maps(sface, face):
    pytest.importorskip("ipywidgets")
    loads, load = _counting(sface)
    box = widgets.explorer({"f": face}, ["sface"], load=load, n_passes=8, fast=True)
    menu, status = box.controls["map"], box.children[1]
    assert menu.value == widgets.RECOMMENDED_MAP and menu in box.children[0].children[2].children
    first = box.update()
    assert isinstance(first, widgets.MapExplanation) and first.method == widgets.RECOMMENDED_MAP
    assert f"map {widgets.RECOMMENDED_MAP}" in status.value
    before = len(loads)
    menu.value = "plq"  # observers redraw once, with the paper's map
    assert len(loads) == before + 1 and "map plq" in status.value
    switched = box.update()
    assert switched.plq.shape == (1, 112, 112)
    assert float(switched.quality.q[0]) == pytest.approx(float(first.quality.q[0]), abs=1e-6)
    with pytest.raises(PixelfiqError, match="default_map"):
        widgets.explorer({"f": face}, ["sface"], load=load, maps=["plq"], default_map="random")
    plt.close("all")
