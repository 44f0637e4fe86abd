"""`melab analyze`: spotting, concordance and recognition over sessions, written to files."""

from __future__ import annotations

import csv
import json
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from analysis import AnalysisFailed
from analysis.annotations import read_annotations
from analysis.ccf import CCF_MODES, apply_ccf
from analysis.clips import analysable_segments, session_annotations, sessions_under
from analysis.concordance import pooled_table, write_concordance_csv
from analysis.evaluation import Interval
from analysis.face_report import FaceReport
from analysis.features_physio import FEATURES_BY_CHANNEL
from analysis.fusion import WEIGHTINGS
from analysis.outputs import spotting_summary, write_signals_csv
from analysis.recognition import CLASSIFIERS, DEFAULT_CLASSIFIER, MapFolds, recognize
from analysis.report_timeline import ClipTimeline, TruthSpan, clip_timeline
from analysis.resume import FOLDER, SessionResult, fingerprint, load_matching, store
from analysis.scheduler import (
    Failure,
    Progress,
    RunOptions,
    Task,
    TaskProgress,
    check_cancel,
    open_engine,
)
from analysis.session_signals import SignalNote
from analysis.signals import OK
from analysis.spotting import SpotParams, SpottedInterval
from analysis.tasks import ClipResult, SignalsResult, clip_task, placed_annotations, signals_task
from recordings.store.annotations import Annotation
from recordings.store.links import superseded_trials
from recordings.store.reader import open_session

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
    run: RunOptions | None = None,
    bar_file: TextIO | None = None,
) -> dict[str, Any]:
    """Analyse sessions; write spotting.csv, face_track.csv, spotting_summary.json,
    recognition.json, concordance.csv and report.html into `out`; return the summary.

    The work runs as tasks (a clip each, a session's signals, the recognition folds) where
    `run` says (analysis/scheduler.py); each session's results are kept in
    out/per_session as soon as they are complete (analysis/resume.py). Progress: a tqdm bar
    on `bar_file` and its figures (elapsed, ETA) for `progress`."""
    options = options or AnalysisOptions()
    options.check()
    run = run or RunOptions()
    out = Path(out)
    folders = sessions_under([Path(p) for p in paths])
    check_cancel(cancel)  # before any session is opened
    external = _read_external(annotation_files, folders)
    rerun = superseded_trials(folders)  # a resumed session's trials replace the crashed ones
    plans = [_plan(folder, external, options, rerun.get(folder, set()), cancel)
             for folder in folders]
    results = {p.folder: r for p in plans if run.resume
               and (r := load_matching(out, p.folder, p.fingerprint)) is not None}
    todo = [p for p in plans if p.folder not in results]
    tasks = [t for p in todo for t in _tasks(p, options)]
    with open_engine(run) as engine:
        ticker = TaskProgress(len(tasks), progress, bar_file)
        try:
            if results:
                ticker.line(f"{len(results)} of {len(plans)} sessions kept from an earlier run "
                            f"(inputs unchanged); analysing {len(todo)}")
            sessions = _Sessions(todo, out, results, ticker)
            failures = engine.run(tasks, sessions.done, ticker, cancel)
            if failures:
                raise AnalysisFailed(_failed_message(failures, results, out))
            collected = _Collected()
            for plan in plans:
                _collect(plan, results[plan.folder], options, collected)
            ticker.tell("recognition (leave-one-subject-out folds) and concordance")
            summary = _write_outputs(out, collected, options, len(folders), engine.map)
            summary["files"].append(FOLDER)  # each session's results, for --resume
            ticker.tell("done")
        finally:
            ticker.close()
    return summary


@dataclass
class _Plan:
    """A session to analyse: its annotations, clips and the fingerprint of its inputs."""

    folder: Path
    annotations: list[Annotation]
    segments: list[str]
    fingerprint: dict[str, Any]


def _plan(folder: Path, external: list[Annotation], options: AnalysisOptions,
          skip_trials: set[int], cancel: threading.Event | None) -> _Plan:
    check_cancel(cancel)  # before the session is opened: planning many sessions takes a while
    with open_session(folder) as session:
        annotations = session_annotations(session, external)
        segments = analysable_segments(session, skip_trials)
    inputs = repr((options.spot, _sensitive(options), options.window, options.epochs,
                   annotations, segments))
    return _Plan(folder, annotations, segments, fingerprint(folder, inputs))


def _sensitive(options: AnalysisOptions) -> bool:
    return options.ccf_mode == "rescue"  # the filter may confirm the sensitive tier


def _tasks(plan: _Plan, options: AnalysisOptions) -> list[Task]:
    folder, group = str(plan.folder), str(plan.folder)
    clips = [Task(f"{plan.folder.name}/{name}", group, clip_task,
                  (folder, name, plan.annotations, options.spot, _sensitive(options)))
             for name in plan.segments]
    signals = Task(f"{plan.folder.name} signals", group, signals_task,
                   (folder, plan.segments, plan.annotations, options.window, options.epochs))
    return [signals, *clips]  # signals first: its NeuroKit2 work overlaps the clips


