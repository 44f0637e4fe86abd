"""A session's clips for the analysis: tracked face crops, frame times, signals, annotations."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from analysis.face_track import FaceTracker, Tracked, TrackParams, TrackPoint
from analysis.spotting import SpotCurve, SpotParams, SpottedInterval, Spotter
from recordings.rigs.roles import stored_roles
from recordings.store.annotations import Annotation, annotations_from_ground_truth, load_annotations
from recordings.store.frame_reads import FrameReads
from recordings.store.ground_truth import read_ground_truth
from recordings.store.reader import Session, StreamView

BLOCK_FRAMES = 32  # raw frames read at a time: bounded memory at full resolution
PHYSIO_CHANNELS = ("ECG", "EDA", "RSP", "SKT", "PPG")
# Channel types of a session's stored roles (recordings/rigs) -> the analysis' channel names.
PHYSIO_BY_TYPE = dict(zip(("ecg", "eda", "resp", "temp", "ppg"), PHYSIO_CHANNELS, strict=True))
STREAM_TYPE_OF_ROLE = {"eeg": "EEG", "physio": "Physio"}  # sessions recorded before roles


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
    curve: SpotCurve | None = None  # the micro spotting curve (report.html's timeline)
    folder: str = ""  # the session folder's name

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
    read_seconds: float  # the reader thread's time reading stored frames
    curve: SpotCurve | None = None  # the micro scale's curve over the runs with a face


def _read_and_track(frames: Any, n_frames: int, tracker: FaceTracker,
                    blocks: queue.Queue, timing: list[float]) -> None:
    """Reader thread: raw frames in blocks -> tracked frames, handed over block by block."""
    reads: FrameReads | None = None
    ahead: ThreadPoolExecutor | None = None
    every = slice(None)
    try:
        reads = FrameReads(frames)
        # Direct reads release the GIL: the next block is read while this one is tracked.
        if reads.direct:
            ahead = ThreadPoolExecutor(1, "frame-read-ahead")
        next_block = None
        for start in range(0, n_frames, BLOCK_FRAMES):
            stop = min(n_frames, start + BLOCK_FRAMES)
            # Only the part of each frame around the face goes to the tracker.
            y0, y1, x0, x1 = tracker.window(*frames.shape[1:])
            began = time.perf_counter()
            if ahead is None:
                raw = reads.read(start, stop, slice(y0, y1), slice(x0, x1))
            else:
                whole = (next_block or ahead.submit(reads.read, start, stop, every, every)
                         ).result()
                if stop < n_frames:
                    following = min(n_frames, stop + BLOCK_FRAMES)
                    next_block = ahead.submit(reads.read, stop, following, every, every)
                raw = whole[:, y0:y1, x0:x1]
            read = time.perf_counter()
            tracked = [tracker.push(frame, (x0, y0)) for frame in raw]
            timing[0] += time.perf_counter() - read
            timing[1] += read - began
            blocks.put(tracked)
        blocks.put(None)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        blocks.put(exc)
    finally:
        if ahead is not None:
            ahead.shutdown(wait=True)
        if reads is not None:
            reads.close()


class _Runs:
    """Spotting of each run of frames with a face on its own: nothing spans a lost face."""

    def __init__(self, fps: float, params: SpotParams | None, sensitive: bool) -> None:
        self.fps, self.params, self.sensitive = fps, params, sensitive
        self.spotter: Spotter | None = None
        self.start = 0
        self.spotted: list[SpottedInterval] = []
        self.curves: list[SpotCurve] = []  # each run's micro curve, on clip frame indices

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
            curve = self.spotter.curve()
            if curve is not None:
                self.curves.append(replace(curve, frames=curve.frames + s))
        self.spotter = None

    def curve(self) -> SpotCurve | None:
        """The runs' curves joined for plotting (NaN between runs), with the threshold of the
        longest run: each run's curve is in units of its own noise, so they share a scale."""
        if not self.curves:
            return None
        longest = max(self.curves, key=lambda c: len(c.frames))
        gap = np.array([np.nan])
        frames = np.concatenate([x for c in self.curves for x in (c.frames, gap)][:-1])
        values = np.concatenate([x for c in self.curves for x in (c.values, gap)][:-1])
        return SpotCurve(frames, values, longest.threshold)


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
    timing = [0.0, 0.0]  # tracking, reading
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
    return SpotRun(stack, points, runs.spotted, waited, timing[0], timing[1], runs.curve())


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


