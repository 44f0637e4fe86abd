"""While the console records: device rows, warnings, disk, status line and protocol progress,
refreshed on timers from the recording's status (the rows and warnings come from model.py)."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QObject, QTimer

from app.console.devices import DevicePanel
from app.console.model import StatusWatcher, WarningBoard, recording_rows, stopped_rows
from app.console.progress import ProtocolTracker
from app.console.protocol import ProtocolPanel
from app.console.recording import ConsoleRecording
from app.console.setup import free_space_text
from app.participant.session import ParticipantSession
from core.clock import local_clock
from recordings.camera_losses import dropped_text
from recordings.store.metadata import Event

STATUS_MS = 250  # device panel and warnings
PROGRESS_MS = 100  # protocol panel (the countdown)


class RecordingMonitor(QObject):
    """Shows one recording's health and the protocol's progress until stop()."""

    def __init__(self, devices: DevicePanel, panel: ProtocolPanel,
                 status_line: Callable[[str], None], parent: QObject) -> None:
        super().__init__(parent)
        self.devices = devices
        self.panel = panel
        self.status_line = status_line
        self.tracker = ProtocolTracker()
        self.board = WarningBoard()
        self.watcher: StatusWatcher | None = None
        self.recording: ConsoleRecording | None = None
        self.session: ParticipantSession | None = None
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_MS)
        self._status_timer.timeout.connect(self._status_tick)
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(PROGRESS_MS)
        self._progress_timer.timeout.connect(self.progress_tick)

    def start(self, recording: ConsoleRecording, session: ParticipantSession) -> None:
        """Watch a recording that has started, and the protocol session running on it."""
        self.recording, self.session = recording, session
        self.tracker = ProtocolTracker()
        self.board = WarningBoard()
        self.watcher = StatusWatcher(self.board, recording.planned_s)
        recording.sink.event_listeners.append(self._on_event)
        self.devices.set_recording(True)
        self.panel.log.clear()
        self.panel.add_log(f"recording into {recording.folder}")
        self._status_timer.start()
        self._progress_timer.start()

    def stop(self) -> None:
        """The recording closed: last progress, devices shown as stopped."""
        self._status_timer.stop()
        self._progress_timer.stop()
        self.progress_tick()
        self.devices.show_rows(stopped_rows(self.devices.rows))
        self.devices.set_recording(False)
        self.recording = None

    def acknowledge(self, warning_id: int) -> None:
        """Mark one warning (0: all) as seen."""
        if warning_id:
            self.board.acknowledge(warning_id)
        else:
            self.board.acknowledge_all()
        self.devices.show_warnings(self.board)

    def progress_tick(self) -> None:
        """The protocol panel from the engine's state (now, not at the next tick)."""
        engine = self.session.engine if self.session is not None else None
        self.panel.set_view(self.tracker.view(engine, local_clock()))

    def _on_event(self, event: Event) -> None:
        self.panel.add_log(self.tracker.on_event(event))

    def _status_tick(self) -> None:
        recording = self.recording
        if recording is None or not recording.started or self.watcher is None:
            return
        if recording.failure is not None and self.session is not None \
                and not self.session.engine.done:
            # A write error (disk full) stopped every device: end the protocol, which closes
            # the session; the results page then says why.
            self.session.abort(f"recording stopped: {recording.failure}")
        status = recording.status()
        self.devices.show_rows(recording_rows(status, recording.names, recording.nominal,
                                              recording.camera_fps, recording.rig.trigger
                                              is not None, recording.sync_health(local_clock())))
        self.watcher.update(status)
        self.devices.show_warnings(self.board)
        self.devices.show_disk(free_space_text(status.disk_free, status.recording_time_left))
        self.status_line(
            f"Recording {status.elapsed:7.1f} s into {recording.folder}   frames "
            f"{status.frames} ({dropped_text(status.dropped_frames, status.camera_losses)}, "
            f"{status.lost_frames} lost)")