class _Sessions:
    """Gathers each session's task results; stores and announces a session once complete."""

    def __init__(self, plans: list[_Plan], out: Path, results: dict[Path, SessionResult],
                 ticker: TaskProgress) -> None:
        self.plans = {str(p.folder): p for p in plans}
        self.parts: dict[str, dict[str, Any]] = {g: {} for g in self.plans}
        self.out, self.results, self.ticker = out, results, ticker

    def done(self, task: Task, result: Any) -> None:
        """One task's result; the last of a session completes it."""
        plan, parts = self.plans[task.group], self.parts[task.group]
        parts[task.label] = result
        if len(parts) < len(plan.segments) + 1:
            return
        clips = [parts[f"{plan.folder.name}/{name}"] for name in plan.segments]
        signals = parts[f"{plan.folder.name} signals"]
        session = SessionResult(str(plan.folder), plan.fingerprint, clips, signals)
        store(self.out, session)
        self.results[plan.folder] = session
        found = sum(p.found for c in clips for p in c.track)
        frames = sum(len(c.track) for c in clips)
        self.ticker.line(f"session {plan.folder.name} done: {len(clips)} clips, "
                         f"{sum(len(c.spotted) for c in clips)} intervals spotted, "
                         f"face in {found} of {frames} frames")


def _failed_message(failures: list[Failure], results: dict, out: Path) -> str:
    named = "; ".join(f"{f.label}: {f.error}" for f in failures)
    return (f"{len(failures)} analysis task(s) failed: {named}. The results of the "
            f"{len(results)} complete session(s) are kept in {out / 'per_session'}: fix the "
            "cause and rerun with --resume to analyse only the rest")


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


def _collect(plan: _Plan, result: SessionResult, options: AnalysisOptions,
             out: _Collected) -> None:
    """One session's task results into the pooled collections, clips in segment order."""
    signals, name = result.signals, plan.folder.name
    out.overviews[name] = signals.overview
    out.channels[name] = list(signals.channels)
    subject, session = signals.overview["participant"], str(signals.overview["session"])
    out.notes += [(subject, session, n) for n in signals.notes]
    for clip in result.clips:
        out.face.add(f"{name}/{clip.name}", clip.track, clip.frame_numbers)
        _collect_clip(clip, plan.annotations, signals, options, out)
    out.epochs += signals.epochs


def _collect_clip(
    clip: ClipResult,
    annotations: list[Annotation],
    signals: SignalsResult,
    options: AnalysisOptions,
    out: _Collected,
) -> None:
    key = (clip.subject, clip.session, clip.trial)
    spotted = clip.spotted
    start, end = float(clip.times[0]), float(clip.times[-1])
    hr_times = hr = None
    if signals.heart is not None:
        # The clip's stretch of the session's heart rate (a beat either side for the slope).
        lo, hi = np.searchsorted(signals.heart[0], (start - 2.0, end + 2.0))
        hr_times, hr = signals.heart[0][lo:hi], signals.heart[1][lo:hi]
        if np.isfinite(hr).sum() < 2:  # the clip lies in a gap of the ECG, or past its end
            hr_times = hr = None
    kept = set(apply_ccf(spotted, options.ccf_mode, clip.fps, hr_times, hr, start, end))
    confident = [s for s in spotted if s.confident]
    out.rows += [_row(clip, s, s in kept) for s in spotted]
    out.candidates[key] = [Interval(s.onset, s.offset, s.kind) for s in confident]
    out.filtered[key] = [Interval(s.onset, s.offset, s.kind) for s in spotted if s in kept]
    truths = out.truths.setdefault(key, [])
    spans: list[TruthSpan] = []
    for p in placed_annotations(annotations, clip.trial, clip.frame_numbers):
        a = annotations[p.index]
        truths.append(Interval(p.onset, p.end, a.kind))
        spans.append(TruthSpan(p.onset, p.apex, p.end, a.kind, a.emotion or ""))
        if p.index in clip.me_flows:  # one recognition sample per ME: every modality
            features = {"ME": clip.me_flows[p.index],
                        **signals.features.get((clip.name, p.index), {})}
            for modality, vector in features.items():
                out.features.setdefault(modality, []).append(vector)
            out.emotions.append(a.emotion)
            out.subjects.append(a.subject)
    out.timelines.append(clip_timeline(
        clip.folder, clip.name, clip.trial, clip.times, spotted, kept, spans, clip.curve,
        signals.heart, signals.eda.get(clip.name)))


def _row(clip: ClipResult, s: SpottedInterval, kept: bool) -> SpotRow:
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


def _recognition(collected: _Collected, options: AnalysisOptions,
                 map_folds: MapFolds | None = None) -> dict[str, Any]:
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
            map_folds=map_folds,
        )
        result[task] = loso.as_dict()
    return result


def _write_outputs(
    out: Path, collected: _Collected, options: AnalysisOptions, n_sessions: int,
    map_folds: MapFolds | None = None,
) -> dict[str, Any]:
    from analysis.report import write_report

    out.mkdir(parents=True, exist_ok=True)
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
    recognition = _recognition(collected, options, map_folds)
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
