"""Face video: grey regions, alignment, ROI layout, flow features, optical strain."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from analysis.face import (
    CROP_SIZE,
    binning,
    face_layout,
    gray_region,
    template_eyes,
    warp_crop,
)
from analysis.face_track import FaceTracker
from analysis.flow import (
    FEATURES_PER_BLOCK,
    FLOW_METHODS,
    block_means,
    feature_names,
    flow_features,
    flow_maps,
    optical_flow,
    optical_strain,
    remove_global_motion,
)
from analysis.landmarks import apply, detect_faces, eye_centres, landmarks, similarity
from drivers.sim.expression import Expression
from drivers.sim.face import FaceRenderer

DATA = Path(__file__).resolve().parent.parent / "data"


def test_gray_region_bayer_is_the_2x2_cell_mean_and_mono_is_unchanged() -> None:
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (64, 96), dtype=np.uint8)
    grey = gray_region(raw, "bayer_rg8")
    assert grey.shape == (32, 48) and binning("bayer_rg8") == 2
    cells = raw.astype(np.float64).reshape(32, 2, 48, 2).mean(axis=(1, 3))
    assert np.abs(grey - cells).max() <= 0.5 + 1e-9  # rounding only
    assert gray_region(raw, "mono8") is raw and binning("mono8") == 1
    with pytest.raises(ValueError, match="uint8"):
        gray_region(raw.astype(np.float32), "mono8")


def test_similarity_recovers_rotation_scale_and_shift() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (11, 2))
    angle, scale = np.deg2rad(7.0), 0.6
    m = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ m.T + (5.0, -3.0)
    fit = similarity(src, dst)
    assert np.allclose(fit[:, :2], m) and np.allclose(fit[:, 2], (5.0, -3.0))
    assert np.allclose(apply(fit, src), dst)


def test_warp_crop_maps_a_shifted_scaled_image_onto_the_crop() -> None:
    img = np.clip(_texture(400, seed=3) * 1.0, 0, 255).astype(np.uint8)
    # Crop pixel (u, v) shows image pixel (100 + 2u, 50 + 2v): a 0.5 scale, so the image is
    # area-averaged first; the crop then equals the 2x2 means of that window.
    m = np.array([[0.5, 0.0, -50.0], [0.0, 0.5, -25.0]])
    crop = warp_crop(img, m, 64)
    window = img[50:178, 100:228].astype(np.float64).reshape(64, 2, 64, 2).mean(axis=(1, 3))
    assert crop.shape == (64, 64) and crop.dtype == np.uint8
    assert np.abs(crop[2:-2, 2:-2] - window[2:-2, 2:-2]).mean() < 2.0


def test_face_layout_places_rois_around_the_features_and_masks_the_eyes() -> None:
    # Landmarks of a real frame (single_face.mp4, frame 0) mapped onto the crop template.
    points = _reference_points()
    layout = face_layout(points)
    assert layout.size == CROP_SIZE and len(layout.rois) == len(layout.roi_names) == 15
    rois = dict(zip(layout.roi_names, layout.rois, strict=True))
    left_eye, right_eye = template_eyes()
    assert rois["brow_l_inner"][1] + rois["brow_l_inner"][3] <= left_eye[1]  # brows above eyes
    assert rois["mouth_l"][0] < rois["mouth_r"][0]
    assert rois["chin"][1] > rois["upper_lip"][1]
    mask = layout.eye_mask()
    assert mask[round(left_eye[1]), round(left_eye[0])] and mask[round(right_eye[1]),
                                                                 round(right_eye[0])]
    assert 0.02 < mask.mean() < 0.1  # the openings only, not the brows or cheeks


def _reference_points() -> np.ndarray:
    frame = cv2.cvtColor(_first_frame("single_face.mp4"), cv2.COLOR_BGR2GRAY)
    box = detect_faces(frame)[0].box
    pts = landmarks(frame, box)
    return apply(similarity(np.array(eye_centres(pts)), template_eyes()), pts)


def _first_frame(name: str) -> np.ndarray:
    cap = cv2.VideoCapture(str(DATA / name))
    ok, frame = cap.read()
    cap.release()
    assert ok, name
    return frame


# -- optical flow and strain ----------------------------------------------------------------------
def _texture(size: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.uniform(0, 255, (size, size)), (0, 0), 2.0)


@pytest.mark.parametrize(
    ("method", "tol"),
    [("farneback", 0.03), ("dis_ultrafast", 0.12), ("dis_fast", 0.12), ("dis_medium", 0.05)],
)
def test_optical_flow_measures_a_subpixel_shift(method: str, tol: float) -> None:
    assert method in FLOW_METHODS
    base = _texture()
    shift = np.float32([[1, 0, 0.6], [0, 1, -0.4]])  # content moves right 0.6 px, up 0.4 px
    moved = cv2.warpAffine(base, shift, (128, 128), borderMode=cv2.BORDER_REFLECT)
    a, b = (np.clip(x, 0, 255).astype(np.uint8) for x in (base, moved))
    flow = optical_flow(a, b, method)
    assert flow.shape == (128, 128, 2) and flow.dtype == np.float32
    u, v = np.median(flow[16:-16, 16:-16].reshape(-1, 2), axis=0)
    assert u == pytest.approx(0.6, abs=tol) and v == pytest.approx(-0.4, abs=tol)


def test_remove_global_motion_leaves_only_the_local_part() -> None:
    flow = np.zeros((64, 64, 2), np.float32)
    flow[...] = (0.3, -0.2)  # the head moves
    flow[10:20, 10:20] += (1.0, 0.0)  # an expression moves 2.4% of the face further
    out = remove_global_motion(flow)
    assert np.allclose(out[40, 40], 0.0) and np.allclose(out[15, 15], (1.0, 0.0))
    valid = np.zeros((64, 64), bool)
    valid[:, 32:] = True
    assert np.allclose(remove_global_motion(flow, valid)[40, 40], 0.0)


def test_optical_strain_matches_eq5_on_linear_fields() -> None:
    y, x = np.mgrid[0:32, 0:32].astype(np.float32)
    # Stretch: u = 0.02 x, v = -0.01 y -> sqrt(0.02^2 + 0.01^2).
    stretch = np.dstack([0.02 * x, -0.01 * y])
    assert np.allclose(optical_strain(stretch), np.hypot(0.02, 0.01), atol=1e-6)
    # Shear: u = 0.04 y, v = 0 -> sqrt(0.5 * 0.04^2) by eq. 5 as printed.
    shear = np.dstack([0.04 * y, np.zeros_like(y)])
    assert np.allclose(optical_strain(shear), np.sqrt(0.5) * 0.04, atol=1e-6)
    # A pure translation has no strain.
    assert np.allclose(optical_strain(np.full((32, 32, 2), 0.7, np.float32)), 0.0)


def test_block_means_and_feature_names() -> None:
    img = np.arange(36, dtype=np.float32).reshape(6, 6)
    means = block_means(img, 3)
    assert means.shape == (3, 3, 1)
    assert means[0, 0, 0] == pytest.approx((0 + 1 + 6 + 7) / 4)
    assert means[2, 2, 0] == pytest.approx((28 + 29 + 34 + 35) / 4)
    names = feature_names(6)
    assert len(names) == 6 * 6 * len(FEATURES_PER_BLOCK) and names[:2] == ["b0_0_u", "b0_0_v"]
    assert names[-1] == "b5_5_strain"


def test_flow_features_locate_a_smile_in_the_mouth_blocks() -> None:
    r = FaceRenderer(640, 480, seed=4, noise_sigma=0, blink_rate=0, head_motion=0)
    smile = Expression(0.0, 0.5, 1.0, "macro", "happiness", aus=(12,), intensity=8.0)
    tracker = FaceTracker(150.0, "bayer_rg8")
    onset, apex = (tracker.push(r.render(t, [smile])).crop for t in (-1.0, 0.5))
    assert onset is not None and apex is not None, "the tracker did not find the simulated face"
    feats = flow_features(onset, apex)
    assert feats.shape == (144,) and feats.dtype == np.float32
    f = feats.reshape(6, 6, 4)
    mag, strain = f[..., 2], f[..., 3]
    assert np.unravel_index(np.argmax(mag), mag.shape)[0] == 4  # the mouth's block row
    # Lip corners move outwards and up: left block negative u, right block positive u.
    assert f[4, 1, 0] < -0.05 and f[4, 4, 0] > 0.05 and f[4, 1, 1] < 0 and f[4, 4, 1] < 0
    assert mag[4].max() > 5 * np.median(mag) and strain[4].max() > 3 * np.median(strain)
    maps = flow_maps(onset, apex)
    assert maps.shape == (128, 128, 3)
    # No motion, no features.
    assert np.abs(flow_features(onset, onset)).max() < 0.01
