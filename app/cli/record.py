"""`melab record`: a headless recording from the simulated lab or a real rig."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.stop_signals import StopSignals
from drivers.interfaces import Camera, ContinuousStream, TriggerBox
from drivers.lsl_markers import MarkerOutlet
from recordings.camera_losses import dropped_text
from recordings.recorder import Recorder
from recordings.rigs.profile import RigProfile
from recordings.store.ground_truth import write_ground_truth
from recordings.store.layout import (
    STOP_DISK_FULL,
    STOP_END,
    STOP_WRITE_ERROR,
    new_session_folder,
)
from recordings.store.metadata import SessionMetadata

# How often the recording loop looks for a reason to end early (a write error, a stop
# signal): well inside the 1 s in which a full disk must stop every device.
CHECK_INTERVAL_S = 0.05
DEFAULT_PARTICIPANT = "P01"
DEFAULT_OUT = "sessions"


@dataclass
class RecordOptions:
    """What `melab record` was asked to do."""

    folder: Path
    metadata: SessionMetadata
    duration: float
    segment_length: float = 60.0
    compression: str | None = None
    force: bool = False
    first_segment: int = 1  # a resumed recording goes on after the crashed one's segments


def record_segments(recorder: Recorder, options: RecordOptions, progress: bool = True,
                    stop: StopSignals | None = None) -> None:
    """Record for options.duration seconds, camera frames in segments of segment_length;
    a write error (recorder.failure, e.g. a full disk) or a stop signal ends it at once."""

    def ended() -> bool:
        return recorder.failure is not None or (stop is not None and stop.requested)

    start = time.monotonic()
    index = options.first_segment - 1
    next_report = 0.5
    while (elapsed := time.monotonic() - start) < options.duration and not ended():
        if recorder.camera is not None:
            index += 1
            # The first segment opens with the recording; each next one takes over from the
            # one before without a gap (Recorder.start_segment).
            if index > options.first_segment or not recorder.segment_active:
                recorder.start_segment(segment_name(index), trial=index)
            recorder.event("segment_start", trial=index)
        segment_end = min(options.duration, elapsed + options.segment_length)
        while (elapsed := time.monotonic() - start) < segment_end and not ended():
            time.sleep(min(CHECK_INTERVAL_S, segment_end - elapsed))
            if progress and elapsed >= next_report:
                print_status(recorder)
                # A terminal gets a live line; a log file gets one line every 5 s.
                next_report = elapsed + (0.5 if sys.stdout.isatty() else 5.0)
        if recorder.camera is not None:
            recorder.event("segment_stop", trial=index)
    recorder.stop_segment()
    if progress:
        print()


def print_status(recorder: Recorder) -> None:
    """The recording's status line: time, frames (dropped, lost), samples per stream."""
    s = recorder.status()
    streams = ", ".join(f"{x.name} {x.samples}" for x in s.streams)
    end = "" if sys.stdout.isatty() else "\n"
    print(f"\r  {s.elapsed:6.1f} s  frames {s.frames} "
          f"({dropped_text(s.dropped_frames, s.camera_losses)}, {s.lost_frames} lost)"
          f"  {streams}   ", end=end, flush=True)


def segment_name(index: int) -> str:
    """File name of the index-th camera segment of a headless recording."""
    return f"segment{index:03d}"


def run_recording(
    options: RecordOptions,
    streams: dict[str, ContinuousStream],
    camera: Camera | None,
    trigger: TriggerBox | None,
    progress: bool = True,
    on_connected: Callable[[], None] | None = None,
    stop: StopSignals | None = None,
    profile: RigProfile | None = None,
    markers: MarkerOutlet | None = None,
) -> Recorder | None:
    """Connect, preflight, record and close; returns the finished recorder (None when a stop
    signal came before the recording started: nothing is recorded then).

    A stop signal ends the recording early, closed and synchronized as at its end. A
    recording stopped by a write error (recorder.failure) is closed but not synchronized:
    sync writes to the session, and its disk may be full. profile: what each stream carries
    (None: the defaults); the preflight refuses streams that cannot be recorded as meant.
    """
    recorder = Recorder(options.folder, options.metadata, streams=streams, camera=camera,
                        trigger=trigger, compression=options.compression,
                        on_message=lambda m: print(f"\n  ! {m}"), profile=profile,
                        markers=markers)
    recorder.connect()
    try:
        check = recorder.preflight(options.duration, options.duration, force=options.force)
    except Exception:
        recorder.close_devices()
        raise
    if progress:
        print(f"  disk: {check.describe()}")
    if on_connected is not None:
        on_connected()
    if stop is not None and stop.requested:
        recorder.close_devices()
        return None
    first = options.first_segment
    recorder.start(first_segment=(segment_name(first), first) if camera is not None else None)
    try:
        record_segments(recorder, options, progress, stop)
    finally:
        received = stop.received if stop is not None else None
        recorder.stop(received.name if received is not None else STOP_END)
    if recorder.failure is None:
        sync_recording(options.folder, progress)
    return recorder


