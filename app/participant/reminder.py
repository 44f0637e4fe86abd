"""The auxiliary display: a window of its own that shows the reminder prompt for a while."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QKeyEvent
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.participant.window import ask, leave_full_screen, place_on_screen
from core.clock import local_clock


class ReminderWindow(QWidget):
    """Stays dark; every reminder shows the prompt for its seconds, a new one restarts them."""

    shown = pyqtSignal(float)  # session time the prompt appeared
    hidden = pyqtSignal(float)  # session time it went away

    def __init__(self, clock: Callable[[], float] = local_clock,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("melab - reminder")
        self.setStyleSheet("QWidget { background: black; }"
                           "QLabel { color: #ffd54a; font-size: 48px; font-weight: bold; }")
        self._clock = clock
        self.prompt = QLabel("")
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prompt.setWordWrap(True)
        self.prompt.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._hide_prompt)
        self.count = 0
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # Escape reaches it once clicked
        # Escape on the full-screen window asks this first (tests answer for the user).
        self.confirm: Callable[[str, str], bool] = lambda title, text: ask(self, title, text)

    @property
    def showing(self) -> bool:
        """True while the prompt is up."""
        return not self.prompt.isHidden()

    def show_reminder(self, text: str, seconds: float) -> None:
        """Show the prompt for `seconds` (the window appears if it was not placed yet)."""
        self.count += 1
        if not self.isVisible():
            self.show()
        self.prompt.setText(text)
        self.prompt.show()
        self.prompt.repaint()
        self.shown.emit(self._clock())
        self._timer.start(max(1, round(seconds * 1000)))

    def place(self, screen_index: int | None = None, full_screen: bool = True) -> None:
        """Put the window on the auxiliary screen."""
        place_on_screen(self, screen_index, full_screen)

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        if event is not None and event.key() == Qt.Key.Key_Escape:
            leave_full_screen(self, self.confirm)

    def _hide_prompt(self) -> None:
        self.prompt.hide()
        self.hidden.emit(self._clock())
