"""Checks of `melab`'s inputs before a command starts: argparse types for single options, and
one function per command for what several options decide together.

A bad option is reported by argparse as `melab CMD: error: argument --X: ...`; main() reports
what a command check raises the same way. Either way: one line saying what is wrong and what
to do, exit code 2, and nothing created.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recordings.rigs.profile import RigProfile

# The XIMEA MQ022's sensor is the largest frame; the face renderer needs at least 64x48 and
# even sides (Bayer 2x2 cells).
MAX_FRAME = (2040, 1088)
MIN_FRAME = (64, 48)
MAX_SEED = 2**32 - 1
MAX_RECORD_S = 24 * 3600.0  # a longer session is a typo, not an experiment
MIN_SEGMENT_S = 0.1  # a segment holds a trial's frames; shorter ones only multiply files


class CommandError(Exception):
    """An expected failure a command reports as one line (not a bug: no traceback)."""


def _bad(text: str, wanted: str) -> argparse.ArgumentTypeError:
    """The error argparse prints after `argument --X:`."""
    return argparse.ArgumentTypeError(f"{text!r} is not usable; give {wanted}")


def number_in(low: float, high: float, wanted: str,
              above_low: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number from low (or above it) to high."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _bad(text, wanted) from None
        too_low = value <= low if above_low else value < low
        if not math.isfinite(value) or too_low or value > high:
            raise _bad(text, wanted)
        return value

    return parse


def int_in(low: int, high: int, wanted: str) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise _bad(text, wanted) from None
        if not low <= value <= high:
            raise _bad(text, wanted)
        return value

    return parse


def seconds_up_to(high: float) -> Callable[[str], float]:
    """An argparse type: a duration in seconds, above 0 and at most high."""
    return number_in(0.0, high, f"seconds above 0, at most {high:g}", above_low=True)


frame_rate = number_in(1.0, 1000.0, "frames per second from 1 to 1000")
seed = int_in(0, MAX_SEED, f"a whole number from 0 to {MAX_SEED}")


def frame_size(text: str) -> tuple[int, int]:
    """An argparse type: WIDTHxHEIGHT of a simulated camera, even, 64x48 to 2040x1088."""
    wanted = (f"WIDTHxHEIGHT with even sides from {MIN_FRAME[0]}x{MIN_FRAME[1]} to "
              f"{MAX_FRAME[0]}x{MAX_FRAME[1]}, e.g. 640x480")
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise _bad(text, wanted) from None
    fits = MIN_FRAME[0] <= width <= MAX_FRAME[0] and MIN_FRAME[1] <= height <= MAX_FRAME[1]
    if not fits or width % 2 or height % 2:
        raise _bad(text, wanted)
    return width, height


def participant_id(text: str) -> str:
    """An argparse type: a participant ID usable in a folder name."""
    from recordings.store.metadata import validate_participant_id

    try:
        return validate_participant_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def rater_id(text: str) -> str:
    """An argparse type: a rater ID (the participant ID rules)."""
    from protocols.ratings_file import validate_rater_id

    try:
        return validate_rater_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def participant_or_empty(text: str) -> str:
    """An argparse type: a participant ID, or nothing (filled in later in the console)."""
    return text if text == "" else participant_id(text)


def existing_session(text: str) -> Path:
    """An argparse type: a recorded session folder (or its session.h5) that can be read."""
    from recordings.store.errors import SessionError
    from recordings.store.reader import check_session

    try:
        return check_session(text)
    except SessionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def existing_folder(text: str) -> Path:
    """An argparse type: a folder that exists."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path}: no such folder; check the path")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: a file, not a folder; give a folder")
    return path


def existing_file(text: str) -> Path:
    """An argparse type: a file that exists."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path}: a folder, not a file; give a file")
    return path


def not_a_file(text: str) -> Path:
    """An argparse type: a folder, or a path where one may be made (not an existing file)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: a file, not a folder; give a folder")
    return path


def output_folder(text: str) -> Path:
    """An argparse type: a folder melab can write into, or create (nothing is created here)."""
    path = Path(text)
    probe = path
    while not probe.exists():  # the folder is created later, under its nearest existing parent
        probe = probe.parent
    if not probe.is_dir():
        where = "" if probe == path else f" ({probe} is a file)"
        raise argparse.ArgumentTypeError(
            f"{path}: not a folder{where}; give a folder, existing or new")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(
            f"{path}: no permission to write in {probe}; give a folder you can write to")
    return path


