"""The analysis' independent tasks, run in any process: one per clip, one per session's signals.

A task gets paths and small values (never frames or samples), opens the session itself and
returns small results: a clip's track, intervals and the flow features of its MEs; a
session's heart rate, concordance epochs and the EEG/physiology features at each ME apex.
`analysis.pipeline` joins them in session and segment order, so the outputs do not depend on
which process ran which task, nor in which order they finished.
"""

from __future__ import annotations

import contextlib
import resource
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from analysis.clips import read_clip, select_channels, time_column
from analysis.concordance import MEInterval
from analysis.evaluation import frame_span
from analysis.face_track import TrackPoint
from analysis.features_physio import FEATURES_BY_CHANNEL
from analysis.flow import flow_features
from analysis.report_timeline import AROUND_S
from analysis.session_signals import SessionSignals, SignalNote, session_signals
from analysis.spotting import SpotCurve, SpotParams, SpottedInterval
from recordings.store.annotations import Annotation
from recordings.store.reader import Session, open_session
from recordings.summary import summarize

Heart = tuple[np.ndarray, np.ndarray]  # (session-clock times, bpm)


@dataclass(frozen=True)
class Placed:
    """An annotation inside a clip: its index in the session's list, frame indices in the clip."""

    index: int
    onset: int
    end: int
    apex: int | None


@dataclass
class ClipResult:
    """What a clip task returns."""

    subject: str
    session: str
    trial: str
    name: str
    fps: float
    track: list[TrackPoint]
    frame_numbers: np.ndarray
    times: np.ndarray
    spotted: list[SpottedInterval]
    me_flows: dict[int, np.ndarray]  # annotation index -> ME flow features (face at onset, apex)
    peak_rss_mb: float  # the process's peak resident memory during this task
    curve: SpotCurve | None = None  # the micro spotting curve (report.html's timeline)
    folder: str = ""  # the session folder's name


