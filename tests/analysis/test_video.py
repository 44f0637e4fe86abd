"""Face video preprocessing and flow features: crop, eyes, Bayer paths, flow, optical strain."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from analysis.face import (
    CROP_SIZE,
    backdrop_mask,
    crop_frames,
    crop_regions,
    default_eye_boxes,
    face_crop,
    face_crop_raw,
    iter_crops,
)
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
from drivers.imaging import debayer, to_gray
from drivers.sim.expression import Expression
from drivers.sim.face import FaceRenderer


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def _to_crop(box: tuple[int, int, int, int], crop) -> tuple[float, float]:
    """Centre of a frame-pixel (x0, y0, x1, y1) box in crop pixels."""
    x0, y0, x1, y1 = box
    sx, sy = crop.size / crop.w, crop.size / crop.h
    return ((x0 + x1) / 2 - crop.x) * sx, ((y0 + y1) / 2 - crop.y) * sy


@pytest.fixture(scope="module")
def renderer() -> FaceRenderer:
    return FaceRenderer(640, 480, seed=4)


# -- segmentation, detection, crop ----------------------------------------------------------------
def test_backdrop_mask_separates_green_from_the_participant(renderer: FaceRenderer) -> None:
    mask = backdrop_mask(renderer.render_bgr(0.0))
    x, y, w, h = renderer.face_box
    assert mask[5:40, 5:60].all()  # top-left corner: backdrop
    assert not mask[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4].any()  # face
    assert 0.4 < mask.mean() < 0.8


@pytest.mark.parametrize(("size", "seed"), [((640, 480), 4), ((2040, 1088), 1), ((320, 240), 2)])
def test_face_crop_finds_the_face_and_its_eyes(size: tuple[int, int], seed: int) -> None:
    r = FaceRenderer(*size, seed=seed)
    crop = face_crop_raw(r.render(0.0), "bayer_rg8")
    assert crop.detected
    assert crop.x % 2 == crop.y % 2 == crop.w % 2 == crop.h % 2 == 0  # Bayer cells kept whole
    assert _iou((crop.x, crop.y, crop.w, crop.h), r.face_box) > 0.55
    assert crop.foreground is not None and crop.foreground.shape == (CROP_SIZE, CROP_SIZE)
    assert 0.6 < crop.foreground.mean() < 0.95  # the Haar box shows some backdrop at its corners
    # One eye box on each true eye, centred within 3 crop pixels, and it covers the opening.
    assert len(crop.eyes) == 2
    for (ex, ey, ew, eh), true_eye in zip(crop.eyes, r.eye_boxes, strict=True):
        tx, ty = _to_crop(true_eye, crop)
        assert abs(ex + ew / 2 - tx) < 3 and abs(ey + eh / 2 - ty) < 3
        assert 18 <= ew <= 32 and 12 <= eh <= 24
    assert crop.eye_mask().sum() == sum(w * h for _, _, w, h in crop.eyes)


def test_face_crop_of_a_grey_frame_has_no_backdrop(renderer: FaceRenderer) -> None:
    grey = cv2.cvtColor(renderer.render_bgr(0.0), cv2.COLOR_BGR2GRAY)
    crop = face_crop(grey)
    assert crop.detected and _iou((crop.x, crop.y, crop.w, crop.h), renderer.face_box) > 0.55
    assert crop.foreground is not None and crop.foreground.all()


def test_no_face_falls_back_to_the_foreground_head_with_a_warning(caplog) -> None:
    # A skin-coloured block on shoulders on the green backdrop: no eyes, no Haar face.
    # (A plain skin ellipse is not enough: the cascade calls some of those faces.)
    img = np.zeros((480, 640, 3), np.uint8)
    img[:] = (55, 150, 70)
    cv2.rectangle(img, (225, 85), (415, 335), (120, 150, 200), -1)
    cv2.ellipse(img, (320, 560), (230, 160), 0, 0, 360, (90, 60, 45), -1)
    with caplog.at_level(logging.WARNING, logger="analysis.face"):
        crop = face_crop(img)
    assert not crop.detected
    assert "no face detected" in caplog.text
    # The head spans x 225..415 from y 85: the box is its width, a fifth of it below the top.
    assert (crop.x, crop.y, crop.w, crop.h) == (224, 122, 190, 192)  # even-aligned
    assert crop.eyes == default_eye_boxes(CROP_SIZE)


def test_crop_frames_bayer_half_resolution_is_the_2x2_cell_mean() -> None:
    r = FaceRenderer(2040, 1088, seed=1)
    raw = np.stack([r.render(t) for t in (0.0, 0.5, 1.0)])
    crop = face_crop_raw(raw[0], "bayer_rg8")
    assert crop.h // 2 >= CROP_SIZE  # a full-frame face: the half-resolution path
    out = crop_frames(raw, "bayer_rg8", crop)
    assert out.shape == (3, CROP_SIZE, CROP_SIZE) and out.dtype == np.uint8
    region = raw[1, crop.y : crop.y + crop.h, crop.x : crop.x + crop.w].astype(np.float64)
    cells = region.reshape(crop.h // 2, 2, crop.w // 2, 2).mean(axis=(1, 3))
    expected = cv2.resize(cells, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
    assert np.abs(out[1] - expected).max() <= 1.0  # rounding only
    # The same face as a full demosaic to grey (different luminance weights): very alike.
    full = to_gray(raw[1], "bayer_rg8")[crop.y : crop.y + crop.h, crop.x : crop.x + crop.w]
    ref = cv2.resize(full, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
    assert np.corrcoef(out[1].ravel(), ref.ravel())[0, 1] > 0.97


def test_iter_crops_reads_blocks_of_the_face_region(renderer: FaceRenderer) -> None:
    raw = np.stack([renderer.render(t) for t in np.arange(7) / 150])
    crop = face_crop_raw(raw[0], "bayer_rg8")
    blocks = list(iter_crops(raw, "bayer_rg8", crop, block=3))
    assert [len(b) for b in blocks] == [3, 3, 1]
    assert np.array_equal(np.concatenate(blocks), crop_frames(raw, "bayer_rg8", crop))


def test_crop_regions_small_faces_are_demosaiced_not_halved() -> None:
    r = FaceRenderer(320, 240, seed=2)
    raw = r.render(0.0)
    crop = face_crop_raw(raw, "bayer_rg8")
    assert crop.h // 2 < CROP_SIZE  # the half-resolution face would have to be upsampled
    region = raw[crop.y : crop.y + crop.h, crop.x : crop.x + crop.w]
    out = crop_regions(region[None], "bayer_rg8")[0]
    grey = to_gray(np.ascontiguousarray(region), "bayer_rg8")
    ref = cv2.resize(grey, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(out, ref)


def test_crop_frames_mono(renderer: FaceRenderer) -> None:
    r = FaceRenderer(640, 480, pixel_format="mono8", seed=4)
    raw = r.render(0.0)
    crop = face_crop_raw(raw, "mono8")
    out = crop_frames(raw[None], "mono8", crop)[0]
    ref = cv2.resize(
        raw[crop.y : crop.y + crop.h, crop.x : crop.x + crop.w],
        (CROP_SIZE, CROP_SIZE),
        interpolation=cv2.INTER_AREA,
    )
    assert np.array_equal(out, ref)


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
    raw = np.stack([r.render(-1.0), r.render(0.5, [smile])])
    crop = face_crop_raw(raw[0], "bayer_rg8")
    onset, apex = crop_frames(raw, "bayer_rg8", crop)
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


def test_debayer_and_half_resolution_agree_on_colour_frames(renderer: FaceRenderer) -> None:
    # face_crop takes the demosaiced frame; face_crop_raw is the same thing from raw.
    raw = renderer.render(0.0)
    a = face_crop_raw(raw, "bayer_rg8")
    b = face_crop(debayer(raw, "bayer_rg8"))
    assert (a.x, a.y, a.w, a.h, a.eyes) == (b.x, b.y, b.w, b.h, b.eyes)