def sync_recording(folder: Path, progress: bool = True) -> None:
    """Synchronize a just-closed session (docs/sync.md); warnings are always printed."""
    from recordings.sync.synchronize import synchronize

    try:
        report = synchronize(folder)
    except Exception as exc:  # the recording itself is complete and safe: say so, go on
        print(f"  ! sync failed: {exc}; the recording is complete, run `melab sync {folder}`")
        return
    if progress:
        print(report.format())
    else:
        for warning in report.warnings:
            print(f"  ! sync: {warning}")


def record_simulated(options: RecordOptions, seed: int = 1, width: int = 640,
                     height: int = 480, fps: float = 150.0, progress: bool = True,
                     stop: StopSignals | None = None, shape: str = "",
                     profile: RigProfile | None = None, prefix: str = "") -> Path:
    """Record from the simulated lab and store its ground truth in the session (unless a
    write error stopped the recording: its disk may be full). shape, profile, prefix: as
    app.rig.simulated_rig takes them."""
    from app.rig import MAX_SIMULATED_S, simulated_rig

    if options.duration + 30.0 > MAX_SIMULATED_S:
        raise ValueError(f"--simulate records at most {MAX_SIMULATED_S - 30.0:g} s (the lab "
                         "computes its signals ahead); use a shorter --duration")
    rig = simulated_rig(options.duration, seed, width, height, fps, prefix=prefix, shape=shape,
                        profile=profile)
    lab = rig.lab
    try:
        options.metadata.simulated = True
        recorder = run_recording(options, rig.streams, rig.camera, rig.trigger, progress,
                                 stop=stop, profile=rig.profile, markers=rig.markers)
    finally:
        rig.close()
    if recorder is not None and recorder.failure is None:
        write_ground_truth(options.folder, lab.ground_truth())
    return options.folder


def record_replay(options: RecordOptions, session: Path, progress: bool = True,
                  stop: StopSignals | None = None) -> Path:
    """Re-record a recorded session played back through LSL outlets and a replay camera."""
    from recordings.replay import ReplayLab

    lab = ReplayLab(session)
    options.metadata.notes = f"replay of {session}"
    options.metadata.simulated = lab_is_simulated(session)
    if options.duration <= 0:
        options.duration = lab.duration
    lab.open()
    try:
        run_recording(options, lab.streams(), lab.camera(), None, progress,
                      on_connected=lab.start, stop=stop, markers=MarkerOutlet())
    finally:
        lab.stop()
    return options.folder


def lab_is_simulated(session: Path) -> bool:
    """Whether a recorded session came from the simulated lab."""
    from recordings.store.reader import open_session

    with open_session(session) as s:
        return s.metadata.simulated


def record_from_args(args: argparse.Namespace) -> int:
    """Run `melab record` from parsed command-line arguments (app.cli.checks.check_record
    passed); prints the summary and returns the exit code (1 when a write error stopped the
    recording). SIGTERM, SIGHUP and SIGINT close the session as at its end, then raise
    StoppedBySignal."""
    from app.cli.resume import record_continuation
    from recordings.store.reader import open_session
    from recordings.summary import format_summary, summarize

    if args.resume:
        continued = record_continuation(args)
        metadata, out, first_segment = continued.metadata, continued.out, continued.first_segment
    else:
        metadata = SessionMetadata(args.participant or DEFAULT_PARTICIPANT,
                                   session=args.session or 1, consent_level=args.consent or 2)
        out, first_segment = args.out or Path(DEFAULT_OUT), 1
    metadata.validate()
    folder = new_session_folder(out, metadata.participant, metadata.session)
    options = RecordOptions(folder, metadata, args.duration or 0.0, args.segment_length,
                            "lz4" if args.lz4 else None, args.force, first_segment)
    with StopSignals() as stop:
        if args.replay:
            record_replay(options, args.replay, stop=stop)
        elif args.simulate:
            width, height = args.size
            record_simulated(options, args.seed, width, height, args.fps, stop=stop,
                             profile=args.rig)
        else:
            from app.rig import real_rig

            rig = real_rig(args.camera, args.eeg, args.physio, args.trigger, args.stream,
                           args.rig)
            run_recording(options, rig.streams, rig.camera, rig.trigger, stop=stop,
                          profile=rig.profile, markers=rig.markers)
        if not folder.exists():  # stopped before the recording started
            stop.raise_if_received(None)
    with open_session(folder) as session:
        info = summarize(session)
    print(format_summary(info))
    if info["stop_reason"] in (STOP_DISK_FULL, STOP_WRITE_ERROR):
        print(f"melab record: stopped: {info['stop_reason']}; session closed: {folder} "
              "(everything written before the stop is kept)", file=sys.stderr)
        return 1
    stop.raise_if_received(folder)
    return 0