def empty_output_folder(text: str) -> Path:
    """An argparse type: an output folder that is new or empty."""
    path = output_folder(text)
    if path.is_dir() and any(path.iterdir()):
        raise argparse.ArgumentTypeError(
            f"{path} is not empty: melab never writes into existing sessions; give a new folder")
    return path


def protocol_file(text: str) -> str:
    """An argparse type: a protocol file, or the name of a packaged one (cmrr, demo)."""
    from protocols.loader import resolve_protocol_path

    path = resolve_protocol_path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(
            f"{path}: no such protocol file; give a protocol file or a packaged name (cmrr, demo)")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path}: a folder, not a protocol file; give the file")
    return text


def rig_profile(text: str) -> RigProfile:
    """An argparse type: a rig profile read and checked (every problem as file:line)."""
    from recordings.rigs.profile import RigProfileError, load_profile

    try:
        return load_profile(text)
    except RigProfileError as exc:
        raise argparse.ArgumentTypeError("; ".join(str(p) for p in exc.problems)) from None


def camera_spec(text: str) -> str:
    """An argparse type: ximea[:SERIAL] | opencv:INDEX | file:PATH (an existing video file)."""
    kind, _, value = text.partition(":")
    if kind == "opencv" and not (value or "0").isdigit():
        raise _bad(text, "opencv:INDEX with INDEX a whole number >= 0, e.g. opencv:0")
    if kind == "file":
        existing_file(value)
    elif kind not in ("ximea", "opencv"):
        raise _bad(text, "ximea[:SERIAL], opencv:INDEX or file:PATH")
    return text


def trigger_spec(text: str) -> str:
    """An argparse type: serial:PORT."""
    kind, _, port = text.partition(":")
    if kind != "serial" or not port:
        raise _bad(text, "serial:PORT, e.g. serial:/dev/ttyUSB0")
    return text


def check_record(args: argparse.Namespace) -> None:
    """What `melab record`'s options decide together, before anything starts."""
    _one_lab(args, ("--replay SESSION", bool(args.replay)))
    if args.duration is None and not args.replay:
        raise ValueError("--duration is required (seconds to record)")
    if args.resume:
        from app.cli.resume import record_continuation

        record_continuation(args)


def check_gui(args: argparse.Namespace) -> None:
    """What `melab gui`'s options decide together, before a window opens."""
    if args.rating or args.rater:
        if not (args.rating and args.rater):
            raise ValueError("a rating session needs both --rating LIBRARY and --rater ID")
        devices = [f"--{n}" for n in ("simulate", "camera", "eeg", "physio", "stream",
                                      "trigger") if getattr(args, n, None)]
        if devices:
            raise ValueError(f"a rating session uses no devices: leave out {' '.join(devices)}")
        return
    _one_lab(args)
    if args.resume:
        from app.cli.resume import check_gui_resume

        check_gui_resume(args)


def _one_lab(args: argparse.Namespace, *other: tuple[str, bool]) -> None:
    """Exactly one lab: the simulated one, real devices, or another source (a replay)."""
    recorded = [f"--{name}" for name in ("camera", "eeg", "physio", "stream")
                if getattr(args, name, None)]
    devices = " ".join(recorded + (["--trigger"] if args.trigger else []))
    given = [name for name, on in (("--simulate", args.simulate), (devices, bool(devices)),
                                   *other) if on]
    if len(given) > 1:
        raise ValueError(f"{' and '.join(given)} name different labs; give one of them")
    if not recorded and not args.simulate and not any(on for _, on in other):
        *first, last = ["--camera, --eeg, --physio and/or --stream", "--simulate",
                        *(name for name, _ in other)]
        raise ValueError(f"nothing to record: give {', '.join(first)} or {last}")


def check_analyze(args: argparse.Namespace) -> None:
    """`melab analyze`: sessions are found and readable, and --out is inside none of them."""
    from analysis.clips import sessions_under
    from recordings.store.reader import check_session

    if args.workers is not None and args.scheduler is not None:
        raise ValueError("--workers sizes the local cluster and --scheduler names another one: "
                         "give one of them")
    try:
        folders = sessions_under(args.sessions)
    except FileNotFoundError as exc:
        raise ValueError(f"{exc}; give session folders or folders that hold them") from None
    for folder in folders:
        check_session(folder)
    out = args.out.resolve()
    if any(out == f.resolve() or f.resolve() in out.parents for f in folders):
        raise ValueError(f"--out {args.out} is inside a session; melab never writes into "
                         "sessions: give another folder")
