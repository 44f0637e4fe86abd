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

from analysis.clips import (
    analysable_segments,
    read_clip,
    read_signals,
    stream_of_type,
    time_column,
)
from analysis.concordance import ClipData, MEInterval, epoch_features
from analysis.evaluation import frame_span
from analysis.face_track import TrackPoint
from analysis.features_eeg import band_powers_between
from analysis.features_physio import FEATURES_BY_CHANNEL, window_features
from analysis.flow import flow_features
from analysis.spotting import SpotParams, SpottedInterval
from recordings.store.annotations import Annotation
from recordings.store.reader import Session, open_session

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


@dataclass
class SignalsResult:
    """What a session's signals task returns."""

    heart: Heart | None
    epochs: dict | None  # concordance epoch features, when the session has MEs and signals
    # (segment, annotation index) -> modality -> features in the window around the ME apex
    features: dict[tuple[str, int], dict[str, np.ndarray]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0


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
                      clip.frame_numbers, clip.times, clip.spotted, flows, peak_rss_mb())


def signals_task(folder: str, annotations: list[Annotation], window: float,
                 epochs: tuple[float, ...]) -> SignalsResult:
    """A session's heart rate, concordance epochs and the signal features at every ME apex."""
    reset_peak_rss()
    with open_session(Path(folder)) as session:
        signals = session_signals(session, annotations)
        apexes = _apex_times(session, annotations)
    if signals is None:
        return SignalsResult(None, None, {}, peak_rss_mb())
    features = {key: apex_features(signals, t, window) for key, t in apexes.items()}
    found = epoch_features(signals, epochs) if signals.mes else None
    return SignalsResult(heart_rate(signals), found, features, peak_rss_mb())


def _apex_times(session: Session, annotations: list[Annotation]) -> dict[tuple[str, int], float]:
    """(segment, annotation index) -> session time of the apex frame of every possible sample
    (only the segments' frame numbers and times are read)."""
    out = {}
    for name in analysable_segments(session):
        seg = session.segment(name)
        numbers = seg.column("frame_number")
        times = seg.column(time_column(seg.file))
        for p in placed_annotations(annotations, str(seg.attrs.get("trial", "")), numbers):
            if is_sample(annotations[p.index], p):
                out[(name, p.index)] = float(times[p.apex])
    return out


def session_signals(session: Session, annotations: list[Annotation]) -> ClipData | None:
    """The session's physiology and EEG on the session clock, with its MEs (macro ones as
    concordance blockers); each stream is processed once, when first needed."""
    physio = read_signals(stream_of_type(session, "Physio"))
    eeg = read_signals(stream_of_type(session, "EEG"))
    if physio is None and eeg is None:
        return None
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
    return ClipData(
        mes=mes,
        physio=(physio.physio() or None) if physio is not None else None,
        physio_rate=physio.rate if physio is not None else 1000.0,
        physio_t0=float(physio.times[0]) if physio is not None else 0.0,
        eeg=eeg.samples if eeg is not None else None,
        eeg_rate=eeg.rate if eeg is not None else 1000.0,
        eeg_t0=float(eeg.times[0]) if eeg is not None else 0.0,
        eeg_labels=eeg.labels if eeg is not None else (),
        blockers=blockers,
    )


def heart_rate(signals: ClipData) -> Heart | None:
    """(session-clock times, bpm) of the ECG heart rate, or None without an ECG."""
    derived = signals.physio_derived
    if derived is None or derived.ecg is None:
        return None
    times, bpm = derived.heart_rate()
    return signals.physio_t0 + times, bpm


def apex_features(signals: ClipData, apex_time: float, window: float) -> dict[str, np.ndarray]:
    """EEG band powers and each peripheral signal's features in the window around an apex."""
    half = window / 2
    features = {}
    eeg = signals.eeg_data
    if eeg is not None:
        t = apex_time - signals.eeg_t0
        powers = band_powers_between(eeg[0], signals.eeg_rate, [t - half], [t + half])[0]
        features["EEG"] = np.log10(np.maximum(powers, 1e-12)).reshape(-1)
    derived = signals.physio_derived
    if derived is not None:
        t = apex_time - signals.physio_t0
        values = window_features(derived, np.array([t - half]), np.array([t + half]))
        for channel, names in FEATURES_BY_CHANNEL.items():
            present = [n for n in names if n in values]
            if present:
                features[channel] = np.array([values[n][0] for n in present], dtype=float)
    return features
