"""The face video for people and tools that cannot read raw Bayer frames in HDF5: each segment
as a lossless FFV1 video (Matroska), demosaiced, with a table of every frame's times."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from drivers.imaging import debayer
from recordings.store.reader import Session

VIDEO_SUFFIX = ".mkv"
CODEC = "FFV1"  # lossless; OpenCV's bundled FFmpeg writes it (x264/avc1 are not available)
BLOCK = 150  # frames read from the segment at a time


def consent_allows_images(session: Session) -> bool:
    """Consent level 1 lets images be published; level 2 (the default) never exports them."""
    return session.metadata.consent_level == 1


def write_segment_video(session: Session, segment: str, path: Path,
                        progress: Callable[[int, int], None] | None = None) -> Path:
    """One segment as `path` (.mkv, FFV1, colour at the nominal frame rate) and `path` with
    `_frames.tsv`: frame_number, session_time (NaN before sync), host_time per frame."""
    import cv2

    view = session.segment(segment)
    n, fps = view.n_frames, float(view.attrs["frame_rate"])
    width, height = int(view.attrs["width"]), int(view.attrs["height"])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*CODEC), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"cannot write {path}: OpenCV has no {CODEC} encoder here")
    try:
        for start in range(0, n, BLOCK):
            for raw in view.frames(start, min(n, start + BLOCK)):
                writer.write(debayer(raw, view.pixel_format))
            if progress is not None:
                progress(min(n, start + BLOCK), n)
    finally:
        writer.release()
    times = view.column("session_time") if "session_time" in view.file else np.full(n, np.nan)
    table = np.column_stack([view.column("frame_number"), times, view.column("host_time")])
    frames_tsv = path.with_name(path.stem + "_frames.tsv")
    np.savetxt(frames_tsv, table, fmt=["%d", "%.9f", "%.9f"], delimiter="\t",
               header="frame_number\tsession_time\thost_time", comments="")
    return path
