"""The console on a desktop: one screen never gets a covering window; Ctrl-C and SIGTERM
close a recording cleanly, also while a question is up."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from PyQt6.QtCore import QTimer
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QApplication, QMessageBox

from app.console.app import run_console
from app.console.setup import OK, SessionSetup
from app.console.window import ConsoleWindow
from tests.app.test_console_qt import CLIPS, write_two_trials
from tests.app.test_signals import assert_closed_as_at_its_end

HANG_GUARD_MS = 180_000  # only against a hang: a question nobody dismissed


@pytest.fixture(scope="module")
def protocol(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 trials of short clips (the console tests' protocol)."""
    return write_two_trials(tmp_path_factory.mktemp("desktop_trials"), CLIPS)


@pytest.mark.slow
def test_on_one_screen_no_participant_window_covers_the_console(
        qtbot, sim_rigs, protocol: Path, tmp_path: Path) -> None:
    assert len(QGuiApplication.screens()) == 1  # Qt offscreen: one screen
    console = ConsoleWindow(sim_rigs(seed=5, width=160, height=120))
    console.confirm = lambda title, text: True
    qtbot.addWidget(console)
    console.resize(1400, 900)
    console.show()
    # What `melab gui` fills in: SessionSetup's default asks for full screen.
    console.setup_page.fill(SessionSetup("P07", protocol=str(protocol), output=str(tmp_path),
                                         consent_level=1))
    assert not console.setup_page.full_screen.isEnabled()
    assert not console.setup_page.full_screen.isChecked()
    with qtbot.waitSignal(console.preflightDone, timeout=120_000) as checked:
        console.check()
    preflight = checked.args[0]
    assert preflight.can_start, [str(i) for i in preflight.errors]
    (one,) = [i for i in preflight.items if i.group == "displays"]
    assert one.name == "one screen" and one.level == OK and "normal windows" in one.detail
    with qtbot.waitSignal(console.recordingStarted, timeout=30_000):
        console.start()
    session = console.session
    assert session is not None
    screen = QGuiApplication.screens()[0].geometry()
    for window in (session.window, session.reminder_window):
        qtbot.waitUntil(window.isVisible, timeout=5000)
        assert not window.isFullScreen(), window.windowTitle()
        assert window.frameGeometry().size() != screen.size()
        assert window.geometry().width() < screen.width()
    with qtbot.waitSignal(console.sessionFinished, timeout=120_000):
        console.abort()
    console.close()


def _when(ready: Callable[[], bool], then: Callable[[], None]) -> QTimer:
    """A timer (started) that calls `then` once `ready()` holds, checked every 50 ms."""
    timer = QTimer()
    timer.setInterval(50)

    def check() -> None:
        if ready():
            timer.stop()
            then()

    timer.timeout.connect(check)
    timer.start()
    return timer


def _console() -> ConsoleWindow | None:
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, ConsoleWindow)
             and w.isVisible()]
    return found[0] if found else None


def _recording(out: Path) -> bool:
    console = _console()
    return console is not None and console.session is not None and any(out.glob("*/session.h5"))


def _setup(protocol: Path, out: Path) -> SessionSetup:
    return SessionSetup("P07", protocol=str(protocol), output=str(out), consent_level=1,
                        full_screen=False)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_stop_signal_closes_the_recording_console_cleanly(
        qtbot, sim_rigs, protocol: Path, tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C in the terminal (SIGINT) or a service stop (SIGTERM) while recording: the
    protocol waits for SPACE (nobody plays the participant), the session closes complete."""
    out = tmp_path / "out"
    watch = _when(lambda: _recording(out), lambda: os.kill(os.getpid(), sig))
    run = run_console(sim_rigs(seed=6, width=160, height=120), _setup(protocol, out),
                      autostart=True)
    watch.stop()
    assert run.stopped_by == sig and run.problems == []
    assert run.folder is not None
    assert_closed_as_at_its_end(run.folder, sig)


@pytest.mark.slow
def test_ctrl_c_while_the_quit_question_is_up_still_closes_the_session(
        qtbot, sim_rigs, protocol: Path, tmp_path: Path) -> None:
    """Qt ignores close() while closeEvent asks "Quit during a recording?": Ctrl-C then did
    nothing. Now the question is dismissed and the session closed as at its end."""
    out = tmp_path / "out"
    hung: list[bool] = []

    def ask_to_quit() -> None:
        console = _console()
        assert console is not None
        QTimer.singleShot(0, console.close)  # the real question, in its own event loop

    def question() -> bool:
        return isinstance(QApplication.activeModalWidget(), QMessageBox)

    def give_up() -> None:  # only if the signal did not end the question
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QMessageBox):
            hung.append(True)
            dialog.button(QMessageBox.StandardButton.Yes).click()  # quit, as a person would

    watches = [_when(lambda: _recording(out), ask_to_quit),
               _when(question, lambda: os.kill(os.getpid(), signal.SIGINT))]
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(give_up)
    guard.start(HANG_GUARD_MS)
    run = run_console(sim_rigs(seed=7, width=160, height=120), _setup(protocol, out),
                      autostart=True)
    guard.stop()
    for watch in watches:
        watch.stop()
    assert not hung, "Ctrl-C left the question up"
    assert run.stopped_by == signal.SIGINT and run.folder is not None
    assert_closed_as_at_its_end(run.folder, signal.SIGINT)
