"""`melab analyze` and `melab simulate-dataset`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli import checks
from core.expressions import KINDS


def progress_bar(fraction: float, message: str) -> None:
    """A one-line terminal progress bar (plain lines when not on a terminal)."""
    width = 30
    filled = round(fraction * width)
    line = f"[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} {message[:60]}"
    if sys.stderr.isatty():
        print(f"\r{line:<100}", end="" if fraction < 1 else "\n", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def figure(value: float | None) -> str:
    """A score to 3 decimals, or n/a where there was nothing to score."""
    return "n/a" if value is None else f"{value:.3f}"


def format_results(summary: dict) -> str:
    """The headline figures of an analysis for the terminal."""
    face = summary.get("face")
    lines = [f"Face found in {face['found']} of {face['frames']} frames", *face["messages"]
             ] if face else []
    lines += [f"Signals: {n['subject']}/{n['session']} {n['stream']} "
              f"{n['channel'] or '(all channels)'}: {n['detail']}"
              for n in summary.get("signals", [])]
    lines += spotting_lines(summary["spotting"], summary["spotted"])
    recognition = summary["recognition"]
    if "skipped" in recognition:
        lines.append(f"Recognition skipped: {recognition['skipped']}")
    for task in ("3class", "7class"):
        if task in recognition:
            lines += recognition_lines(task, recognition[task], recognition["samples"])
    lines.append(f"Concordance: {summary['concordance_tested']} paired t-tests run of "
                 f"{summary['concordance_rows']} rows (p corrected by Benjamini-Hochberg)")
    return "\n".join(lines)


def spotting_lines(spot: dict, spotted: int) -> list[str]:
    """Spotting figures; without annotations only the counts of spotted intervals."""
    if not spot["annotated"]:
        return [f"No annotations: {spotted} intervals spotted ({spot['micro_spotted']} micro, "
                f"{spot['macro_spotted']} macro confident), listed in spotting.csv; "
                "no precision, recall or F1 without a ground truth"]
    lines = [f"Ground truth: {spot['micro_truth']} micro-, {spot['macro_truth']} "
             f"macro-expressions; {spotted} intervals spotted",
             "Spotting (IoU >= 0.5, pooled; n/a: no instance of that kind in the truth):"]
    for kind in (*KINDS, "overall"):
        lines.append(
            f"  {kind:<8} F1 {figure(spot[f'{kind}_f1'])}  P {figure(spot[f'{kind}_precision'])}"
            f"  R {figure(spot[f'{kind}_recall'])}   with CCF: F1 "
            f"{figure(spot[f'{kind}_f1_ccf'])}  P {figure(spot[f'{kind}_precision_ccf'])}  "
            f"R {figure(spot[f'{kind}_recall_ccf'])}"
        )
    return lines


def recognition_lines(task: str, scores: dict, samples: int) -> list[str]:
    """Scores per modality after the class counts and chance levels they compare with."""
    first = next(iter(scores.values()))
    chance = first["chance"]
    counts = ", ".join(f"{c} {n}" for c, n in zip(first["labels"], first["support"],
                                                   strict=True))
    lines = [f"Recognition {task} (LOSO, {samples} MEs; {counts}):",
             f"  chance  Acc {figure(chance['majority_acc'])} (always "
             f"{chance['majority_class']}), UF1 {figure(chance['majority_uf1'])}; uniform "
             f"guess Acc/UAR {figure(chance['uniform'])}"]
    for name, s in scores.items():
        lines.append(f"  {name:<6} Acc {figure(s['acc'])}  F1 {figure(s['f1'])}  "
                     f"UF1 {figure(s['uf1'])}  UAR {figure(s['uar'])}")
    return lines


def cmd_analyze(args: argparse.Namespace) -> int:
    """Run the offline analysis and print its headline figures."""
    from analysis.pipeline import AnalysisOptions, analyze
    from analysis.scheduler import RunOptions

    chosen = {"ccf_mode": args.ccf, "fusion_weighting": args.fusion_weights,
              "fusion_voters": args.fusion_voters, "classifier": args.classifier}
    options = AnalysisOptions(**{k: v for k, v in chosen.items() if v is not None})
    before = set(args.out.iterdir()) if args.out.is_dir() else None
    try:
        summary = analyze(args.sessions, args.out, args.annotations, options,
                          run=RunOptions(args.workers, args.scheduler, args.resume),
                          bar_file=sys.stderr)
    except Exception:
        tell_what_was_written(args.out, before)
        raise
    for note in without_video(args.sessions):
        print(note)
    print(format_results(summary))
    print(f"Results in {args.out}: {', '.join(summary['files'])}")
    return 0


def without_video(paths: list[Path]) -> list[str]:
    """A line for each session with no video (e.g. one `melab import xdf` made): what of the
    analysis ran on it and what could not."""
    from analysis.clips import sessions_under
    from recordings.store.reader import open_session

    notes = []
    for folder in sessions_under(paths):
        with open_session(folder) as session:
            if any(session.segment(n).n_frames > 1 for n in session.segment_names()):
                continue
        notes.append(f"{folder.name}: no video in this session, so no face spotting and no "
                     "ME features; its physiology and EEG are analysed around the coded "
                     "expressions (annotations with onset/apex/offset in seconds)")
    return notes


def tell_what_was_written(out: Path, before: set[Path] | None) -> None:
    """After a failed analysis: remove the output folder it made if it stayed empty, else
    name the files it wrote (on stderr, before main() names the error)."""
    if not out.is_dir():
        return
    written = sorted(p.name for p in out.iterdir() if before is None or p not in before)
    if written:
        print(f"melab analyze: wrote {', '.join(written)} into {out} before the failure",
              file=sys.stderr)
    elif before is None:
        out.rmdir()


def cmd_simulate_dataset(args: argparse.Namespace) -> int:
    """Write a simulated dataset of N participants with ground-truth annotations."""
    from recordings.simulated.dataset import DatasetConfig, write_dataset

    width, height = args.size
    cfg = DatasetConfig(participants=args.participants, duration=args.duration, width=width,
                        height=height, fps=args.fps, seed=args.seed)
    out = args.out
    folders = write_dataset(out, cfg, progress=lambda i, n: progress_bar(i / n, f"{i}/{n}"))
    print(f"{len(folders)} simulated sessions in {out}")
    return 0


def add_analysis_commands(sub: argparse._SubParsersAction) -> None:
    """Register analyze and simulate-dataset on the melab parser."""
    analyze = sub.add_parser("analyze", help="spot, recognise and test concordance of sessions")
    analyze.add_argument("sessions", nargs="+", type=checks.existing_folder,
                         help="session folders, or folders holding sessions")
    analyze.add_argument("--annotations", nargs="*", default=[], type=checks.existing_file,
                         help="FACS coding files (CSV/XLSX); default: the sessions' own")
    analyze.add_argument("--out", required=True, type=checks.output_folder,
                         help="folder for the results (created when the results are written)")
    # Defaults and allowed values live in analysis.pipeline.AnalysisOptions (importing it here
    # would load OpenCV and NeuroKit2 for every melab command); check() names a bad value.
    analyze.add_argument("--ccf", metavar="rescue|veto",
                         help="Candidate Clip Filter: confirm faint candidates from the heart "
                              "rate (rescue, default) or judge every candidate by eq. 12 (veto)")
    analyze.add_argument("--fusion-weights", metavar="recall|youden",
                         help="vote weights of the fusion: per-class recall (the paper's eq. "
                              "7-10, default) or Youden's J, which gives chance-level votes none")
    analyze.add_argument("--fusion-voters", metavar="modalities|signals",
                         help="fuse ME, EEG and all peripheral features as one PERI classifier "
                              "(default), or ME, EEG and each peripheral signal on its own")
    analyze.add_argument("--classifier", metavar="logreg|svm_linear|svm_rbf",
                         help="the classifier of every modality (default logreg)")
    analyze.add_argument("--workers", type=checks.int_in(1, 4096, "a whole number from 1"),
                         help="worker processes of the local Dask cluster (default: one per "
                              "core; 1: every task in this process, for debugging)")
    analyze.add_argument("--scheduler", metavar="ADDRESS",
                         help="run the tasks on a running Dask scheduler (tcp://host:8786) "
                              "whose workers see the same session files")
    analyze.add_argument("--resume", action="store_true",
                         help="keep the sessions whose results in --out are complete and "
                              "match their inputs; analyse only the rest")
    analyze.set_defaults(func=cmd_analyze, check=checks.check_analyze)

    dataset = sub.add_parser("simulate-dataset",
                             help="write simulated sessions with ground-truth annotations")
    dataset.add_argument("--participants", default=6,
                         type=checks.int_in(1, 999, "a whole number from 1 to 999"))
    dataset.add_argument("--out", required=True, type=checks.empty_output_folder,
                         help="empty folder for the sessions")
    dataset.add_argument("--duration", default=420.0,
                         type=checks.number_in(60.0, 3600.0, "seconds from 60 to 3600"),
                         help="seconds per session (7 trials; 60 to 3600)")
    dataset.add_argument("--size", type=checks.frame_size, default="640x480",
                         help="camera WIDTHxHEIGHT (even, 64x48 to 2040x1088)")
    dataset.add_argument("--fps", type=checks.frame_rate, default=50.0,
                         help="camera frame rate (1 to 1000)")
    dataset.add_argument("--seed", type=checks.seed, default=100)
    dataset.set_defaults(func=cmd_simulate_dataset)
