"""The `melab` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from app.cli import checks
from app.cli.analyze import add_analysis_commands
from app.cli.camera import add_camera_commands
from app.cli.export import add_export_commands
from app.cli.lsl_scope import add_lsl_arguments, lsl_scope_choice
from app.cli.rig_commands import add_rig_commands
from app.cli.stimuli import add_stimuli_commands
from app.stop_signals import StoppedBySignal


def _cmd_info(args: argparse.Namespace) -> int:
    from recordings.store.reader import open_session
    from recordings.summary import format_summary, summarize

    with open_session(args.session) as session:
        info = summarize(session)
    print(json.dumps(info, indent=2) if args.json else format_summary(info))
    return 0


def _cmd_sync(args: argparse.Namespace) -> int:
    from recordings.sync.synchronize import synchronize

    report = synchronize(args.session, trigger_channels=dict(args.trigger_channel))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from app.cli.demo import run_demo

    run_demo(args.out, seed=args.seed, autopilot=True if args.autopilot else None)
    return 0


def _cmd_gui(args: argparse.Namespace) -> int:
    from app.console.app import has_display, run_console
    from app.console.setup import SessionSetup
    from app.qt_platform import require_platform
    from app.rig import Rig, real_rig, simulated_rig

    if not has_display():
        print("melab gui: error: no display (DISPLAY/WAYLAND_DISPLAY unset, or Qt runs "
              "offscreen); `melab demo` runs the console headless", file=sys.stderr)
        return 2
    require_platform()  # before any device is opened: Qt aborts when its plugin cannot load
    if args.rating:
        return _run_rating(args)
    if args.simulate:
        width, height = args.size

        def make_rig(seconds: float) -> Rig:
            return simulated_rig(seconds, seed=args.seed, width=width, height=height,
                                 fps=args.fps, reactive=True, profile=args.rig)
    else:
        real_rig(args.camera, args.eeg, args.physio, args.trigger, args.stream,
                 args.rig)  # fail early

        def make_rig(seconds: float) -> Rig:
            return real_rig(args.camera, args.eeg, args.physio, args.trigger, args.stream,
                            args.rig)
    setup = SessionSetup(participant=args.participant, protocol=args.protocol,
                         stimuli=str(args.stimuli or ""), output=str(args.out or "sessions"))
    run = run_console(make_rig, setup, resume=args.resume)
    if run.stopped_by is not None:
        raise StoppedBySignal(run.stopped_by, run.folder)
    return 0


def _run_rating(args: argparse.Namespace) -> int:
    from app.console.rating import run_rating
    from protocols.candidates import read_candidates
    from protocols.rating import plan_rating

    candidates = read_candidates(args.rating, args.stimuli)
    plan = plan_rating(candidates, args.rater, args.out or "ratings")
    print(f"rater {args.rater}: {len(plan.done)} of {len(plan.header.order)} clips rated "
          f"before; ratings file {plan.path}", flush=True)
    phase = run_rating(plan, full_screen=args.full_screen)
    print(f"rating session {phase}; ratings file {plan.path}")
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    from app.cli.record import record_from_args

    return record_from_args(args)


def _cmd_protocol_check(args: argparse.Namespace) -> int:
    from protocols.check import check_command

    return check_command(args.file, args.stimuli)


def add_rig_arguments(parser: argparse.ArgumentParser) -> None:
    """The devices of a session: the real rig by name, or the simulated lab and its camera."""
    parser.add_argument("--simulate", action="store_true", help="record the simulated lab")
    parser.add_argument("--camera", type=checks.camera_spec,
                        help="ximea[:SERIAL] | opencv:INDEX | file:PATH")
    parser.add_argument("--eeg", metavar="QUERY",
                        help="LSL stream of the EEG (e.g. the Curry output): its name, or a "
                             "query as for --stream")
    parser.add_argument("--physio", metavar="QUERY",
                        help="LSL stream of the peripheral physiology: its name, or a query")
    parser.add_argument("--stream", metavar="QUERY", action="append", default=[],
                        help="one more LSL stream to record (repeatable), selected by "
                             "key=value[,key=value...] with keys name, type, source_id, "
                             "hostname, e.g. type=Gaze or name=Markers,hostname=stim-pc")
    parser.add_argument("--trigger", type=checks.trigger_spec,
                        help="serial:PORT (e.g. serial:/dev/ttyUSB0)")
    parser.add_argument("--rig", metavar="FILE", type=checks.rig_profile,
                        help="rig profile (TOML): each device's stream, channels and trigger "
                             "source (docs/rig-profiles.md; default: guessed, and said)")
    parser.add_argument("--seed", type=checks.seed, default=1, help="simulation seed")
    parser.add_argument("--size", type=checks.frame_size, default="640x480",
                        help="simulated camera WIDTHxHEIGHT (even, 64x48 to 2040x1088)")
    parser.add_argument("--fps", type=checks.frame_rate, default=150.0,
                        help="simulated camera frame rate (1 to 1000)")
    add_lsl_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every melab subcommand."""
    parser = OneLineErrorParser(
        prog="melab", description="Record and analyse hidden-emotion (micro-expression) sessions."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_session_commands(sub)
    _add_record_command(sub)
    add_analysis_commands(sub)
    add_export_commands(sub)
    _add_console_commands(sub)
    _add_protocol_commands(sub)
    add_rig_commands(sub)
    add_stimuli_commands(sub)
    add_camera_commands(sub)
    return parser


def _add_session_commands(sub: argparse._SubParsersAction) -> None:
    """info and sync: look at a recorded session, put it on the session clock."""
    info = sub.add_parser("info", help="summarize a recorded session")
    info.add_argument("session", type=checks.existing_session, help="session folder")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=_cmd_info)

    sync = sub.add_parser(
        "sync", help="put every sample and frame on the session clock (trigger edges)",
        description="Match the trigger edges of every device to the trigger box's log, fit each "
        "device clock, and store session_time beside the raw timestamps (docs/sync.md). "
        "Running it again replaces the earlier result; raw data is never changed.")
    sync.add_argument("session", type=checks.existing_session, help="session folder")
    sync.add_argument("--json", action="store_true", help="print JSON instead of text")
    sync.add_argument(
        "--trigger-channel", metavar="STREAM=LABEL", action="append", default=[],
        type=_stream_channel,
        help="the trigger channel of STREAM (repeatable; single lines as LABEL1,LABEL2,...), "
        "when its type and label do not say so; kept for later runs, STREAM= forgets it "
        "(docs/sync.md)")
    sync.set_defaults(func=_cmd_sync)


