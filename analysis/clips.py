"""A session's clips for the analysis: tracked face crops, frame times, signals, annotations."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from analysis.face_track import FaceTracker, Tracked, TrackParams, TrackPoint
from analysis.spotting import SpotParams, SpottedInterval, Spotter
from recordings.store.annotations import Annotation, annotations_from_ground_truth, load_annotations
from recordings.store.ground_truth import read_ground_truth
from recordings.store.reader import Session, StreamView

BLOCK_FRAMES = 32  # raw frames read at a time: bounded memory at full resolution
PHYSIO_CHANNELS = ("ECG", "EDA", "RSP", "SKT", "PPG")


@dataclass
class Clip:
    """One video segment ready for analysis."""

    subject: str
    session: str
    trial: str
    name: str
    fps: float
    crops: np.ndarray  # (n, 128, 128) uint8 aligned grey face crops; zeros without a face
    track: list[TrackPoint]  # the face track, one point per frame
    frame_numbers: np.ndarray  # device frame number of each crop
    times: np.ndarray  # session-clock time of each frame (aligned when synced)
    spotted: list[SpottedInterval]  # spotting result, frame indices within the clip

    @property
    def found(self) -> np.ndarray:
        """(n,) bool: frames where the face was found."""
        return np.array([p.found for p in self.track], bool)


@dataclass
class SpotRun:
    """A clip read, tracked and spotted in one pass."""

    crops: np.ndarray  # (n, size, size) uint8 aligned crops; zeros where no face was found
    track: list[TrackPoint]
    spotted: list[SpottedInterval]  # frame indices within the clip; never across a lost face
    waited_seconds: float  # time the spotter sat waiting for the reader (disk-bound share)
    track_seconds: float  # the reader thread's time in the face tracker


def _read_and_track(frames: Any, n_frames: int, tracker: FaceTracker,
                    blocks: queue.Queue, timing: list[float]) -> None:
    """Reader thread: raw frames in blocks -> tracked frames, handed over block by block."""
    try:
        if len(frames.shape) != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 (n, h, w) frames, got {frames.dtype} {frames.shape}")
        for start in range(0, n_frames, BLOCK_FRAMES):
            # Only the part of each stored frame around the face is read (h5py hyperslab).
            y0, y1, x0, x1 = tracker.window(*frames.shape[1:])
            raw = np.asarray(frames[start : min(n_frames, start + BLOCK_FRAMES), y0:y1, x0:x1])
            began = time.perf_counter()
            blocks.put([tracker.push(frame, (x0, y0)) for frame in raw])
            timing[0] += time.perf_counter() - began
        blocks.put(None)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        blocks.put(exc)


class _Runs:
    """Spotting of each run of frames with a face on its own: nothing spans a lost face."""

    def __init__(self, fps: float, params: SpotParams | None, sensitive: bool) -> None:
        self.fps, self.params, self.sensitive = fps, params, sensitive
        self.spotter: Spotter | None = None
        self.start = 0
        self.spotted: list[SpottedInterval] = []

    def add(self, t: Tracked) -> None:
        """One tracked frame, in order."""
        if t.layout is not None or t.crop is None:
            self.end()
        if t.layout is not None:
            self.spotter, self.start = Spotter(self.fps, self.params, t.layout), t.point.frame
        if t.crop is not None and self.spotter is not None:
            self.spotter.push(t.crop[None])

    def end(self) -> None:
        """Close the current run."""
        if self.spotter is not None:
            s = self.start
            self.spotted += [replace(i, onset=i.onset + s, apex=i.apex + s, offset=i.offset + s)
                             for i in self.spotter.finish(self.sensitive)]
        self.spotter = None


def read_and_spot(
    frames: Any,
    n_frames: int,
    pixel_format: str,
    fps: float,
    params: SpotParams | None = None,
    sensitive: bool = False,
    track: TrackParams | None = None,
) -> SpotRun:
    """Track the face through a stored clip on a reader thread (reading and tracking block by
    block) while Spotters compute the flows of the runs already tracked (HDF5 reads, dlib
    and OpenCV overlap with the flows)."""
    blocks: queue.Queue[list[Tracked] | BaseException | None] = queue.Queue(maxsize=4)
    tracker = FaceTracker(fps, pixel_format, track)
    timing = [0.0]
    thread = threading.Thread(target=_read_and_track, name="clip-reader", daemon=True,
                              args=(frames, n_frames, tracker, blocks, timing))
    thread.start()
    runs = _Runs(fps, params, sensitive)
    crops: list[np.ndarray] = []
    points: list[TrackPoint] = []
    blank = np.zeros((tracker.size, tracker.size), np.uint8)
    waited = 0.0
    while True:
        started = time.perf_counter()
        block = blocks.get()
        waited += time.perf_counter() - started
        if block is None:
            break
        if isinstance(block, BaseException):
            thread.join()
            raise block
        for t in block:
            runs.add(t)
            points.append(t.point)
            crops.append(t.crop if t.crop is not None else blank)
    thread.join()
    runs.end()
    stack = np.stack(crops) if crops else np.zeros((0, tracker.size, tracker.size), np.uint8)
    return SpotRun(stack, points, runs.spotted, waited, timing[0])


def time_column(group: Any) -> str:
    """The best clock a stream or segment (its HDF5 group) offers: aligned session time after
    sync, else host time."""
    return "session_time" if "session_time" in group else "host_time"


def session_annotations(session: Session, external: list[Annotation]) -> list[Annotation]:
    """Annotations for a session: imported files first, then stored ones, then ground truth."""
    subject, number = session.metadata.participant, str(session.metadata.session)
    mine = [a for a in external if a.subject == subject and a.session in (number, "")]
    if mine:
        return mine
    stored = load_annotations(session.folder)
    if stored:
        return stored.get("ground_truth") or next(iter(stored.values()))
    truth = read_ground_truth(session.file)
    return annotations_from_ground_truth(truth, subject, number) if truth else []


def analysable_segments(session: Session) -> list[str]:
    """The session's video segments with at least two frames (one task each)."""
    return [name for name in session.segment_names() if session.segment(name).n_frames >= 2]


