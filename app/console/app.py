"""Running the console: `melab gui` and `melab demo` (on a display, or headless with autopilot)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from app.console.recording import FinishedSession
from app.console.setup import Preflight, SessionSetup
from app.rig import RigFactory

QUIET_MULTIMEDIA = "qt.multimedia*=false"  # FFmpeg's stream dumps would flood the terminal


HEADLESS_PLATFORMS = ("offscreen", "minimal")


def has_display() -> bool:
    """Whether Qt shows windows to somebody here (not offscreen, and a display exists)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] not in HEADLESS_PLATFORMS
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def go_headless() -> None:
    """Run Qt without a display (must happen before the QApplication exists)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # Offscreen, Qt warns about window hints and missing audio/GPU that do not matter here.
    os.environ.setdefault("QT_LOGGING_RULES", f"{QUIET_MULTIMEDIA};qt.rhi*=false;"
                          "default.warning=false")


@dataclass
class ConsoleRun:
    """How a console run went: the preflight problems, the session it recorded."""

    problems: list[str] = field(default_factory=list)
    finished: FinishedSession | None = None


def run_console(make_rig: RigFactory, setup: SessionSetup | None = None, *,
                autostart: bool = False, autopilot: bool = False,
                quit_when_done: bool = False, remind_in_trial: int | None = None) -> ConsoleRun:
    """Open the console; optionally check and start at once, play the participant, and quit."""
    os.environ.setdefault("QT_LOGGING_RULES", QUIET_MULTIMEDIA)
    from PyQt6.QtCore import QEventLoop
    from PyQt6.QtWidgets import QApplication

    from app.console.autopilot import Autopilot
    from app.console.window import ConsoleWindow

    existing = QApplication.instance()
    app = existing or QApplication(sys.argv[:1])
    # An application that was already running (tests, an embedding program) gets a local
    # event loop: app.exec() returning would mark it as quitting, which stops its timers.
    loop = QEventLoop() if existing is not None else None
    window = ConsoleWindow(make_rig)
    window.resize(1400, 900)
    if setup is not None:
        window.setup_page.fill(setup)
    run = ConsoleRun()

    pilots: list[Autopilot] = []

    def preflight_done(preflight: Preflight) -> None:
        if not autostart:
            return
        if preflight.can_start:
            window.start()
            return
        run.problems = [f"{i.group}: {i.name}: {i.detail}" for i in preflight.errors]
        if quit_when_done:
            window.close()

    def started(_folder: object) -> None:
        if autopilot and window.session is not None:
            pilots.append(Autopilot(window.session, remind_in_trial=remind_in_trial))

    def finished(result: FinishedSession | None) -> None:
        run.finished = result
        if quit_when_done:
            window.close()

    window.preflightDone.connect(preflight_done)
    window.recordingStarted.connect(started)
    window.sessionFinished.connect(finished)
    window.closed.connect(loop.quit if loop is not None else app.quit)
    window.show()
    if autostart:
        window.check()
    if loop is not None:
        loop.exec()
    else:
        app.exec()
    return run
