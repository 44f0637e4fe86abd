"""One session recorded from the console, Qt-free: recorder with display taps, then closing.

Closing stops the recorder, stores the simulation's ground truth, puts every sample and frame
on the session clock (recordings.sync.synchronize) and summarises the session.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.console.live_sync import LiveSync
from app.console.resume import ResumePlan
from app.console.setup import SessionSetup, protocol_seconds, session_metadata
from app.console.sink import ObservingSink
from app.console.taps import ChunkTap, LatestFrame
from app.rig import Rig, device_name
from core.devices import Chunk, Frame
from protocols.model import Protocol
from protocols.order import session_seed
from protocols.sinks import RecorderSink
from recordings.live_sync import SyncHealth
from recordings.recorder import Recorder, RecorderError, RecorderStatus
from recordings.store.ground_truth import write_ground_truth
from recordings.store.layout import STOP_END, new_session_folder
from recordings.store.metadata import Event


@dataclass
class FinishedSession:
    """A closed session: where it is, its summary, how sync went, what went wrong."""

    folder: Path
    summary: dict[str, Any]
    summary_text: str
    sync_text: str
    problems: list[str] = field(default_factory=list)


def synchronize_session(folder: Path) -> str:
    """Put the session on one clock (docs/sync.md); returns the sync report's text."""
    from recordings.sync.synchronize import synchronize

    return str(synchronize(folder).format())


class ConsoleRecording:
    """The recorder of one session, its display taps and its event sink."""

    def __init__(self, rig: Rig, setup: SessionSetup, protocol: Protocol,
                 resume: ResumePlan | None = None) -> None:
        self.rig = rig
        self.protocol = protocol
        if resume is not None:  # the crashed session's own participant, number and folder
            setup = resume.setup(setup)
        self.folder = new_session_folder(Path(setup.output).expanduser(), setup.participant,
                                         setup.session)
        self.planned_s, _ = protocol_seconds(protocol)
        self.resume = resume.state if resume is not None else None
        self.seed = self.resume.seed if self.resume is not None else session_seed(
            setup.participant, setup.session)
        metadata = session_metadata(setup, protocol, rig.simulated)
        metadata.resumes = resume.crashed.name if resume is not None else ""
        self.frames = LatestFrame()
        # Marker (string) streams are recorded, not plotted.
        plotted = {role: s for role, s in rig.streams.items() if s.info.channel_format != "string"}
        self.chunks = ChunkTap(plotted)
        self.names = {role: device_name(role, d) for role, d in rig.devices().items()}
        self.nominal = {role: s.info.nominal_rate for role, s in rig.streams.items()}
        self.labels = {role: list(s.info.channel_labels) for role, s in plotted.items()}
        self.units = {role: list(s.info.channel_units) for role, s in plotted.items()}
        self.camera_fps = rig.camera.info.frame_rate if rig.camera is not None else None
        self.pixel_format = rig.camera.info.pixel_format if rig.camera is not None else ""
        self.sync = LiveSync(rig)
        self.recorder = Recorder(
            self.folder, metadata,
            streams=rig.streams, camera=rig.camera, trigger=rig.trigger,
            on_frame=self._on_frame, on_chunk=self._on_chunk, profile=rig.profile,
            markers=rig.markers)
        self.sink = ObservingSink(RecorderSink(self.recorder))
        self.sink.event_listeners.append(self._tell_rig)
        self.started = False
        self.stop_reason = STOP_END  # the session's stop_reason (a stop signal's name)
        self._finish_lock = threading.Lock()
        self._finished: FinishedSession | None = None

    def _on_frame(self, frame: Frame) -> None:
        self.frames.put(frame)
        self.sync.frames.put(frame)

    def _on_chunk(self, role: str, chunk: Chunk) -> None:
        self.chunks.put(role, chunk)
        self.sync.chunks.put(role, chunk)

    def sync_health(self, now: float) -> dict[str, SyncHealth]:
        """Each device's live sync health (GUI thread: moves the taps into the monitor)."""
        return self.sync.health(now)

    def start(self) -> None:
        """Create the session and start recording every device."""
        self.recorder.start()
        self.started = True

    def _tell_rig(self, event: Event) -> None:
        """Show the rig each clip's onset (a reactive simulated participant answers it)."""
        if event.kind != "stimulus_onset":
            return
        clip = self.protocol.clips.get(str(event.payload.get("clip", "")))
        if clip is not None:
            at = float(event.payload.get("at", event.time))  # the clip's first frame
            self.rig.stimulus_onset(at, clip.emotion, clip.duration, event.trial)

    def status(self) -> RecorderStatus:
        """The recorder's live status."""
        return self.recorder.status()

    @property
    def failure(self) -> Exception | None:
        """The write error (e.g. a full disk) that stopped the recording, if one did."""
        return self.recorder.failure

    def finish(self) -> FinishedSession:
        """Stop, store ground truth, synchronise and summarise (slow: run it off the GUI).

        Only the first call closes the session; later ones wait for it and return the same.
        """
        with self._finish_lock:
            if self._finished is None:
                self._finished = self._close()
            return self._finished

    def _close(self) -> FinishedSession:
        from recordings.store.reader import open_session
        from recordings.summary import format_summary, summarize

        problems = []
        try:
            self.recorder.stop(self.stop_reason)
        except RecorderError as exc:  # the session is closed anyway; say what failed
            problems.append(str(exc))
        truth = self.rig.ground_truth()
        self.rig.close()
        if self.failure is not None:
            # Ground truth and sync would write to a disk that may be full; the session
            # itself says why it stopped.
            problems.append(f"recording stopped: {self.failure}")
            sync_text = ("synchronization skipped: the recording stopped on a write error; "
                         f"free space, then run `melab sync {self.folder}`")
        else:
            sync_text = self._store_truth_and_sync(truth, problems)
        with open_session(self.folder) as session:
            info = summarize(session)
        return FinishedSession(self.folder, info, format_summary(info), sync_text, problems)

    def _store_truth_and_sync(self, truth: dict[str, Any] | None, problems: list[str]) -> str:
        """Store the simulation's ground truth, synchronize; returns the sync report's text."""
        if truth is not None:
            write_ground_truth(self.folder, truth)
        try:
            return synchronize_session(self.folder)
        except Exception as exc:  # sync can run again later; the recording is safe
            problems.append(f"synchronization failed: {exc}")
            return f"synchronization failed: {exc}"
