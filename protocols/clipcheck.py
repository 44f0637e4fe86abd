"""Probe a video file with OpenCV: does it decode, and how long is it?

Playback uses Qt Multimedia, which may still refuse a file OpenCV reads; the participant
window reports such a clip as a clip_error at run time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ClipProbe:
    """What a clip file turned out to be."""

    ok: bool
    duration: float = 0.0  # seconds, from frame count and frame rate
    frames: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    error: str = ""


def probe_clip(path: str | Path) -> ClipProbe:
    """Decode the first frame of a clip and read its length; never raises."""
    import cv2  # imported here: validation without clip checks needs no OpenCV

    path = Path(path)
    if not path.is_file():
        return ClipProbe(False, error="file not found")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return ClipProbe(False, error="cannot be opened as a video (unknown format?)")
        ok, frame = capture.read()
        if not ok or frame is None:
            return ClipProbe(False, error="no frame could be decoded")
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        duration = frames / fps if fps > 0 else 0.0
        return ClipProbe(True, duration, frames, fps, frame.shape[1], frame.shape[0])
    finally:
        capture.release()