@dataclass
class SignalsResult:
    """What a session's signals task returns."""

    heart: Heart | None
    epochs: list[dict]  # concordance epoch features of each signal piece holding MEs
    # (segment, annotation index) -> modality -> features in the window around the ME apex
    features: dict[tuple[str, int], dict[str, np.ndarray]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    overview: dict = field(default_factory=dict)  # recordings.summary.summarize(session)
    notes: list[SignalNote] = field(default_factory=list)  # gaps, n/a signals (signals.csv)
    channels: list[str] = field(default_factory=list)  # the channels used, as stored roles name
    eda: dict[str, Heart | None] = field(default_factory=dict)  # segment -> EDA around the clip


def frame_index(frame_numbers: np.ndarray, frame_number: int | None) -> int | None:
    """Index in a clip of a camera frame number, or None when outside the clip."""
    if frame_number is None or frame_number < 0:
        return None
    i = int(np.searchsorted(frame_numbers, frame_number))
    return i if i < len(frame_numbers) and frame_numbers[i] == frame_number else None


def placed_annotations(annotations: list[Annotation], trial: str,
                       frame_numbers: np.ndarray) -> list[Placed]:
    """The annotations whose onset and end fall inside a clip, in annotation order."""
    out = []
    for i, a in enumerate(annotations):
        # Simulation ground truth counts camera frames over the whole session, so it belongs
        # to whichever clip holds its frames; coders' files name their clip (trial).
        if a.coder != "ground_truth" and a.trial != trial:
            continue
        span = frame_span(a)
        if span is None:
            continue
        onset, end = frame_index(frame_numbers, span[0]), frame_index(frame_numbers, span[1])
        if onset is not None and end is not None:
            out.append(Placed(i, onset, end, frame_index(frame_numbers, a.apex_frame)))
    return out


def is_sample(a: Annotation, p: Placed) -> bool:
    """Whether an ME can be a recognition sample (the face permitting): micro, apex, emotion."""
    return a.kind == "micro" and p.apex is not None and bool(a.emotion)


def reset_peak_rss() -> None:
    """Start measuring this process's peak resident memory afresh (Linux; elsewhere the peak
    stays the process's since it started)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """This process's peak resident memory since reset_peak_rss(), MB: Linux's VmHWM (the
    rusage figure would carry the peak of the process that forked the worker)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return next(int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmHWM:")) / 1024


def clip_task(folder: str, segment: str, annotations: list[Annotation], spot: SpotParams,
              sensitive: bool) -> ClipResult:
    """Track, spot and take the ME flow features of one clip of a session."""
    cv2.setNumThreads(1)  # one task per core: OpenCV's own threads would only compete
    reset_peak_rss()
    with open_session(Path(folder)) as session:
        clip = read_clip(session, segment, spot, sensitive)
    flows = {}
    for p in placed_annotations(annotations, clip.trial, clip.frame_numbers):
        # Flow features need the face at onset and apex; without it the ME gives no sample.
        if (is_sample(annotations[p.index], p) and clip.track[p.onset].found
                and clip.track[p.apex].found):
            flows[p.index] = flow_features(clip.crops[p.onset], clip.crops[p.apex])
    return ClipResult(clip.subject, clip.session, clip.trial, clip.name, clip.fps, clip.track,
                      clip.frame_numbers, clip.times, clip.spotted, flows, peak_rss_mb(),
                      clip.curve, clip.folder)


def signals_task(folder: str, segments: list[str], annotations: list[Annotation],
                 window: float, epochs: tuple[float, ...]) -> SignalsResult:
    """A session's overview, heart rate, concordance epochs, signal notes, the EDA around each
    clip and the signal features at every ME apex."""
    reset_peak_rss()
    with open_session(Path(folder)) as session:
        overview = summarize(session)
        used: list[str] = []
        signals = session_signals_of(session, annotations, used)
        spans = _clip_spans(session, segments, annotations)
    if signals is None:
        return SignalsResult(None, [], {}, peak_rss_mb(), overview, [], used)
    features = {key: apex_features(signals, t, window)
                for name, (_, _, apexes) in spans.items() for key, t in apexes.items()}
    eda = {name: signals.channel_between("EDA", start - AROUND_S, end + AROUND_S)
           for name, (start, end, _) in spans.items()}
    return SignalsResult(signals.heart_rate(), signals.epochs(epochs), features, peak_rss_mb(),
                         overview, list(signals.notes), used, eda)


ClipSpan = tuple[float, float, dict[tuple[str, int], float]]


def _clip_spans(session: Session, segments: list[str], annotations: list[Annotation]
                ) -> dict[str, ClipSpan]:
    """Segment -> session times of its first and last frames, and (segment, annotation index)
    -> session time of the apex frame of every possible sample (only the segments' frame
    numbers and times are read)."""
    out = {}
    for name in segments:
        seg = session.segment(name)
        numbers = seg.column("frame_number")
        times = seg.column(time_column(seg.file))
        apexes = {(name, p.index): float(times[p.apex])
                  for p in placed_annotations(annotations, str(seg.attrs.get("trial", "")),
                                              numbers)
                  if is_sample(annotations[p.index], p)}
        out[name] = (float(times[0]), float(times[-1]), apexes)
    return out


def session_signals_of(session: Session, annotations: list[Annotation], used: list[str]
                       ) -> SessionSignals | None:
    """The session's physiology and EEG (the channels its stored roles name) in continuous
    pieces on the session clock, with its MEs (macro ones as concordance blockers); each piece
    is processed once, when first needed. The channels used are added to `used`."""
    physio = select_channels(session, "physio")
    eeg = select_channels(session, "eeg")
    used += [line for s in (physio, eeg) if s is not None for line in s.used]
    mes = [
        MEInterval(a.onset_s, a.apex_s, a.offset_s)
        for a in annotations
        if a.kind == "micro" and None not in (a.onset_s, a.apex_s, a.offset_s)
    ]
    blockers = [
        (a.onset_s, a.offset_s)
        for a in annotations
        if a.kind == "macro" and None not in (a.onset_s, a.offset_s)
    ]
    return session_signals(physio, eeg, mes, blockers)


def apex_features(signals: SessionSignals, apex_time: float, window: float
                  ) -> dict[str, np.ndarray]:
    """EEG band powers and each peripheral signal's features in the window around an apex."""
    half = window / 2
    features = {}
    powers = signals.eeg_window(apex_time - half, apex_time + half)
    if powers is not None:
        features["EEG"] = np.log10(np.maximum(powers, 1e-12)).reshape(-1)
    values = signals.physio_window(apex_time - half, apex_time + half)
    for channel, names in FEATURES_BY_CHANNEL.items():
        present = [n for n in names if n in values]
        if present:
            features[channel] = np.array([values[n] for n in present], dtype=float)
    return features
