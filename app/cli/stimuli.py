"""`melab stimuli validate`: norms, reliability and the selection of a rated library."""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli import checks

if TYPE_CHECKING:
    from protocols.norms import RatingStudy


def ratings_files(paths: list[Path]) -> list[Path]:
    """The files given, with every ratings_*.csv of the folders given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.glob("ratings_*.csv"))
            if not inside:
                raise ValueError(f"{path}: no ratings_*.csv in this folder; give ratings files")
            found += inside
        else:
            found.append(path)
    return found


def base_design(base: str) -> tuple[tuple[str, ...], int]:
    """The base protocol's design emotions and its number of practice clips."""
    from protocols.loader import resolve_protocol_path

    path = resolve_protocol_path(base)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        emotions = tuple(data["design"]["emotions"])
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: cannot read design.emotions of the base protocol ({exc}); "
                         "`melab protocol check` says more") from None
    return emotions, len(data.get("practice", {}).get("clips", []))


def format_study(study: RatingStudy) -> str:
    """Raters, missing answers and the reliability figures for the terminal."""
    lines = [f"{len(study.raters)} raters, {len(study.clips)} clips; "
             f"{len(study.raters_with_missing)} rater(s) with missing answers"]
    for scale, rel in study.reliability.items():
        if rel.note:
            lines.append(f"  {scale}: no reliability: {rel.note}")
            continue
        iccs = "  ".join(f"{i.shrout_fleiss} {i.value:.3f} [{i.ci_low:.3f}, {i.ci_high:.3f}]"
                         for i in rel.iccs)
        lines.append(f"  {scale}: alpha {rel.alpha:.3f} [{rel.alpha_ci[0]:.3f}, "
                     f"{rel.alpha_ci[1]:.3f}]  {iccs}  ({rel.raters} raters x {rel.clips} "
                     f"clips, {rel.clips_left_out} clip(s) left out)")
    return "\n".join(lines)


def cmd_validate(args: argparse.Namespace) -> int:
    """Compute the norms and reliability; with --select, choose clips and write a library."""
    from protocols.candidates import read_candidates
    from protocols.check import check_command
    from protocols.library_writer import write_selected
    from protocols.norms import study as make_study
    from protocols.ratings_file import read_rating_files
    from protocols.selection import SelectionRules, default_min_ratings, select_clips
    from protocols.stimuli_report import write_report

    candidates = read_candidates(args.library, args.stimuli)
    files = read_rating_files(ratings_files(args.ratings), set(candidates.rated))
    study = make_study(files, candidates)
    selection = None
    if args.select is not None:
        emotions, practice = base_design(args.protocol)
        rules = SelectionRules(
            per_emotion=args.select, emotions=emotions,
            min_ratings=args.min_ratings or default_min_ratings(len(files)),
            max_duration_s=args.max_duration,
            practice=practice if args.practice is None else args.practice)
        selection = select_clips(study.clips, rules)
    report = write_report(args.out, study, selection)
    print(format_study(study))
    print(f"report: {report}")
    if selection is None:
        return 0
    if selection.short:
        lacking = ", ".join(f"{e} {n}" for e, n in selection.short.items())
        raise ValueError(f"too few eligible clips for --select {args.select} ({lacking}); "
                         f"{args.out / 'selection.csv'} says why each clip was left out; "
                         "no library written")
    source = " ".join(str(p) for p in args.ratings)
    manifest, protocol = write_selected(args.out, selection, candidates, args.protocol, source)
    print(f"library: {manifest}\nprotocol: {protocol}")
    return 0 if check_command(protocol, out=sys.stdout) == 0 else 1


def add_stimuli_commands(sub: argparse._SubParsersAction) -> None:
    """Register `stimuli validate` on the melab parser."""
    stimuli = sub.add_parser("stimuli", help="rate and choose the stimulus library")
    stimuli_sub = stimuli.add_subparsers(dest="stimuli_command", required=True)
    validate = stimuli_sub.add_parser(
        "validate", help="norms and reliability of rated clips; --select N chooses a library",
        description="Read the raters' files (melab gui --rating), write per-clip norms "
        "(clip_ratings.csv), Cronbach's alpha and ICCs (reliability.csv) and report.html into "
        "OUT. With --select N: choose N clips per emotion (hit rate, then arousal; "
        "docs/stimuli.md) and write library.toml and protocol.toml, checked at once.")
    validate.add_argument("ratings", nargs="+", type=Path,
                          help="ratings files, or folders holding ratings_*.csv")
    validate.add_argument("--library", required=True, type=checks.existing_file,
                          help="the candidate library (stimulus manifest) the raters rated")
    validate.add_argument("--stimuli", metavar="DIR", type=checks.existing_folder,
                          help="folder of the clip files (default: the library's folder)")
    validate.add_argument("--out", required=True, type=checks.empty_output_folder,
                          help="new or empty folder for the report and the library")
    validate.add_argument("--select", type=checks.int_in(1, 99, "a whole number from 1 to 99"),
                          metavar="N", help="choose N clips per emotion")
    validate.add_argument("--protocol", type=checks.protocol_file, default="cmrr",
                          help="protocol the selected library is written into (default cmrr)")
    validate.add_argument("--min-ratings", type=checks.int_in(1, 9999, "a whole number >= 1"),
                          help="answers a clip needs (default: 80 %% of the raters, >= 2)")
    validate.add_argument("--max-duration", default=60.0,
                          type=checks.number_in(1.0, 3600.0, "seconds from 1 to 3600"),
                          help="longest clip that may be chosen, seconds (default 60)")
    validate.add_argument("--practice", type=checks.int_in(0, 99, "a whole number from 0"),
                          help="practice clips to choose among the clips left over "
                               "(default: as many as the protocol has)")
    validate.set_defaults(func=cmd_validate)
