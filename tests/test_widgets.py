"""The explorer's plain functions (edits, rendering, uploads) and the widget wiring."""

from __future__ import annotations

from datetime import datetime

import cv2
import numpy as np
import pytest
import torch
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


def test_explorer_draws_once_and_follows_its_controls(sface, face):
    pytest.importorskip("ipywidgets")
    loads = []

    def load(name):
        loads.append(name)
        return sface

    box = widgets.explorer(
        {"a": face, "b": np.array(sample_faces(1)[0].image)}, ["sface"], load=load, n_passes=8
    )
    assert loads == ["sface"], "the default view is drawn once on creation"
    q0 = float(box.update().quality.q[0])
    box.controls["size"].value = 50  # observers redraw
    assert len(loads) == 3
    assert float(box.update().quality.q[0]) < q0
    assert "Q̂ =" in box.children[1].value
    blob = sample_image_paths()["t1"].read_bytes()
    box.controls["upload"].value = (
        {
            "name": "t1.jpg",
            "type": "image/jpeg",
            "size": len(blob),
            "content": memoryview(blob),
            "last_modified": datetime.now(),
        },
    )
    assert box.controls["face"].value == "uploaded"
    plt.close("all")
    assert torch.is_tensor(box.update().plq)