def analysable_segments(session: Session, skip_trials: Collection[int] = ()) -> list[str]:
    """The session's video segments with at least two frames (one task each); segments of
    skip_trials (run again by a resumed session) are left out."""
    return [name for name in session.segment_names()
            if session.segment(name).n_frames >= 2
            and int(session.segment(name).attrs.get("trial", -1)) not in skip_trials]


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
        curve=run.curve,
        folder=session.folder.name,
    )


def stream_of_type(session: Session, kind: str) -> StreamView | None:
    """The session's first stream of a type (EEG, Physio), or None."""
    return next((s for s in session.streams.values() if s.type == kind), None)


@dataclass
class Signals:
    """A continuous stream read whole: samples by channel, times, rate, outages."""

    samples: np.ndarray
    labels: list[str]
    times: np.ndarray  # the analysis clock (time_column)
    rate: float
    name: str = ""
    host_times: np.ndarray | None = None  # receipt times, which the gaps are measured on
    device_times: np.ndarray | None = None
    gaps: np.ndarray | None = None  # (g, 2) outages [start, end] on the host clock
    used: list[str] = field(default_factory=list)  # "stream: label -> NAME (unit)" per channel

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
        view.name,
        view.times("host_time")[:],
        view.times("device_time")[:],
        view.gaps,
    )


def select_channels(session: Session, role: str) -> Signals | None:
    """The channels of a role (eeg, physio) as the session's stored roles name them.

    EEG: only channels of type eeg (never EOG, references, trigger or extras); physiology:
    the first channel of each type, named ECG, EDA, RSP, SKT, PPG; both scaled to standard
    units (µV, µS, °C) and at the stored rate. A session recorded before roles were stored:
    the stream of type EEG / Physio and its channels by exact label, as then.
    """
    roles = stored_roles(session.metadata.devices or {})
    chosen = next((r for r in roles.values() if r.role == role and r.stream in session.streams),
                  None)
    if chosen is None:
        signals = read_signals(stream_of_type(session, STREAM_TYPE_OF_ROLE[role]))
        if signals is not None:
            names = signals.labels if role == "eeg" else list(signals.physio())
            signals.used = [f"{', '.join(names)} (by label: no roles stored)"]
        return signals
    signals = read_signals(session.streams[chosen.stream])
    if signals is None:
        return None
    columns, names = [], []
    for i, channel in enumerate(chosen.channels):
        name = channel.label if role == "eeg" else PHYSIO_BY_TYPE.get(channel.type)
        if name and (channel.type == "eeg" if role == "eeg" else name not in names):
            columns.append(i)
            names.append(name)
    # A unit that could not be mapped (a forced recording): the raw values, said as "raw".
    scale = np.nan_to_num(np.array([chosen.channels[i].scale for i in columns]), nan=1.0)
    used = [f"{chosen.stream}: {chosen.channels[i].label} -> {name} "
            f"({chosen.channels[i].unit or 'raw'})" for i, name in zip(columns, names, strict=True)]
    if role == "eeg":  # one line: the EEG channels by label, and what was left out
        left = [c.label for c in chosen.channels if c.type != "eeg"]
        used = [f"{chosen.stream}: {len(names)} EEG channels ({', '.join(names)}) in "
                f"{chosen.channels[columns[0]].unit if columns else 'µV'}; not EEG: "
                f"{', '.join(left) or 'none'}"]
    return replace(signals, samples=signals.samples[:, columns] * scale, labels=names,
                   rate=chosen.rate, used=used)


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
