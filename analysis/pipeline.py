"""`melab analyze`: spotting, concordance and recognition over sessions, written to files."""

from __future__ import annotations

import csv
import json
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis import AnalysisCancelled
from analysis.annotations import read_annotations
from analysis.ccf import CCF_MODES, apply_ccf
from analysis.clips import (
    Clip,
    iter_clips,
    select_channels,
    session_annotations,
    sessions_under,
)
from analysis.concordance import MEInterval, pooled_table, write_concordance_csv
from analysis.evaluation import Interval, frame_span
from analysis.face_report import FaceReport
from analysis.features_physio import FEATURES_BY_CHANNEL
from analysis.flow import flow_features
from analysis.fusion import WEIGHTINGS
from analysis.outputs import spotting_summary, write_signals_csv
from analysis.recognition import CLASSIFIERS, DEFAULT_CLASSIFIER, recognize
from analysis.report_timeline import AROUND_S, ClipTimeline, TruthSpan, clip_timeline
from analysis.session_signals import SessionSignals, SignalNote, session_signals
from analysis.signals import OK
from analysis.spotting import SpotParams, SpottedInterval
from recordings.store.annotations import Annotation
from recordings.store.links import superseded_trials
from recordings.store.reader import Session, open_session
from recordings.summary import summarize

Progress = Callable[[float, str], None]
FUSION_VOTERS = ("modalities", "signals")
PERI = "PERI"  # every peripheral signal's features side by side


@dataclass
class AnalysisOptions:
    """Parameters of the whole analysis (docs/analysis.md explains each)."""

    spot: SpotParams = field(default_factory=SpotParams)
    # Candidate Clip Filter: "rescue" lets it confirm sensitive-tier candidates and never
    # removes a confident one; "veto" is MMME eq. 12 as published, judging every candidate.
    ccf_mode: str = "rescue"
    window: float = 10.0  # seconds of physiology/EEG centred on each ME apex
    epochs: tuple[float, ...] = (3.0, 5.0, 10.0, 15.0)
    classifier: str = DEFAULT_CLASSIFIER
    fusion_weighting: str = "recall"  # analysis/fusion.py: the paper's "recall" or "youden"
    # Votes fused: "modalities" = ME, EEG and PERI (every peripheral feature in one
    # classifier, the paper's Table 7-8 rows); "signals" = ME, EEG and each peripheral
    # signal on its own (the paper's seven sub-classifiers, eq. 7-10).
    fusion_voters: str = "modalities"
    tasks: tuple[str, ...] = ("3class", "7class")
    # z-score every feature within each participant before leave-one-subject-out: people
    # differ far more in baseline heart rate, conductance or EEG power than emotions move them.
    subject_normalise: bool = True

    def check(self) -> None:
        """Raise ValueError naming any option outside its allowed values."""
        if self.ccf_mode not in CCF_MODES:
            raise ValueError(f"ccf_mode must be one of {CCF_MODES}, not {self.ccf_mode!r}")
        if self.fusion_weighting not in WEIGHTINGS:
            raise ValueError(
                f"fusion_weighting must be one of {WEIGHTINGS}, not {self.fusion_weighting!r}")
        if self.fusion_voters not in FUSION_VOTERS:
            raise ValueError(
                f"fusion_voters must be one of {FUSION_VOTERS}, not {self.fusion_voters!r}")
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"classifier must be one of {CLASSIFIERS}, not {self.classifier!r}")


@dataclass
class SpotRow:
    """One spotted interval (a row of spotting.csv)."""

    subject: str
    session: str
    trial: str
    type: str
    onset_frame: int
    apex_frame: int
    offset_frame: int
    score: float
    kept_by_filter: bool
    confident: bool  # above the spotting threshold (the unfiltered result)


