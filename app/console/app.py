"""Running the console: `melab gui` and `melab demo` (on a display, or headless with autopilot)."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.console.recording import FinishedSession
from app.console.setup import Preflight, SessionSetup
from app.qt_platform import require_platform
from app.rig import RigFactory
from app.stop_signals import StopSignals

QUIET_MULTIMEDIA = "qt.multimedia*=false"  # FFmpeg's stream dumps would flood the terminal
# Qt's event loop runs outside Python: a timer hands control back to Python this often, so
# that the signal handler runs and the console sees a stop signal.
SIGNAL_CHECK_MS = 100


HEADLESS_PLATFORMS = ("offscreen", "minimal")


def has_display() -> bool:
    """Whether Qt shows windows to somebody here (not offscreen, and a display exists)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] not in HEADLESS_PLATFORMS
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def go_headless(force: bool = False) -> None:
    """Run Qt without a display (must happen before the QApplication exists); force: also
    when QT_QPA_PLATFORM names a platform that cannot start here."""
    if force:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # Offscreen, Qt warns about window hints and missing audio/GPU that do not matter here.
    os.environ.setdefault("QT_LOGGING_RULES", f"{QUIET_MULTIMEDIA};qt.rhi*=false;"
                          "default.warning=false")


@dataclass
class ConsoleRun:
    """How a console run went: the preflight problems, the session it recorded, and the stop
    signal that closed it (SIGTERM, SIGHUP, SIGINT), if one did."""

    problems: list[str] = field(default_factory=list)
    finished: FinishedSession | None = None
    folder: Path | None = None  # the last session recorded
    stopped_by: signal.Signals | None = None


@dataclass(frozen=True)
class Driving:
    """What run_console does without a person: check and start at once, play the
    participant (and send a reminder in that trial), quit when the session has closed."""

    autostart: bool = False
    autopilot: bool = False
    quit_when_done: bool = False
    remind_in_trial: int | None = None


def run_console(make_rig: RigFactory, setup: SessionSetup | None = None, *,
                autostart: bool = False, autopilot: bool = False,
                quit_when_done: bool = False, remind_in_trial: int | None = None,
                resume: Path | None = None) -> ConsoleRun:
    """Open the console; optionally check and start at once, play the participant, and quit.

    SIGTERM, SIGHUP and SIGINT close a running recording as at its end (no question asked),
    then the console; ConsoleRun.stopped_by says which signal did. Raises QtPlatformError
    (before any window) when Qt's platform plugin cannot start here.
    """
    os.environ.setdefault("QT_LOGGING_RULES", QUIET_MULTIMEDIA)
    from PyQt6.QtCore import QEventLoop
    from PyQt6.QtWidgets import QApplication

    from app.console.window import ConsoleWindow

    existing = QApplication.instance()
    if existing is None:
        require_platform()  # Qt aborts the process when it cannot load the plugin
    app = existing or QApplication(sys.argv[:1])
    # An application that was already running (tests, an embedding program) gets a local
    # event loop: app.exec() returning would mark it as quitting, which stops its timers.
    loop = QEventLoop() if existing is not None else None
    window = ConsoleWindow(make_rig)
    window.resize(1400, 900)
    if setup is not None:
        window.setup_page.fill(setup)
    if resume is not None:  # `melab gui --resume SESSION`: asks, then fills the form
        window.resumer.choose(resume)
    run = ConsoleRun()
    driving = Driving(autostart, autopilot, quit_when_done, remind_in_trial)
    _drive(window, run, driving)
    stop = StopSignals()
    signal_check = _signal_watch(stop, window, run)
    window.closed.connect(loop.quit if loop is not None else app.quit)
    with stop:
        signal_check.start()
        window.show()
        if autostart:
            window.check()
        (loop or app).exec()
        signal_check.stop()
    return run


def _drive(window: Any, run: ConsoleRun, driving: Driving) -> None:
    """Connect the window's progress to `run` and, as `driving` says, to the next step."""
    from app.console.autopilot import Autopilot

    pilots: list[Autopilot] = []  # kept alive for the session

    def preflight_done(preflight: Preflight) -> None:
        if not driving.autostart:
            return
        if preflight.can_start:
            window.start()
            return
        run.problems = [f"{i.group}: {i.name}: {i.detail}" for i in preflight.errors]
        if driving.quit_when_done:
            window.close()

    def started(folder: Path) -> None:
        run.folder = folder
        if driving.autopilot and window.session is not None:
            pilots.append(Autopilot(window.session, remind_in_trial=driving.remind_in_trial))

    def finished(result: FinishedSession | None) -> None:
        run.finished = result
        if driving.quit_when_done:
            window.close()

    window.preflightDone.connect(preflight_done)
    window.recordingStarted.connect(started)
    window.sessionFinished.connect(finished)


def _signal_watch(stop: StopSignals, window: Any, run: ConsoleRun) -> Any:
    """A Qt timer that lets Python's signal handlers run and, on a stop signal, closes the
    console as at a session's end (no question asked); start() it once the window shows."""
    from PyQt6.QtCore import QTimer

    timer = QTimer()
    timer.setInterval(SIGNAL_CHECK_MS)

    def check() -> None:
        if stop.received is not None:
            timer.stop()
            run.stopped_by = stop.received
            window.close_on_signal(stop.received.name)

    timer.timeout.connect(check)
    return timer