def _stream_channel(text: str) -> tuple[str, str]:
    """STREAM=LABEL of --trigger-channel as (stream, label); an empty label clears a choice."""
    stream, sep, label = text.partition("=")
    if not sep or not stream.strip():
        raise argparse.ArgumentTypeError(f"expected STREAM=LABEL (e.g. MP160=STIM), got {text!r}")
    return stream.strip(), label.strip()


def _add_record_command(sub: argparse._SubParsersAction) -> None:
    """record: a headless recording from the simulated lab, the real rig or a replay."""
    record = sub.add_parser(
        "record",
        help="record a session headless (simulated lab or real rig)",
        description="Record continuous streams for the whole duration and camera frames in "
        "segments. Real rig: --camera ximea[:SERIAL]|opencv:INDEX|file:PATH --eeg QUERY "
        "--physio QUERY [--stream QUERY ...] --trigger serial:PORT [--lsl-scope site]. "
        "Simulated lab: --simulate.",
    )
    add_rig_arguments(record)
    record.add_argument("--replay", metavar="SESSION", type=checks.existing_session,
                        help="play a recorded session back as the lab and record it again")
    record.add_argument("--duration", type=checks.seconds_up_to(checks.MAX_RECORD_S),
                        help="seconds to record (a replay defaults to the session's length)")
    # Defaults applied by record_from_args: with --resume, an option given must agree.
    record.add_argument("--out", type=checks.output_folder,
                        help="folder that receives the session (default sessions)")
    record.add_argument("--participant", type=checks.participant_id,
                        help="participant ID (default P01)")
    record.add_argument("--session", type=checks.int_in(1, 99, "a whole number from 1 to 99"),
                        help="session number (default 1)")
    record.add_argument("--consent", type=int, choices=(1, 2),
                        help="1: images may be published; 2 (default): data shared, images not")
    record.add_argument("--segment-length", default=60.0,
                        type=checks.number_in(checks.MIN_SEGMENT_S, checks.MAX_RECORD_S,
                                              f"seconds from {checks.MIN_SEGMENT_S:g}"),
                        help="seconds of camera frames per segment file")
    record.add_argument("--resume", metavar="SESSION", type=checks.existing_session,
                        help="continue a crashed (or early stopped) headless recording: a "
                             "new session folder beside it, linked to it, with its "
                             "participant, session and consent, the segment numbers going on "
                             "after its last")
    record.add_argument("--lz4", action="store_true", help="compress frames with LZ4")
    record.add_argument("--force", action="store_true",
                        help="start even if the disk is short or a stream cannot be synced "
                             "as meant (no trigger source, no rate, unmapped units)")
    record.set_defaults(func=_cmd_record, check=checks.check_record)


