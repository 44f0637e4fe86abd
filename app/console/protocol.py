"""Protocol control: trial, phase, countdown, self-report, reminder button, pause/abort, log."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.console.progress import ProtocolView

REMINDER_KEY = "R"  # one key, away from the participant's (SPACE, digits, arrows, Enter)
PLAN_MARK = {"done": "✓", "resumed": "↺", "current": "▶", "todo": " "}
LOG_LINES = 5000  # the log view keeps this many lines (the session file keeps everything)


class ProtocolPanel(QWidget):
    """Shows a ProtocolView and turns the experimenter's clicks into signals."""

    reminderRequested = pyqtSignal()
    pauseRequested = pyqtSignal()
    resumeRequested = pyqtSignal()
    abortRequested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        big = QFont()
        big.setPointSize(16)
        big.setBold(True)
        self.trial = QLabel("-")
        self.trial.setFont(big)
        self.overall = QLabel("")
        self.phase = QLabel("not started")
        self.countdown = QLabel("")
        self.countdown.setFont(big)
        self.countdown_label = QLabel("")
        self.last_report = QLabel("-")
        self.last_report.setWordWrap(True)
        self.reminder = QPushButton(f"REMINDER  ({REMINDER_KEY})")
        self.reminder.setMinimumHeight(80)
        self.reminder.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.reminder.setStyleSheet(
            "QPushButton { background: #ffd54a; font-size: 24px; font-weight: bold; }"
            "QPushButton:disabled { background: #eeeeee; color: #9e9e9e; }")
        self.reminder.setToolTip(f"Show the reminder on the auxiliary display "
                                 f"(key {REMINDER_KEY})")
        self.reminders = QLabel("reminders in this trial: 0")
        self.left = QLabel("")
        self.plan = QListWidget()
        self.plan.setMaximumHeight(150)
        self.plan.setToolTip("The whole plan: done (grey, ✓), done before the crash this "
                             "session resumes (grey, ↺), running (bold), still to run")
        self.pause = QPushButton("Pause after trial")
        self.resume = QPushButton("Resume")
        self.abort = QPushButton("Abort...")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.log.setFont(QFont("monospace", 9))
        self.shortcut = QShortcut(QKeySequence(REMINDER_KEY), self)
        self.shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        self.shortcut.activated.connect(self._shortcut)
        self.reminder.clicked.connect(self.reminderRequested)
        self.pause.clicked.connect(self.pauseRequested)
        self.resume.clicked.connect(self.resumeRequested)
        self.abort.clicked.connect(self.abortRequested)
        self._plan: tuple[tuple[str, str], ...] = ()
        self._layout()
        self.set_view(None)

    def _layout(self) -> None:
        grid = QGridLayout()
        grid.addWidget(self.trial, 0, 0)
        grid.addWidget(self.overall, 1, 0)
        grid.addWidget(QLabel("phase"), 2, 0)
        grid.addWidget(self.phase, 3, 0)
        grid.addWidget(self.countdown_label, 0, 1, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.countdown, 1, 1, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(QLabel("last self-report"), 4, 0)
        grid.addWidget(self.last_report, 5, 0, 1, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.pause)
        buttons.addWidget(self.resume)
        buttons.addStretch(1)
        buttons.addWidget(self.abort)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self.reminder)
        layout.addWidget(self.reminders)
        layout.addLayout(buttons)
        layout.addWidget(self.left)
        layout.addWidget(self.plan)
        layout.addWidget(QLabel("log"))
        layout.addWidget(self.log, 1)

    def set_view(self, view: ProtocolView | None) -> None:
        """Show the protocol's state (None: no session running)."""
        if view is None:
            for button in (self.reminder, self.pause, self.resume, self.abort):
                button.setEnabled(False)
            return
        self.trial.setText(view.trial)
        self.overall.setText(view.overall)
        self.phase.setText(view.phase)
        self.countdown.setText(view.countdown)
        self.countdown_label.setText(view.countdown_label)
        self.last_report.setText(view.last_report)
        self.reminders.setText(f"reminders in this trial: {view.reminders}  "
                               f"(session: {view.reminders_total})")
        self.reminder.setEnabled(view.running)
        self.pause.setEnabled(view.can_pause)
        self.resume.setEnabled(view.can_resume)
        self.abort.setEnabled(view.running)
        self.left.setText(view.left)
        self._show_plan(view.plan)

    def _show_plan(self, plan: tuple[tuple[str, str], ...]) -> None:
        """The trial list, rebuilt only when a state changed."""
        if plan == self._plan:
            return
        self._plan = plan
        self.plan.clear()
        current = None
        for line, state in plan:
            item = QListWidgetItem(f"{PLAN_MARK[state]} {line}")
            if state in ("done", "resumed"):
                item.setForeground(QColor("#9e9e9e"))
            if state == "current":
                font = item.font()
                font.setBold(True)
                item.setFont(font)
                current = item
            self.plan.addItem(item)
        if current is not None:
            self.plan.scrollToItem(current, QListWidget.ScrollHint.PositionAtCenter)

    def add_log(self, line: str) -> None:
        """Append a line to the log view."""
        self.log.appendPlainText(line)

    def _shortcut(self) -> None:
        if self.reminder.isEnabled():
            self.reminderRequested.emit()
