"""The face tracker on real clips (tests/data, see SOURCE.md): found, close to a fresh
detection, aligned; nothing in a clip without a face; spotting of the coded expressions."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from analysis.annotations import read_annotations
from analysis.clips import read_and_spot
from analysis.evaluation import frame_iou
from analysis.face_report import FaceReport, lost_spans
from analysis.face_track import FaceTracker, TrackPoint
from analysis.landmarks import detect_faces

DATA = Path(__file__).resolve().parent.parent / "data"


def _video(name: str) -> tuple[np.ndarray, float]:
    """Grey frames (n, h, w) and frame rate of a clip, like melab's file camera (mono8)."""
    cap = cv2.VideoCapture(str(DATA / name))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    cap.release()
    return np.stack(frames), fps


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["WolfgangLanger_Pexels.mp4", "single_face.mp4"])
def test_tracker_follows_a_real_face_like_a_fresh_detection(name: str) -> None:
    frames, fps = _video(name)
    tracker = FaceTracker(fps, "mono8")
    tracked = [tracker.push(f) for f in frames]
    found = [t for t in tracked if t.point.found]
    assert len(found) >= 0.95 * len(frames)
    assert tracked[0].layout is not None and all(t.crop.shape == (128, 128) for t in found)
    ious = []
    for frame, t in zip(frames, tracked, strict=True):
        fresh = detect_faces(frame)
        if t.point.found and fresh:
            ious.append(_iou(t.point.box, fresh[0].box))
    ious = np.array(ious)
    assert len(ious) >= 0.95 * len(frames)
    assert np.median(ious) >= 0.75 and (ious >= 0.7).mean() >= 0.95
    # Aligned crops hold the face still: eyes and mouth stay where the layout puts them, so
    # frames far apart (head turned, moved) differ far less than the raw boxes' content.
    a, b = found[0].crop.astype(float), found[len(found) // 2].crop.astype(float)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.5


def test_no_face_clip_has_no_face_and_no_interval() -> None:
    frames, fps = _video("no_face.mp4")
    run = read_and_spot(frames, len(frames), "mono8", fps, sensitive=True)
    assert not any(p.found for p in run.track) and len(run.track) == len(frames)
    assert run.spotted == []
    report = FaceReport()
    report.add("s/segment001", run.track, np.arange(100, 100 + len(frames)))
    assert report.messages() == [
        f"no face in segment s/segment001 (all {len(frames)} frames): not spotted"]
    assert report.summary()["no_face_segments"] == ["s/segment001"]


@pytest.mark.slow
def test_a_face_leaving_the_picture_splits_the_clip_and_is_named() -> None:
    face, fps = _video("single_face.mp4")
    sky, _ = _video("no_face.mp4")
    # single_face, 40 frames of sky (scaled to the same size), single_face again.
    gap = np.stack([cv2.resize(f, (face.shape[2], face.shape[1])) for f in sky[:40]])
    frames = np.concatenate([face[:60], gap, face[:60]])
    run = read_and_spot(frames, len(frames), "mono8", fps, sensitive=True)
    spans = lost_spans(run.track)
    assert len(spans) == 1
    first, last = spans[0]
    # Lost and found again within the detector's check interval (0.25 s) of each cut.
    step = round(0.25 * fps)
    assert 60 <= first <= 60 + step and 99 <= last < 100 + step
    for s in run.spotted:  # no interval spans the frames without a face
        assert s.offset < first or s.onset > last
    assert not run.crops[first : last + 1].any()
    report = FaceReport()
    report.add("seg", run.track, np.arange(len(frames)))
    assert report.messages() == [f"no face in segment seg frames {first}-{last}"]


def test_face_track_csv_has_one_row_per_frame(tmp_path: Path) -> None:
    track = [TrackPoint(0, True, (10, 20, 30, 30), 1.234567), TrackPoint(1, False, None,
                                                                            float("nan"))]
    report = FaceReport()
    report.add("a/seg", track, np.array([7, 8]))
    report.write_csv(tmp_path / "face_track.csv")
    lines = (tmp_path / "face_track.csv").read_text().splitlines()
    assert lines == ["segment,frame,found,x,y,w,h,quality", "a/seg,7,1,10,20,30,30,1.235",
                     "a/seg,8,0,,,,,"]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "subject"), [
    ("single_face.mp4", "single_face"),
    pytest.param("WolfgangLanger_Pexels.mp4", "WolfgangLanger", marks=pytest.mark.xfail(
        strict=True, reason=(
            "open (issue 13 point 4): the laugh rises over 2.5 s while the head turns and "
            "tilts, after 10 s of crying with a hand over the face; no contrast scale (0.2 s, "
            "0.65 s) peaks above the clip's noise there"))),
])
def test_spotting_finds_the_coded_real_expressions(name: str, subject: str) -> None:
    frames, fps = _video(name)
    coded = [a for a in read_annotations(DATA / "real_faces_coding.csv", fps=fps)
             if a.subject == subject]
    assert coded
    run = read_and_spot(frames, len(frames), "mono8", fps, sensitive=True)
    spotted = [(s.onset, s.offset) for s in run.spotted if s.confident]
    for a in coded:
        best = max((frame_iou((a.onset_frame, a.offset_frame), s) for s in spotted), default=0)
        assert best >= 0.5, (a, spotted)
