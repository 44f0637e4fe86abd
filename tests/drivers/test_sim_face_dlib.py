"""The simulated face through a real face tracker: dlib's HOG detector and 68-point landmarks.

The tracker the analysis uses was built for real faces; these tests show the simulated
participant is one to it: found in every kind of frame the camera makes, landmarks where the
renderer put them, and AUs moving the landmarks of their region the right way, more for a
macro- than for a micro-expression.
"""

from __future__ import annotations

import cv2
import dlib
import face_recognition_models
import numpy as np
import pytest

from core.expressions import EMOTION_AUS
from drivers.sim.expression import REFERENCE_FACE_HEIGHT, Expression
from drivers.sim.face import BLINK_CLOSE, FaceRenderer

DETECTOR = dlib.get_frontal_face_detector()
PREDICTOR = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
# Camera sizes: the dataset's, the simulated lab's and the rig's (detected at a third).
SIZES = (((320, 240), 1), ((640, 480), 1), ((2040, 1088), 3))


def _track(bgr: np.ndarray, down: int) -> tuple[list, np.ndarray | None]:
    """dlib faces (frame px) found on the frame downsized by down, landmarks of the first."""
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    small = rgb if down == 1 else cv2.resize(
        rgb, (rgb.shape[1] // down, rgb.shape[0] // down), interpolation=cv2.INTER_AREA
    )
    faces = [
        dlib.rectangle(f.left() * down, f.top() * down, f.right() * down, f.bottom() * down)
        for f in DETECTOR(small, 0)
    ]
    if not faces:
        return faces, None
    shape = PREDICTOR(rgb, faces[0])
    return faces, np.array([(p.x, p.y) for p in shape.parts()], float)


def _iou(f, box) -> float:
    x, y, w, h = box
    iw = max(0, min(f.right(), x + w) - max(f.left(), x))
    ih = max(0, min(f.bottom(), y + h) - max(f.top(), y))
    return iw * ih / (f.width() * f.height() + w * h - iw * ih)


def _frames(r: FaceRenderer) -> dict[str, np.ndarray]:
    """Neutral, the apex of a micro and a macro of every emotion, and the middle of a blink."""
    t = next(t for t in np.arange(1.0, 60.0, 0.1) if r.blinks(t - 0.5, t + 0.5) == [])
    out = {"neutral": r.render_bgr(t - 0.2)}
    if r.blink_rate > 0:
        out["blink"] = r.render_bgr(r.blinks(0.0, 60.0)[0] + BLINK_CLOSE + 0.007)
    for emotion in EMOTION_AUS:
        for kind in ("micro", "macro"):
            e = Expression(t - 0.1, t, t + 0.3, kind, emotion)
            out[f"{kind} {emotion}"] = r.render_bgr(t, [e])
    return out


@pytest.mark.parametrize(("size", "down"), SIZES)
@pytest.mark.parametrize("seed", [1, 6])
def test_dlib_finds_the_face_in_every_kind_of_frame(size, down: int, seed: int) -> None:
    r = FaceRenderer(*size, seed=seed)  # with sensor noise, blinks and head motion
    for name, bgr in _frames(r).items():
        faces, pts = _track(bgr, down)
        assert len(faces) == 1, f"{name}: {len(faces)} faces"
        assert _iou(faces[0], r.face_box) > 0.5, name
        # Landmarks where the renderer put the face's own (the photo's, placed for this seed).
        err = np.linalg.norm(pts - r.landmarks, axis=1)
        limit = 0.06 if name.startswith("macro") else 0.02  # a macro moves some 2.5 % of F
        assert np.median(err) < limit * r.face_height, name


def test_a_blink_closes_the_eyes_for_the_landmarks() -> None:
    lids = [(37, 41), (38, 40), (43, 47), (44, 46)]  # upper, lower lid points facing each other

    def opening(bgr: np.ndarray) -> float:
        pts = _track(bgr, 1)[1]
        return float(np.mean([pts[lo, 1] - pts[up, 1] for up, lo in lids]))

    ratios = []
    for seed in (1, 2, 3):
        frames = _frames(FaceRenderer(640, 480, seed=seed))
        ratios.append(opening(frames["blink"]) / opening(frames["neutral"]))
    # dlib's eye points never quite meet (its training faces seldom blink): on average the
    # lids close in by over a third, and on every face by some.
    assert np.mean(ratios) < 0.65 and max(ratios) < 0.95, ratios


def test_head_motion_moves_the_landmarks_with_the_head() -> None:
    r = FaceRenderer(640, 480, seed=3, noise_sigma=0, blink_rate=0, head_motion=25.0)
    ts = np.arange(0, 30, 0.05)
    dx = np.array([r.head_offset(t)[0] for t in ts])
    t0, t1 = ts[np.argmin(dx)], ts[np.argmax(dx)]
    (f0, p0), (f1, p1) = _track(r.render_bgr(t0), 1), _track(r.render_bgr(t1), 1)
    assert len(f0) == len(f1) == 1
    # The similarity transform between the two landmark sets is the head's shift and roll.
    m = cv2.estimateAffinePartial2D(p0, p1, method=cv2.LMEDS)[0]
    roll = np.arctan2(m[1, 0], m[0, 0])
    x, y, w, h = r.face_box
    centre = np.array([x + w / 2, y + h / 2])  # what the head rolls about
    shift = m[:, :2] @ centre + m[:, 2] - centre
    truth = np.subtract(r.head_offset(t1), r.head_offset(t0))
    assert abs(truth[0]) > 0.5 * 25 * r.face_height / REFERENCE_FACE_HEIGHT
    assert np.allclose(shift, truth, atol=2.0), (shift, truth)
    assert roll == pytest.approx(r.head_roll(t1) - r.head_roll(t0), abs=0.01)


# What each emotion's AUs do to the landmarks (image coordinates, y down), as a displacement
# that is positive in the expected direction.
EXPECTED = {
    "happiness": ("AU12 lifts the lip corners", lambda d: -d[[48, 54], 1].mean()),
    "sadness": ("AU15 pulls the lip corners down", lambda d: d[[48, 54], 1].mean()),
    "surprise": ("AU1+2 raise the brows", lambda d: -d[17:27, 1].mean()),
    "fear": ("AU1+2 (over AU4) raise the brows", lambda d: -d[17:27, 1].mean()),
    "anger": ("AU4 lowers the brows", lambda d: d[17:27, 1].mean()),
    "disgust": ("AU10 raises the upper lip", lambda d: -d[51, 1]),
    "contempt": ("AU14 pulls the subject's right lip corner out", lambda d: -d[48, 0]),
}


def test_expressions_move_their_landmarks_more_for_macro_than_micro() -> None:
    r = FaceRenderer(2040, 1088, seed=4, noise_sigma=0, blink_rate=0, head_motion=0)
    frames = _frames(r)
    neutral = _track(frames["neutral"], 3)[1]
    nominal = 15.0 * r.face_height / REFERENCE_FACE_HEIGHT  # a macro's peak displacement, px
    for emotion, (what, moved) in EXPECTED.items():
        micro = moved(_track(frames[f"micro {emotion}"], 3)[1] - neutral)
        macro = moved(_track(frames[f"macro {emotion}"], 3)[1] - neutral)
        assert 0 < micro < macro, f"{emotion}: {what}: micro {micro:.2f} px, macro {macro:.2f} px"
        assert macro > 0.25 * nominal, f"{emotion}: {what}: macro only {macro:.2f} px"
