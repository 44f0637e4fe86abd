"""Runs an engine with the participant window (and the reminder window) as its Presenter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal

from app.participant.reminder import ReminderWindow
from app.participant.window import ParticipantWindow
from core.clock import local_clock
from protocols.engine import ProtocolEngine
from protocols.interfaces import EventSink, Presenter
from protocols.model import Protocol
from protocols.resume import ResumeState

QUEUED = Qt.ConnectionType.QueuedConnection  # window signals reach the engine after Qt returns


class EngineSession(QObject):
    """Wires the participant window to an engine (the protocol's or a rating session's) as
    its Presenter, ticks it, and tells when it is over."""

    ended = pyqtSignal(str)  # the engine's final phase: "finished" or "aborted"

    def __init__(self, make_engine: Callable[[Presenter], Any], report_prompt: str, *,
                 clock: Callable[[], float] = local_clock,
                 window: ParticipantWindow | None = None,
                 tick_ms: int = 20, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.clock = clock
        self.window = window or ParticipantWindow(report_prompt, clock=clock)
        self.engine = make_engine(self)
        # queued, so that the engine never re-enters Qt Multimedia from inside its signals
        self.window.keyPressed.connect(self.engine.key, QUEUED)
        self.window.clipStarted.connect(self.engine.clip_started, QUEUED)
        self.window.clipFinished.connect(self.engine.clip_finished, QUEUED)
        self.window.clipFailed.connect(self.engine.clip_error, QUEUED)
        self.window.answered.connect(self.engine.answer, QUEUED)
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        """Start the engine and the clock tick."""
        self.engine.start()
        self._timer.start()

    def pause(self) -> None:
        """Pause between trials (clips)."""
        self.engine.pause()

    def resume(self) -> None:
        """Leave the pause."""
        self.engine.resume()

    def abort(self) -> None:
        """Stop the engine."""
        self.engine.abort()
        self._check_done()

    # --- Presenter -------------------------------------------------------------------
    def show_instructions(self, text: str) -> None:
        """Text on the participant display."""
        self.window.show_instructions(text)

    def play_clip(self, path: Path, kind: str) -> None:
        """A clip on the participant display."""
        self.window.play_clip(path, kind)

    def show_self_report(self, deadline_s: float) -> None:
        """The self-report form on the participant display."""
        self.window.show_self_report(deadline_s)

    def show_reminder(self, text: str, seconds: float) -> None:
        """No auxiliary display here (ParticipantSession has one)."""

    def finish(self) -> None:
        """The engine is over."""
        self.window.finish()

    def _tick(self) -> None:
        self.engine.tick(self.clock())
        self._check_done()

    def _check_done(self) -> None:
        if self.engine.done and self._timer.isActive():
            self._timer.stop()
            self.ended.emit(str(self.engine.phase))


class ParticipantSession(EngineSession):
    """The CMRR protocol's engine with the participant and reminder windows."""

    def __init__(self, protocol: Protocol, sink: EventSink, *, seed: int | None = None,
                 resume: ResumeState | None = None,
                 clock: Callable[[], float] = local_clock,
                 window: ParticipantWindow | None = None,
                 reminder_window: ReminderWindow | None = None,
                 tick_ms: int = 20, parent: QObject | None = None) -> None:
        def make_engine(presenter: Presenter) -> ProtocolEngine:
            return ProtocolEngine(protocol, sink, presenter, seed=seed, clock=clock,
                                  resume=resume)

        super().__init__(make_engine, protocol.texts["self_report"], clock=clock,
                         window=window, tick_ms=tick_ms, parent=parent)
        self.reminder_window = reminder_window or ReminderWindow(clock)

    # --- the experimenter's commands ---------------------------------------------------
    def reminder(self) -> None:
        """Send the reminder (logged with its code, shown on the auxiliary display)."""
        self.engine.reminder()

    def abort(self, reason: str = "") -> None:
        """Stop the protocol."""
        self.engine.abort(reason)
        self._check_done()

    def show_reminder(self, text: str, seconds: float) -> None:
        """The prompt on the auxiliary display."""
        self.reminder_window.show_reminder(text, seconds)