@dataclass
class _Collected:
    rows: list[SpotRow] = field(default_factory=list)
    candidates: dict[tuple[str, str, str], list[Interval]] = field(default_factory=dict)
    filtered: dict[tuple[str, str, str], list[Interval]] = field(default_factory=dict)
    truths: dict[tuple[str, str, str], list[Interval]] = field(default_factory=dict)
    features: dict[str, list[np.ndarray]] = field(default_factory=dict)
    emotions: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    # Per session: the concordance epochs' features (small), not the raw signals.
    epochs: list[dict[float, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]] = field(
        default_factory=list)
    notes: list[tuple[str, str, SignalNote]] = field(default_factory=list)  # subject, session
    channels: dict[str, list[str]] = field(default_factory=dict)  # session -> channels used
    overviews: dict[str, dict[str, Any]] = field(default_factory=dict)  # session -> summarize()
    timelines: list[ClipTimeline] = field(default_factory=list)  # report.html, one per clip
    face: FaceReport = field(default_factory=FaceReport)


def analyze(
    paths: Sequence[str | Path],
    out: str | Path,
    annotation_files: Sequence[str | Path] = (),
    options: AnalysisOptions | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Analyse sessions; write spotting.csv, face_track.csv, spotting_summary.json,
    recognition.json, concordance.csv and report.html into `out`; return the summary."""
    options = options or AnalysisOptions()
    options.check()
    out = Path(out)
    folders = sessions_under([Path(p) for p in paths])
    external = _read_external(annotation_files, folders)
    collected = _Collected()
    rerun = superseded_trials(folders)  # a resumed session's trials replace the crashed ones
    for i, folder in enumerate(folders):
        _check(cancel)
        _tell(progress, i / len(folders), f"session {folder.name}")
        with open_session(folder) as session:
            collected.overviews[folder.name] = summarize(session)
            annotations = session_annotations(session, external)
            signals = _session_signals(session, annotations,
                                       collected.channels.setdefault(folder.name, []))
            heart = signals.heart_rate() if signals is not None else None
            if signals is not None:
                collected.notes += [(session.metadata.participant,
                                     str(session.metadata.session), n) for n in signals.notes]
            for clip in iter_clips(session, options.spot, options.ccf_mode == "rescue",
                                   rerun.get(folder, set())):
                _check(cancel)
                collected.face.add(f"{folder.name}/{clip.name}", clip.track, clip.frame_numbers)
                _tell(progress, (i + 0.5) / len(folders), f"spotted {folder.name}/{clip.name}")
                _analyse_clip(clip, annotations, signals, heart, options, collected)
            if signals is not None:
                collected.epochs += signals.epochs(options.epochs)
    _tell(progress, 0.9, "recognition and concordance")
    out.mkdir(parents=True, exist_ok=True)  # only now: a failed analysis leaves no empty folder
    summary = _write_outputs(out, collected, options, len(folders))
    _tell(progress, 1.0, "done")
    return summary


def _read_external(files: Sequence[str | Path], folders: list[Path]) -> list[Annotation]:
    if not files:
        return []
    with open_session(folders[0]) as first:
        fps = (
            float(first.segment(first.segment_names()[0]).attrs["frame_rate"])
            if first.segment_names()
            else None
        )
    return read_annotations([Path(f) for f in files], fps=fps)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise AnalysisCancelled("analysis cancelled")


def _tell(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


def _frame_index(clip: Clip, frame_number: int | None) -> int | None:
    """Index in the clip of a camera frame number, or None when outside the clip."""
    if frame_number is None or frame_number < 0:
        return None
    i = int(np.searchsorted(clip.frame_numbers, frame_number))
    return i if i < len(clip.frame_numbers) and clip.frame_numbers[i] == frame_number else None


def _session_signals(session: Session, annotations: list[Annotation], used: list[str]
                     ) -> SessionSignals | None:
    """The session's physiology and EEG (the channels its stored roles name) in continuous
    pieces on the session clock, with its MEs (macro ones as concordance blockers); each piece
    is processed once, when first needed."""
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


def _analyse_clip(
    clip: Clip,
    annotations: list[Annotation],
    signals: SessionSignals | None,
    heart: tuple[np.ndarray, np.ndarray] | None,
    options: AnalysisOptions,
    out: _Collected,
) -> None:
    key = (clip.subject, clip.session, clip.trial)
    spotted = clip.spotted
    start, end = float(clip.times[0]), float(clip.times[-1])
    hr_times = hr = None
    if heart is not None:
        # The clip's stretch of the session's heart rate (a beat either side for the slope).
        lo, hi = np.searchsorted(heart[0], (start - 2.0, end + 2.0))
        hr_times, hr = heart[0][lo:hi], heart[1][lo:hi]
        if np.isfinite(hr).sum() < 2:  # the clip lies in a gap of the ECG, or past its end
            hr_times = hr = None
    kept = set(apply_ccf(spotted, options.ccf_mode, clip.fps, hr_times, hr, start, end))
    confident = [s for s in spotted if s.confident]
    out.rows += [_row(clip, s, s in kept) for s in spotted]
    out.candidates[key] = [Interval(s.onset, s.offset, s.kind) for s in confident]
    out.filtered[key] = [Interval(s.onset, s.offset, s.kind) for s in spotted if s in kept]
    truths = out.truths.setdefault(key, [])
    spans: list[TruthSpan] = []
    for a in annotations:
        # Simulation ground truth counts camera frames over the whole session, so it belongs
        # to whichever clip holds its frames; coders' files name their clip (trial).
        if a.coder != "ground_truth" and a.trial != clip.trial:
            continue
        span = frame_span(a)
        onset, end_frame = (
            (_frame_index(clip, span[0]), _frame_index(clip, span[1])) if span else (None, None))
        if onset is None or end_frame is None:
            continue
        truths.append(Interval(onset, end_frame, a.kind))
        apex = _frame_index(clip, a.apex_frame)
        spans.append(TruthSpan(onset, apex, end_frame, a.kind, a.emotion or ""))
        # Flow features need the face at onset and apex; without it the ME gives no sample.
        if (a.kind == "micro" and apex is not None and a.emotion
                and clip.track[onset].found and clip.track[apex].found):
            _add_sample(clip, onset, apex, signals, a, options, out)
    out.timelines.append(clip_timeline(
        clip.folder, clip.name, clip.trial, clip.times, spotted, kept, spans, clip.curve,
        heart, signals.channel_between("EDA", start - AROUND_S, end + AROUND_S)
        if signals is not None else None))


def _row(clip: Clip, s: SpottedInterval, kept: bool) -> SpotRow:
    return SpotRow(
        clip.subject,
        clip.session,
        clip.trial,
        s.kind,
        int(clip.frame_numbers[s.onset]),
        int(clip.frame_numbers[s.apex]),
        int(clip.frame_numbers[s.offset]),
        round(float(s.score), 3),
        kept,
        s.confident,
    )


def _add_sample(
    clip: Clip,
    onset: int,
    apex: int,
    signals: SessionSignals | None,
    a: Annotation,
    options: AnalysisOptions,
    out: _Collected,
) -> None:
    """One recognition sample per ME: its features in every modality."""
    apex_time = float(clip.times[apex])
    half = options.window / 2
    features = {"ME": flow_features(clip.crops[onset], clip.crops[apex])}
    powers = signals.eeg_window(apex_time - half, apex_time + half) if signals else None
    if powers is not None:
        features["EEG"] = np.log10(np.maximum(powers, 1e-12)).reshape(-1)
    values = signals.physio_window(apex_time - half, apex_time + half) if signals else {}
    for channel, names in FEATURES_BY_CHANNEL.items():
        present = [n for n in names if n in values]
        if present:
            features[channel] = np.array([values[n] for n in present], dtype=float)
    for modality, vector in features.items():
        out.features.setdefault(modality, []).append(vector)
    out.emotions.append(a.emotion)
    out.subjects.append(a.subject)


def _recognition(collected: _Collected, options: AnalysisOptions) -> dict[str, Any]:
    subjects = sorted(set(collected.subjects))
    if len(subjects) < 2:
        return {"skipped": f"leave-one-subject-out needs >= 2 subjects, have {len(subjects)}"}
    features = {
        m: np.vstack(v) for m, v in collected.features.items() if len(v) == len(collected.emotions)
    }
    # A modality with no value at all (a channel flat or too short in every session) has
    # nothing to learn from: as a voter it would answer one class for every sample.
    features = {m: x for m, x in features.items() if np.isfinite(x).any()}
    if options.subject_normalise:
        features = {m: normalise_per_subject(x, collected.subjects) for m, x in features.items()}
    signals = [m for m in FEATURES_BY_CHANNEL if m in features]
    if signals:
        features[PERI] = np.hstack([features[m] for m in signals])
    body = [PERI] if options.fusion_voters == "modalities" and signals else signals
    voters = [m for m in ("ME", "EEG") if m in features] + body
    result: dict[str, Any] = {"samples": len(collected.emotions), "subjects": subjects,
                              "subject_normalised": options.subject_normalise,
                              "classifier": options.classifier,
                              "fusion_weighting": options.fusion_weighting,
                              "fusion_voters": voters}
    for task in options.tasks:
        loso = recognize(
            features, collected.emotions, collected.subjects, task,
            classifier=options.classifier, weighting=options.fusion_weighting, voters=voters,
        )
        result[task] = loso.as_dict()
    return result


def _write_outputs(
    out: Path, collected: _Collected, options: AnalysisOptions, n_sessions: int
) -> dict[str, Any]:
    from analysis.report import write_report

    with (out / "spotting.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(SpotRow.__dataclass_fields__))
        writer.writerows([list(vars(r).values()) for r in collected.rows])
    collected.face.write_csv(out / "face_track.csv")
    spotting = spotting_summary(collected.candidates, collected.filtered, collected.truths)
    (out / "spotting_summary.json").write_text(json.dumps(spotting, indent=2))
    written = ["spotting.csv", "face_track.csv", "spotting_summary.json"]
    if collected.notes:
        write_signals_csv(collected.notes, out / "signals.csv")
        written.append("signals.csv")
    if collected.emotions:
        np.savez_compressed(
            out / "features.npz", emotions=np.array(collected.emotions),
            subjects=np.array(collected.subjects),
            **{m: np.vstack(v) for m, v in collected.features.items()
               if len(v) == len(collected.emotions)},
        )
        written.append("features.npz")
    recognition = _recognition(collected, options)
    (out / "recognition.json").write_text(json.dumps(recognition, indent=2, default=_plain))
    rows = pooled_table(collected.epochs, options.epochs)
    write_concordance_csv(rows, out / "concordance.csv")
    summary = {
        "sessions": n_sessions,
        "spotting": spotting,
        "recognition": recognition,
        "concordance_rows": len(rows),
        "concordance_tested": sum(r.tested for r in rows),
        "spotted": len(collected.rows),
        "signals": [{"subject": sub, "session": ses, **vars(n)}
                    for sub, ses, n in collected.notes if n.status != OK],
        "channels": collected.channels,
        "face": collected.face.summary(),
    }
    plots = write_report(out, summary, rows, collected.overviews, collected.timelines)
    summary["files"] = [*written, "recognition.json", "concordance.csv", "report.html", *plots]
    return summary


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value)}")


def normalise_per_subject(x: np.ndarray, subjects: Sequence[str]) -> np.ndarray:
    """Each feature z-scored within each subject (NaN-aware; constant features become 0)."""
    out = np.array(x, dtype=float)
    ids = np.asarray(subjects)
    for subject in np.unique(ids):
        rows = ids == subject
        block = out[rows]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
            mean = np.nanmean(block, axis=0)
            sd = np.nanstd(block, axis=0)
        out[rows] = (block - mean) / np.where(sd > 0, sd, 1.0)
    return out
