"""The participant display: texts, clips and the self-report form, full screen on one screen.

It shows what the protocol engine asks for (the Presenter calls) and reports back through
signals: key presses, first-frame and end-of-clip times, answers. It decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QGuiApplication, QKeyEvent
from PyQt6.QtWidgets import QLabel, QMessageBox, QStackedLayout, QWidget

from app.participant.report import SelfReportView
from app.participant.video import ClipPlayer, VideoView
from core.clock import local_clock
from core.expressions import EMOTIONS

_KEY_NAMES = {
    Qt.Key.Key_Space: "space", Qt.Key.Key_Return: "enter", Qt.Key.Key_Enter: "enter",
    Qt.Key.Key_Left: "left", Qt.Key.Key_Right: "right", Qt.Key.Key_Up: "up",
    Qt.Key.Key_Down: "down", Qt.Key.Key_Tab: "tab", Qt.Key.Key_Backtab: "backtab",
    Qt.Key.Key_Escape: "escape", Qt.Key.Key_Backspace: "backspace",
}
STYLE = """
QWidget { background: black; color: #e0e0e0; font-size: 22px; }
QPushButton { background: #303030; border: 1px solid #606060; padding: 8px 12px; }
QPushButton:checked { background: #3d7bd9; color: white; }
QPushButton:disabled { color: #707070; }
QLabel#countdown { font-size: 30px; color: #ffd54a; }
"""


def key_name(key: int, text: str) -> str:
    """The engine's name for a key: 'space', 'enter', 'left', '1', 'a', ..."""
    try:
        qt_key = Qt.Key(key)
    except ValueError:
        qt_key = None
    if qt_key in _KEY_NAMES:
        return _KEY_NAMES[qt_key]
    if Qt.Key.Key_0.value <= key <= Qt.Key.Key_9.value:
        return str(key - Qt.Key.Key_0.value)
    return text.lower() if text.strip() else f"key{key}"


def place_on_screen(widget: QWidget, screen_index: int | None, full_screen: bool) -> None:
    """Show a window on the chosen screen (the primary one if absent), full screen or not."""
    screens = QGuiApplication.screens()
    if screen_index is not None and 0 <= screen_index < len(screens):
        screen = screens[screen_index]
    else:
        screen = QGuiApplication.primaryScreen()
    if screen is not None:
        widget.setScreen(screen)
        widget.setGeometry(screen.geometry())
    if full_screen:
        widget.showFullScreen()
    else:
        widget.show()


def ask(parent: QWidget, title: str, text: str) -> bool:
    """A Yes/No question in a modal dialog over the window."""
    answer = QMessageBox.question(parent, title, text)
    return answer == QMessageBox.StandardButton.Yes


def leave_full_screen(window: QWidget, confirm: Callable[[str, str], bool]) -> bool:
    """Escape on a full-screen window: after confirmation it becomes a normal window (the
    session runs on). True when Escape was this (the participant's key presses exclude it)."""
    if not window.isFullScreen():
        return False
    if confirm("Leave full screen?", "This window becomes a normal window; the session "
               "keeps running."):
        window.showNormal()
    return True


class ParticipantWindow(QWidget):
    """Texts, clips and the self-report; signals carry session-clock times."""

    keyPressed = pyqtSignal(str, float)
    clipStarted = pyqtSignal(float)
    clipFinished = pyqtSignal(float)
    clipFailed = pyqtSignal(str)
    answered = pyqtSignal(str, int, int)
    finished = pyqtSignal()

    def __init__(self, report_prompt: str = "", emotions: tuple[str, ...] = EMOTIONS,
                 clock: Callable[[], float] = local_clock, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("melab - participant")
        self.setStyleSheet(STYLE)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._clock = clock
        self.text = QLabel("")
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setWordWrap(True)
        self.text.setMargin(60)
        self.video = VideoView()
        self.report = SelfReportView(report_prompt, emotions, clock)
        self.report.answered.connect(self.answered)
        self.player = ClipPlayer(self.video.show_frame, clock, self)
        self.player.started.connect(self.clipStarted)
        self.player.finished.connect(self.clipFinished)
        self.player.failed.connect(self.clipFailed)
        self._pages = QStackedLayout(self)
        for page in (self.text, self.video, self.report):
            self._pages.addWidget(page)
        self.clip_kind = ""
        # Escape on the full-screen window asks this first (tests answer for the user).
        self.confirm: Callable[[str, str], bool] = lambda title, text: ask(self, title, text)

    # --- what the engine asks for --------------------------------------------------
    def show_instructions(self, text: str) -> None:
        """A text screen."""
        self._leave_report()
        self.player.stop()
        self.text.setText(text)
        self._pages.setCurrentWidget(self.text)

    def play_clip(self, path: Path, kind: str) -> None:
        """Play a clip full screen; clipStarted/clipFinished (or clipFailed) follow."""
        self._leave_report()
        self.clip_kind = kind
        self.video.clear()
        self._pages.setCurrentWidget(self.video)
        self.setCursor(Qt.CursorShape.BlankCursor)  # no pointer over the stimulus
        self.player.play(path)

    def show_self_report(self, deadline_s: float) -> None:
        """The self-report form with its countdown."""
        self.player.stop()
        self.unsetCursor()
        self.report.begin(deadline_s)
        self._pages.setCurrentWidget(self.report)

    def finish(self) -> None:
        """The protocol is over: stop playback; the last text stays up."""
        self._leave_report()
        self.player.stop()
        self.unsetCursor()
        self.finished.emit()

    def place(self, screen_index: int | None = None, full_screen: bool = True) -> None:
        """Show the window on the participant's screen."""
        place_on_screen(self, screen_index, full_screen)
        self.activateWindow()
        self.setFocus()

    @property
    def page(self) -> str:
        """Which page shows: 'text', 'video' or 'report'."""
        current = self._pages.currentWidget()
        return {id(self.text): "text", id(self.video): "video"}.get(id(current), "report")

    # --- input -----------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        if event is None or event.isAutoRepeat():
            return  # a held key is one press
        when = self._clock()
        name = key_name(event.key(), event.text())
        if name == "escape" and leave_full_screen(self, self.confirm):
            return  # the experimenter's way out, not a participant's key press
        self.keyPressed.emit(name, when)
        if self._pages.currentWidget() is self.report:
            self.report.key(name)

    def focusNextPrevChild(self, next: bool) -> bool:
        return False  # Tab moves between the form's rows, not between widgets

    def _leave_report(self) -> None:
        self.report.close_form()