def _add_console_commands(sub: argparse._SubParsersAction) -> None:
    """demo and gui: the experimenter's console on the simulated lab or the real rig."""
    demo = sub.add_parser(
        "demo", help="run the demo protocol in the console on the simulated lab",
        description="Opens the console on the simulated lab and runs the demo protocol "
        "(practice + 3 short trials); the simulated participant shows micro-expressions in "
        "the clips. Without a display it runs offscreen, an autopilot playing the "
        "participant, and prints the session summary. Then it analyses the session into "
        "OUT/analysis/SESSION and prints the spotting figures and why recognition is skipped "
        "(it needs >= 2 participants).")
    demo.add_argument("--out", type=checks.output_folder, default="sessions",
                      help="folder that receives the session")
    demo.add_argument("--seed", type=checks.seed, default=1,
                      help="random seed of the simulation")
    demo.add_argument("--autopilot", action="store_true",
                      help="play the participant automatically also on a display")
    demo.set_defaults(func=_cmd_demo)

    gui = sub.add_parser(
        "gui", help="the experimenter's console (Qt)",
        description="Session set-up, device panel, live views, protocol control and analysis. "
        "Real rig: --camera ximea[:SERIAL]|opencv:INDEX|file:PATH --eeg QUERY --physio QUERY "
        "[--stream QUERY ...] --trigger serial:PORT [--lsl-scope site]. Simulated lab: "
        "--simulate. Rating the stimulus library: --rating LIBRARY --rater ID.")
    add_rig_arguments(gui)
    gui.add_argument("--protocol", type=checks.protocol_file, default="cmrr",
                     help="protocol file or name (cmrr, demo)")
    gui.add_argument("--stimuli", metavar="DIR", type=checks.not_a_file,
                     help="stimulus folder (overrides the protocol's)")
    gui.add_argument("--out", type=checks.output_folder,
                     help="folder that receives sessions (default sessions), or with --rating "
                          "the ratings files (default ratings)")
    gui.add_argument("--participant", type=checks.participant_or_empty, default="",
                     help="participant ID to fill in")
    gui.add_argument("--resume", metavar="SESSION", type=checks.existing_session,
                     help="continue a crashed session at its first unfinished trial, in a new "
                          "session folder linked to it (the protocol must be the one it ran)")
    gui.add_argument("--rating", metavar="LIBRARY", type=checks.existing_file,
                     help="a rating session instead (no devices): an evaluator rates the "
                          "clips of this candidate library (docs/stimuli.md); needs --rater")
    gui.add_argument("--rater", type=checks.rater_id, help="the evaluator's ID (--rating)")
    gui.add_argument("--full-screen", action="store_true",
                     help="--rating: show the clips full screen")
    gui.set_defaults(func=_cmd_gui, check=checks.check_gui)


def _add_protocol_commands(sub: argparse._SubParsersAction) -> None:
    """protocol check: validate a protocol file, its manifest and clips."""
    protocol = sub.add_parser("protocol", help="work with protocol files")
    protocol_sub = protocol.add_subparsers(dest="protocol_command", required=True)
    check = protocol_sub.add_parser(
        "check", help="validate a protocol file, its stimulus manifest and clips",
        description="List every problem (file:line) of a protocol; exit 1 if it cannot run.")
    check.add_argument("file", type=checks.protocol_file,
                       help="protocol file, or the name of a packaged one (cmrr, demo)")
    check.add_argument("--stimuli", metavar="DIR", type=checks.not_a_file,
                       help="stimulus folder (overrides [stimuli].folder in the file)")
    check.set_defaults(func=_cmd_protocol_check)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `melab` command."""
    from core.clock import configure_lsl
    from drivers.sim.ptypair import remove_stale_pty_pairs

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or argparse named a bad option (exit code 2)
        return int(stop.code or 0)
    try:
        scope = lsl_scope_choice(args)
        if "check" in args:  # every input checked before anything starts (no LSL needed)
            args.check(args)
        # Before anything can touch LSL: this machine only, unless the real rig asks wider.
        configure_lsl(scope.scope)
        remove_stale_pty_pairs()  # of a simulated lab whose melab was killed (SIGKILL)
        if scope.stated:
            print(scope.line(), flush=True)
        return int(args.func(args))
    except StoppedBySignal as stopped:  # the session was closed first
        print(f"melab {command_name(args)}: {stopped}", file=sys.stderr)
        return stopped.exit_code
    except Exception as exc:
        message = expected_error(exc)
        if message is None:
            raise  # a bug: its traceback must stay visible
        print(f"melab {command_name(args)}: error: {message}", file=sys.stderr)
        return 2


def expected_error(exc: Exception) -> str | None:
    """One line for an error the user can act on (bad input, device, disk, damaged file);
    None for any other exception, which is a bug."""
    from analysis import AnalysisFailed
    from core.clock import LslConfigError
    from core.devices import DeviceError
    from recordings.recorder import RecorderError
    from recordings.store.errors import SessionError

    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}; check the path, its permissions and free space"
    if not isinstance(exc, SessionError | DeviceError | RecorderError | LslConfigError
                      | checks.CommandError | AnalysisFailed
                      | ValueError):
        return None
    return one_line(str(exc)) or type(exc).__name__


def one_line(text: str) -> str:
    """A message of several lines (a list of problems) as one: 'a:\n  b\n  c' -> 'a: b; c'."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = lines[0] if lines else ""
    for line in lines[1:]:
        joined += (" " if joined.endswith(":") else "; ") + line
    return joined


def command_name(args: argparse.Namespace) -> str:
    """The command as typed: `record`, `protocol check`, ..."""
    # A command with subcommands stores the one typed as `<command>_command`.
    sub = getattr(args, f"{args.command}_command", None) if args.command else None
    return " ".join(filter(None, (args.command, sub)))


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse's parser, but a bad option is one line on stderr (no usage block)."""

    def error(self, message: str) -> NoReturn:
        """Print `PROG: error: MESSAGE; what to do` and exit with code 2."""
        hint = "" if "; " in message else f"; see `{self.prog} --help`"
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")
