"""`melab gui --rating LIBRARY --rater ID`: an evaluator rates the candidate clips.

No device is opened: the clips play on the participant window, the answers go to the
rater's ratings file (protocols/ratings_file.py); this small window shows the progress and
pauses, resumes or stops. The logic is protocols/rating.py's RatingEngine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.participant.session import EngineSession
from core.clock import local_clock
from protocols.engine import Phase
from protocols.interfaces import Presenter
from protocols.rating import RATING_TEXTS, RatingEngine, RatingPlan, open_rating


class RatingConsole(QWidget):
    """Progress and pause/resume/stop of one rater's session."""

    ended = pyqtSignal(str)  # "finished" or "aborted"
    closed = pyqtSignal()

    def __init__(self, plan: RatingPlan, *, clock: Callable[[], float] = local_clock,
                 full_screen: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"melab - rating ({plan.header.rater})")
        self.plan = plan
        self.full_screen = full_screen
        writer = open_rating(plan)  # creates the file with its header when new

        def make_engine(presenter: Presenter) -> RatingEngine:
            return RatingEngine(plan, writer, presenter, clock=clock)

        self.session = EngineSession(make_engine, RATING_TEXTS["self_report"], clock=clock,
                                     parent=self)
        self.engine: RatingEngine = self.session.engine
        self.session.ended.connect(self._ended)
        self.status = QLabel()
        self.buttons = {name: QPushButton(name.capitalize())
                        for name in ("start", "pause", "resume", "stop")}
        row = QHBoxLayout()
        for button in self.buttons.values():
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Rater {plan.header.rater}: {plan.path}"))
        layout.addWidget(self.status)
        layout.addLayout(row)
        self.buttons["start"].clicked.connect(self.start)
        self.buttons["pause"].clicked.connect(self.session.pause)
        self.buttons["resume"].clicked.connect(self.session.resume)
        self.buttons["stop"].clicked.connect(self.session.abort)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(250)
        self._refresh_timer.timeout.connect(self.refresh)
        self._refresh_timer.start()
        self.refresh()

    def start(self) -> None:
        """Show the participant window and the first text."""
        self.session.window.place(None, self.full_screen)
        self.session.start()

    def refresh(self) -> None:
        """Progress line and which buttons apply."""
        phase = self.engine.phase
        self.status.setText(f"{self.engine.rated} of {self.engine.total} clips rated - {phase}")
        self.buttons["start"].setEnabled(phase is Phase.IDLE)
        self.buttons["pause"].setEnabled(not self.engine.done and phase is not Phase.IDLE)
        self.buttons["resume"].setEnabled(phase is Phase.PAUSED)
        self.buttons["stop"].setEnabled(not self.engine.done)

    def closeEvent(self, event: QCloseEvent | None) -> None:
        """Closing stops the session: the clip on screen stays unrated (shown on resume)."""
        self.session.abort()
        self.session.window.close()
        self.closed.emit()
        super().closeEvent(event)

    def _ended(self, phase: str) -> None:
        self.refresh()
        self.session.window.close()
        self.ended.emit(phase)


def run_rating(plan: RatingPlan, full_screen: bool = False) -> Phase:
    """Open the rating console until it is closed; returns the engine's last phase."""
    from PyQt6.QtCore import QEventLoop
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    loop = QEventLoop()
    console = RatingConsole(plan, full_screen=full_screen)
    console.closed.connect(loop.quit)
    console.show()
    loop.exec()
    del app  # kept alive until here
    return console.engine.phase
