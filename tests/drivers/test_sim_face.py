"""Simulated face camera: determinism, raw formats, face detectability, expressions, blinks."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from core.expressions import EMOTION_AUS
from drivers.imaging import debayer, mosaic, to_gray
from drivers.sim.expression import AU_NAMES, REFERENCE_FACE_HEIGHT, Expression, intensity_at
from drivers.sim.face import FaceRenderer

HAAR = getattr(cv2, "CascadeClassifier", None)


@pytest.fixture(scope="module")
def quiet() -> FaceRenderer:
    """640x480 renderer without noise, blinks or head motion: differences are expressions only."""
    return FaceRenderer(640, 480, seed=7, noise_sigma=0, blink_rate=0, head_motion=0)


def _au_mask(r: FaceRenderer, aus) -> np.ndarray:
    mask = np.zeros((r.height, r.width), bool)
    for au in aus:
        x0, y0, x1, y1 = r.au_box(au)
        mask[max(0, y0) : y1, max(0, x0) : x1] = True
    return mask


# -- Expression and intensity_at ------------------------------------------------------------------
def test_intensity_rises_to_one_at_apex_and_falls_to_zero() -> None:
    e = Expression(1.0, 1.2, 1.5, "micro", "happiness")
    assert intensity_at(e, 1.0) == 0.0 and intensity_at(e, 1.5) == 0.0
    assert intensity_at(e, 0.5) == 0.0 and intensity_at(e, 2.0) == 0.0
    assert intensity_at(e, 1.2) == 1.0
    assert intensity_at(e, 1.1) == pytest.approx(0.5)  # raised cosine: half way at mid-rise
    assert intensity_at(e, 1.35) == pytest.approx(0.5)
    rise = [intensity_at(e, t) for t in np.linspace(1.0, 1.2, 21)]
    fall = [intensity_at(e, t) for t in np.linspace(1.2, 1.5, 31)]
    assert np.all(np.diff(rise) > 0) and np.all(np.diff(fall) < 0)
    instant = Expression(2.0, 2.0, 2.3, "micro", "anger")  # apex at onset is allowed
    assert intensity_at(instant, 2.0) == 1.0 and intensity_at(instant, 2.15) == pytest.approx(0.5)


def test_expression_defaults_and_validation() -> None:
    e = Expression(0.0, 0.1, 0.3, "micro", "surprise")
    assert e.aus == EMOTION_AUS["surprise"] == (1, 2, 5, 26)
    assert e.intensity == 4.0
    assert Expression(0.0, 0.5, 2.0, "macro", "disgust").intensity == 15.0
    assert Expression(0.0, 0.1, 0.3, "micro", "fear", aus=(1, 2), intensity=2.5).aus == (1, 2)
    assert EMOTION_AUS["contempt"] == (14,) and EMOTION_AUS["happiness"] == (6, 12)
    # A micro-expression may be longer than 0.5 s only if it reaches its apex within 0.25 s.
    assert Expression(0.0, 0.2, 0.7, "micro", "sadness").offset == 0.7
    bad = [
        dict(onset=0.0, apex=0.1, offset=0.3, kind="mini", emotion="fear"),
        dict(onset=0.0, apex=0.1, offset=0.3, kind="micro", emotion="boredom"),
        dict(onset=0.0, apex=0.4, offset=0.3, kind="micro", emotion="fear"),
        dict(onset=0.0, apex=0.3, offset=0.8, kind="micro", emotion="fear"),
        dict(onset=0.0, apex=0.1, offset=0.3, kind="micro", emotion="fear", aus=(43,)),
        dict(onset=0.0, apex=0.1, offset=0.3, kind="micro", emotion="fear", intensity=0.0),
    ]
    for kw in bad:
        with pytest.raises(ValueError):
            Expression(**kw)


# -- formats, determinism, noise ------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["bayer_rg8", "mono8"])
def test_shape_dtype_and_determinism(fmt: str) -> None:
    a = FaceRenderer(256, 192, fmt, seed=3)
    b = FaceRenderer(256, 192, fmt, seed=3)
    e = [Expression(1.0, 1.1, 1.3, "micro", "happiness")]
    blink = a.blinks(0.0, 30.0)[0] + 0.06
    times = [0.0, 1.1, 1.25, blink, 17.3, 1.1]
    first = [a.render(t, e) for t in times]
    for t, img in zip(times, first, strict=True):
        assert img.shape == (192, 256) and img.dtype == np.uint8
        assert np.array_equal(img, b.render(t, e))  # a fresh renderer agrees
    # Rendering in another order (different cache state) gives the same frames.
    for t, img in reversed(list(zip(times, first, strict=True))):
        assert np.array_equal(img, a.render(t, e))
    assert np.array_equal(first[1], first[5])
    assert not np.array_equal(first[0], FaceRenderer(256, 192, fmt, seed=4).render(0.0, e))


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        FaceRenderer(256, 192, "bayer_xx8")
    with pytest.raises(ValueError):
        FaceRenderer(255, 192)
    with pytest.raises(ValueError):
        FaceRenderer(256, 192, noise_sigma=-1)


def test_sensor_noise_is_per_frame_and_about_2_5_dn() -> None:
    r = FaceRenderer(320, 240, seed=1, blink_rate=0, head_motion=0)
    clean = FaceRenderer(320, 240, seed=1, blink_rate=0, head_motion=0, noise_sigma=0).render(0.0)
    frames = [r.render(k / 150).astype(np.int16) for k in range(6)]
    for a, b in itertools.pairwise(frames):
        d = (a - b)[:40, :80]  # backdrop corner
        assert 3.0 < d.std() < 4.2  # sqrt(2) * 2.5
        assert abs(d.mean()) < 0.3
    n = frames[0] - clean
    assert abs(n.mean()) < 0.1 and 2.2 < n.std() < 2.8
    assert np.abs(n).max() <= 9  # clipped Gaussian


# -- Bayer layout and debayering ------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["bayer_rg8", "bayer_gr8", "bayer_gb8", "bayer_bg8"])
def test_debayer_recovers_a_known_colour_in_every_layout(fmt: str) -> None:
    bgr = np.empty((16, 16, 3), np.uint8)
    bgr[:] = (30, 90, 200)  # B, G, R
    raw = mosaic(bgr, fmt)
    assert np.array_equal(debayer(raw, fmt)[4:-4, 4:-4], bgr[4:-4, 4:-4])
    assert abs(int(to_gray(raw, fmt)[8, 8]) - int(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[8, 8])) <= 1
    with pytest.raises(ValueError):
        debayer(raw, "bayer_xx8")


@pytest.mark.parametrize("seed", [2, 3, 11])
def test_bayer_mosaic_is_rggb_with_a_lab_wall_not_a_green_backdrop(seed: int) -> None:
    r = FaceRenderer(320, 240, seed=seed, noise_sigma=0)
    raw = r.render(0.0)
    corner = raw[:40, :60].astype(float)
    g1, g2 = corner[0::2, 1::2], corner[1::2, 0::2]
    assert g1.mean() == pytest.approx(g2.mean(), abs=3)
    bgr = debayer(raw, "bayer_rg8")
    # The skin in the cheek is red-dominant after debayering (a swapped phase gives blue).
    x, y, w, h = r.face_box
    b, g, rr = bgr[y + h // 2 : y + h // 2 + 6, x + w // 4 : x + w // 4 + 6].reshape(-1, 3).mean(0)
    assert rr > g > b
    # Around the person a pale, nearly grey wall: nothing a green-backdrop segmentation keys on.
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    wall = np.concatenate([hsv[:40, :60].reshape(-1, 3), hsv[:40, -60:].reshape(-1, 3)])
    assert wall[:, 1].mean() < 60 and wall[:, 2].mean() > 100  # low saturation, bright
    # (a few hair tips keep a green fringe of the photo's hillside)
    assert (cv2.inRange(hsv, (40, 80, 40), (85, 255, 255))[:40] > 0).mean() < 0.005


def test_mono_matches_grey_of_colour_scene() -> None:
    mono = FaceRenderer(320, 240, "mono8", seed=2, noise_sigma=0).render(0.0).astype(float)
    grey = to_gray(FaceRenderer(320, 240, seed=2, noise_sigma=0).render(0.0), "bayer_rg8")
    assert np.abs(mono - grey)[20:-20, 20:-20].mean() < 3.0


# -- face detectability ---------------------------------------------------------------------------
def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    return iw * ih / (aw * ah + bw * bh - iw * ih)


@pytest.mark.skipif(HAAR is None, reason="OpenCV 5 has no CascadeClassifier: needs opencv<5")
@pytest.mark.parametrize(
    ("size", "down", "seed"),
    [((640, 480), 1, 0), ((640, 480), 1, 5), ((2040, 1088), 4, 1), ((256, 192), 1, 2)],
)
def test_haar_cascade_finds_the_face(size, down: int, seed: int) -> None:
    r = FaceRenderer(*size, seed=seed)
    grey = cv2.cvtColor(debayer(r.render(3.0), "bayer_rg8"), cv2.COLOR_BGR2GRAY)
    if down > 1:  # the analysis downsizes full frames before detection
        grey = cv2.resize(grey, (size[0] // down, size[1] // down), interpolation=cv2.INTER_AREA)
    cascade = HAAR(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    faces = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5)
    assert len(faces) == 1
    x, y, w, h = (int(v) * down for v in faces[0])
    fx, fy, fw, fh = r.face_box
    # Haar boxes are square, brow to mouth; the truth is the whole oval: centres agree.
    assert abs((x + w / 2) - (fx + fw / 2)) < 0.1 * fw
    assert abs((y + h / 2) - (fy + fh / 2)) < 0.15 * fh
    assert _iou((x, y, w, h), r.face_box) > 0.5


# -- expressions, blinks, head motion ------------------------------------------------------------
def test_micro_expression_moves_only_its_au_regions(quiet: FaceRenderer) -> None:
    micro = Expression(1.0, 1.1, 1.4, "micro", "happiness")
    onset = quiet.render(1.0, [micro]).astype(np.int16)
    apex = np.abs(quiet.render(1.1, [micro]).astype(np.int16) - onset)
    inside = _au_mask(quiet, micro.aus)
    assert apex.sum() > 0 and apex[~inside].sum() == 0  # nothing outside the AU regions moves
    assert apex.max() >= 20  # lip and cheek edges do move
    assert apex.mean() < 0.3  # ...by a couple of pixels at this size
    # Same displacement in reference pixels -> scaled to this face (264 px of 600).
    assert quiet.face_height / REFERENCE_FACE_HEIGHT == pytest.approx(0.44, abs=0.03)
    x, y, w, h = quiet.face_box
    assert inside[y : y + h, x : x + w].sum() == inside.sum()  # AU regions lie in the face
    macro = Expression(1.0, 1.3, 2.5, "macro", "happiness")
    big = np.abs(quiet.render(1.3, [macro]).astype(np.int16) - onset)
    assert big.mean() > 2 * apex.mean() and big[~inside].sum() == 0


@pytest.mark.parametrize("emotion", sorted(EMOTION_AUS))
def test_each_emotion_changes_its_regions(quiet: FaceRenderer, emotion: str) -> None:
    e = Expression(0.0, 0.1, 0.3, "micro", emotion)
    d = np.abs(quiet.render(0.1, [e]).astype(np.int16) - quiet.render(0.0).astype(np.int16))
    inside = _au_mask(quiet, e.aus)
    assert d[inside].sum() > 500 and d[~inside].sum() == 0


@pytest.mark.parametrize("au", sorted(AU_NAMES))
def test_every_simulated_au_moves_only_its_region(quiet: FaceRenderer, au: int) -> None:
    e = Expression(0.0, 0.1, 0.3, "micro", "fear", aus=(au,))
    d = np.abs(quiet.render(0.1, [e]).astype(np.int16) - quiet.render(0.0).astype(np.int16))
    inside = _au_mask(quiet, (au,))
    assert d[inside].sum() > 0 and d[~inside].sum() == 0


def test_micro_expression_visible_through_noise() -> None:
    r = FaceRenderer(640, 480, seed=7, blink_rate=0, head_motion=0)
    e = Expression(1.0, 1.15, 1.45, "micro", "surprise", intensity=6.0)
    d = np.abs(r.render(1.15, [e]).astype(np.int16) - r.render(1.0, [e]).astype(np.int16))
    inside = _au_mask(r, e.aus)
    assert d[inside].mean() > 1.3 * d[~inside].mean()


def test_tiny_expression_path_matches_static_frame() -> None:
    # A barely-active expression goes through the warp path; its boxes must paste back
    # seamlessly and in the right Bayer phase, also with the head shifted.
    r = FaceRenderer(320, 240, seed=9, noise_sigma=0, blink_rate=0, head_motion=4.0)
    e = Expression(0.0, 5.0, 10.0, "macro", "fear", intensity=0.03)  # ~0.007 px here
    for t in (2.5, 5.0, 7.0):
        assert r.head_offset(t) != (0.0, 0.0)
        d = np.abs(r.render(t, [e]).astype(np.int16) - r.render(t).astype(np.int16))
        # Remap's 1/32 px steps on the photo's sharpest edges change a few DN; a wrong phase
        # or seam would be ~100 DN.
        assert d.max() <= 8 and d.mean() < 0.01


def test_blink_changes_only_the_eyes() -> None:
    r = FaceRenderer(640, 480, seed=4, noise_sigma=0, head_motion=0)
    starts = r.blinks(0.0, 600.0)
    assert 80 <= len(starts) <= 120  # 10 per minute
    gaps = np.diff(starts)
    assert gaps.min() >= 0.15 and gaps.max() <= 12.0
    s = starts[3]
    assert r.blink_closure(s) == 0.0 and r.blink_closure(s + 0.15) == 0.0
    assert r.blink_closure(s + 0.06) == 1.0 and 0 < r.blink_closure(s + 0.03) < 1
    open_, closed = r.render(s - 0.01).astype(np.int16), r.render(s + 0.06).astype(np.int16)
    d = np.abs(closed - open_)
    mask = np.zeros(d.shape, bool)
    for x0, y0, x1, y1 in r.eye_boxes:
        mask[y0:y1, x0:x1] = True
        assert d[y0:y1, x0:x1].mean() > 10  # the eye is covered by the lid
    assert d[~mask].sum() == 0
    assert np.array_equal(r.render(s + 0.2), r.render(s - 0.01))  # open again
    assert FaceRenderer(64, 48, blink_rate=0).blinks(0, 600) == []


def test_head_motion_is_small_slow_and_moves_only_the_head() -> None:
    r = FaceRenderer(640, 480, seed=5, noise_sigma=0, blink_rate=0, head_motion=1.0)
    ts = np.arange(0, 60, 1 / 150)
    off = np.array([r.head_offset(t) for t in ts])
    amp = 1.0 * r.face_height / REFERENCE_FACE_HEIGHT
    assert np.abs(off).max() <= amp + 1e-9 and np.abs(off).max() > 0.3 * amp
    assert np.abs(np.diff(off, axis=0)).max() < 0.02  # slow: < 0.02 px per frame
    a, b = (r.render(t).astype(np.int16) for t in ts[[np.argmin(off[:, 0]), np.argmax(off[:, 0])]])
    d = np.abs(a - b)
    x, y, w, h = r.face_box
    assert d[y : y + h, x : x + w].mean() > 0.2  # the face moved
    m = round(0.3 * h)  # beyond the head region
    assert d[:, : x - m].sum() == 0 and d[:, x + w + m :].sum() == 0  # the wall did not