def read_clip(
    session: Session, name: str, params: SpotParams | None = None, sensitive: bool = False
) -> Clip:
    """One video segment as face crops, spotted while they are read."""
    meta = session.metadata
    seg = session.segment(name)
    fps = float(seg.attrs["frame_rate"])
    run = read_and_spot(seg.file["frames"], seg.n_frames, seg.pixel_format, fps,
                        params, sensitive)
    return Clip(
        subject=meta.participant,
        session=str(meta.session),
        trial=str(seg.attrs.get("trial", "")),
        name=name,
        fps=fps,
        crops=run.crops,
        track=run.track,
        frame_numbers=seg.column("frame_number"),
        times=seg.column(time_column(seg.file)),
        spotted=run.spotted,
    )


def stream_of_type(session: Session, kind: str) -> StreamView | None:
    """The session's first stream of a type (EEG, Physio), or None."""
    return next((s for s in session.streams.values() if s.type == kind), None)


@dataclass
class Signals:
    """A continuous stream read whole: samples by channel, times, rate."""

    samples: np.ndarray
    labels: list[str]
    times: np.ndarray
    rate: float

    def channel(self, label: str) -> np.ndarray | None:
        """One channel's samples, or None when absent."""
        return self.samples[:, self.labels.index(label)] if label in self.labels else None

    def physio(self) -> dict[str, np.ndarray]:
        """The peripheral channels present, by name."""
        return {c: x for c in PHYSIO_CHANNELS if (x := self.channel(c)) is not None}


def read_signals(view: StreamView | None) -> Signals | None:
    """A stream's samples and times (on its best clock), or None."""
    if view is None or len(view) == 0:
        return None
    return Signals(
        np.asarray(view.samples[:], dtype=np.float64),
        view.labels,
        view.times(time_column(view.group))[:],
        view.nominal_rate,
    )


def sessions_under(paths: list[Path]) -> list[Path]:
    """Session folders given directly or found below the given folders."""
    found: list[Path] = []
    for p in paths:
        if (p / "session.h5").exists():
            found.append(p)
        elif p.is_dir():
            found += sorted(q.parent for q in p.rglob("session.h5"))
        else:
            raise FileNotFoundError(f"{p}: neither a session folder nor a folder of sessions")
    if not found:
        raise FileNotFoundError(f"no sessions (session.h5) under {', '.join(map(str, paths))}")
    return found
