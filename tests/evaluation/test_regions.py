"""Face regions of the aligned crop and the per-region PLQ summaries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelfiq_lib.data import ARCFACE_TEMPLATE, AlignedFace
from pixelfiq_lib.errors import InvalidArgumentError
from pixelfiq_lib.evaluation.regions import (
    FACE_REGIONS,
    REGIONS,
    crop_landmarks,
    describe_lowest_region,
    region_masks,
    region_reference,
    region_summary,
)


def rotated_template(degrees: float) -> np.ndarray:
    """The ArcFace template rotated about the crop centre (a tilted face)."""
    t = np.deg2rad(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return ((ARCFACE_TEMPLATE - 56.0) @ rot.T + 56.0).astype(np.float32)


def at(mask: np.ndarray, point: np.ndarray) -> bool:
    x, y = point
    return bool(mask[int(round(y)), int(round(x))])


@pytest.mark.parametrize("landmarks", [None, rotated_template(12.0)], ids=["template", "tilted"])
def test_masks_partition_the_crop(landmarks):
    masks = region_masks(landmarks)
    assert list(masks) == list(REGIONS)
    stack = np.stack(list(masks.values()))
    assert stack.dtype == bool and stack.shape == (len(REGIONS), 112, 112)
    assert (stack.sum(0) == 1).all()  # disjoint and covering
    assert all(m.sum() > 100 for m in masks.values())
    lmk = ARCFACE_TEMPLATE if landmarks is None else landmarks
    assert at(masks["left_eye"], lmk[0]) and at(masks["right_eye"], lmk[1])
    assert at(masks["nose"], lmk[2])
    assert at(masks["mouth"], lmk[3]) and at(masks["mouth"], lmk[4])


def test_masks_are_placed_sensibly():
    masks = region_masks()
    rows, cols = np.mgrid[:112, :112]

    def cx(name: str) -> float:
        return cols[masks[name]].mean()

    def cy(name: str) -> float:
        return rows[masks[name]].mean()

    assert cx("left_eye") < 56 < cx("right_eye")  # named from the viewer's side
    assert cx("left_cheek") < 56 < cx("right_cheek")
    assert cy("forehead") < cy("left_eye") < cy("nose") < cy("mouth") < cy("chin")
    bg = masks["background"]
    assert bg[0, 0] and bg[111, 0] and not bg[60, 56]
    # the template is almost symmetric, so are the cheeks
    assert abs(int(masks["left_cheek"].sum()) - int(masks["right_cheek"].sum())) < 60


def test_masks_scale_with_crop_size():
    big = region_masks(size=224)
    assert big["left_eye"].shape == (224, 224)
    assert at(big["left_eye"], 2 * ARCFACE_TEMPLATE[0])


def test_bad_landmarks_raise():
    with pytest.raises(InvalidArgumentError):
        region_masks(np.zeros((4, 2)))
    with pytest.raises(InvalidArgumentError):
        region_masks(np.zeros((5, 2)))  # coinciding eyes


def test_crop_landmarks():
    blank = AlignedFace(np.zeros((112, 112, 3), np.uint8), 0, None, "<array>")
    assert np.allclose(crop_landmarks(blank), ARCFACE_TEMPLATE)
    from pixelfiq_lib.data import sample_faces

    lmk = crop_landmarks(sample_faces(1)[0])
    assert lmk.shape == (5, 2)
    # a least-squares similarity fit: close to the template, not on it
    assert np.abs(lmk - ARCFACE_TEMPLATE).max() < 12.0


def synthetic_map(low_region: str, low: float = 0.1, high: float = 0.7) -> torch.Tensor:
    plq = torch.full((112, 112), high)
    plq[torch.from_numpy(region_masks()[low_region])] = low
    return plq


@pytest.mark.parametrize("region", ["mouth", "left_eye", "forehead"])
def test_summary_and_description_name_the_low_region(region):
    stats = region_summary(synthetic_map(region))
    assert [s.region for s in stats] == list(REGIONS)
    by_name = {s.region: s for s in stats}
    assert by_name[region].mean_plq == pytest.approx(0.1)
    assert by_name[region].share_low == 1.0
    assert all(by_name[r].share_low == 0.0 for r in REGIONS if r != region)
    text = describe_lowest_region(synthetic_map(region))
    words = {"mouth": "mouth", "left_eye": "image-left eye", "forehead": "forehead"}
    assert text.startswith(
        f"The {words[region]} region has the lowest pixel quality "
        "(mean 0.10 vs 0.70 for the rest of the face"
    )
    assert "Check for" in text


def test_description_compares_with_the_face_not_the_background():
    plq = synthetic_map("background", low=0.0, high=0.6)  # must be ignored
    plq[torch.from_numpy(region_masks()["chin"])] = 0.3
    text = describe_lowest_region(plq)
    assert text.startswith("The chin region")
    assert "vs 0.60 for the rest of the face" in text


def test_reference_pattern_names_the_unusually_low_region():
    masks = {k: torch.from_numpy(m) for k, m in region_masks().items()}
    typical = torch.full((3, 112, 112), 0.6)
    for cheek in ("left_cheek", "right_cheek"):
        typical[:, masks[cheek]] = 0.2  # cheeks are always low on clean faces
    ref = region_reference(typical)
    assert set(ref) == set(FACE_REGIONS) and ref["left_cheek"] < ref["mouth"]
    query = typical[0].clone()
    query[masks["mouth"]] = 0.4  # lower than usual, but above the cheeks
    assert describe_lowest_region(query).startswith("The image-left cheek region")
    text = describe_lowest_region(query, reference=ref)
    assert text.startswith("The mouth region has the lowest pixel quality for its place")
    assert "typically" in text


def test_region_summary_accepts_numpy_and_rejects_bad_maps():
    stats = region_summary(np.full((1, 112, 112), 0.4), low_threshold=0.5)
    assert all(s.share_low == 1.0 for s in stats) and len(stats) == len(REGIONS)
    with pytest.raises(InvalidArgumentError):
        region_summary(torch.zeros(2, 112, 112))
    with pytest.raises(InvalidArgumentError):
        describe_lowest_region(torch.full((112, 112), float("nan")))
    with pytest.raises(InvalidArgumentError):
        region_reference(torch.zeros(112, 112))
