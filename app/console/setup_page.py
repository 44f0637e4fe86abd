"""The console's set-up page: the session form, the preflight results, Check and Start."""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QColor, QGuiApplication
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.console.displays import full_screen_offered
from app.console.setup import ERROR, OK, WARNING, Preflight, SessionSetup, setup_problems
from recordings.store.metadata import CONSENT_LEVELS

LEVEL_STYLE = {OK: ("ok", "#2e7d32"), WARNING: ("warning", "#b26a00"), ERROR: ("error", "#c62828")}


class SetupPage(QWidget):
    """Fills a SessionSetup; Start is enabled once the form is valid and the preflight passed."""

    checkRequested = pyqtSignal()
    startRequested = pyqtSignal()
    resumeRequested = pyqtSignal()  # "Resume a crashed session..."

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.participant = QLineEdit()
        self.participant.setPlaceholderText("e.g. P07 (letters, digits, - _ .)")
        self.session = QSpinBox()
        self.session.setRange(1, 99)
        self.consent = QComboBox()
        for level, text in CONSENT_LEVELS.items():
            self.consent.addItem(f"{level}: {text}", level)
        self.notes = QPlainTextEdit()
        self.notes.setMaximumHeight(60)
        self.protocol = QComboBox()
        self.protocol.setEditable(True)
        self.protocol.addItems(["cmrr", "demo"])
        self.stimuli = QLineEdit()
        self.stimuli.setPlaceholderText("the protocol's own folder")
        self.output = QLineEdit("sessions")
        self.participant_screen = QComboBox()
        self.reminder_screen = QComboBox()
        for index, screen in enumerate(QGuiApplication.screens()):
            label = f"{index + 1}: {screen.name()} {screen.geometry().width()}x" \
                    f"{screen.geometry().height()}"
            self.participant_screen.addItem(label, index)
            self.reminder_screen.addItem(label, index)
        self.full_screen = QCheckBox("full screen")
        # Full screen goes only to a screen the console is not on: with one screen, the
        # participant's windows are normal windows beside the console.
        offered = full_screen_offered(len(QGuiApplication.screens()), console_screen=0)
        self.full_screen.setEnabled(offered)
        self.full_screen.setChecked(offered)
        self.full_screen.setToolTip("full screen on screens other than the console's" if offered
                                    else "one screen: the participant's windows open as "
                                    "normal windows beside the console")
        self.form_error = QLabel("")
        self.form_error.setStyleSheet("color: #c62828;")
        self.form_error.setWordWrap(True)
        self.checks = QTreeWidget()
        self.checks.setHeaderLabels(["check", "result", "detail"])
        self.checks.setRootIsDecorated(False)
        self.checks.setColumnWidth(0, 220)
        self.check_button = QPushButton("Check devices, protocol and disk")
        self.start_button = QPushButton("Start recording")
        self.start_button.setStyleSheet("font-weight: bold; padding: 8px 20px;")
        self.start_button.setEnabled(False)
        self.resume_button = QPushButton("Resume a crashed session...")
        self.resume_button.setToolTip("Continue a session that crashed or stopped early at its "
                                      "first unfinished trial, in a new linked session folder")
        self.resume_note = QLabel("")
        self.resume_note.setWordWrap(True)
        self.resume_note.setStyleSheet("color: #1565c0;")
        self.resume_button.clicked.connect(self.resumeRequested)
        self.check_button.clicked.connect(self.checkRequested)
        self.start_button.clicked.connect(self.startRequested)
        self._preflight_ok = False
        self._busy = False
        self._layout()
        self.participant.textChanged.connect(self._changed)
        # These change what the preflight checked: invalidate (which re-checks the form too).
        self.protocol.currentTextChanged.connect(self.invalidate)
        self.stimuli.textChanged.connect(self.invalidate)
        self.output.textChanged.connect(self.invalidate)
        self.session.valueChanged.connect(self._changed)
        self._changed()

    def _layout(self) -> None:
        form = QFormLayout()
        form.addRow("Participant ID", self.participant)
        form.addRow("Session", self.session)
        form.addRow("Consent", self.consent)
        form.addRow("Notes", self.notes)
        form.addRow("Protocol", self._with_browse(self.protocol, self._browse_protocol))
        form.addRow("Stimuli folder", self._with_browse(self.stimuli, self._browse_stimuli))
        form.addRow("Output folder", self._with_browse(self.output, self._browse_output))
        screens = QHBoxLayout()
        screens.addWidget(QLabel("participant"))
        screens.addWidget(self.participant_screen)
        screens.addWidget(QLabel("reminder"))
        screens.addWidget(self.reminder_screen)
        screens.addWidget(self.full_screen)
        form.addRow("Displays", screens)
        buttons = QHBoxLayout()
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.resume_button)
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.form_error)
        layout.addWidget(self.resume_note)
        layout.addWidget(QLabel("Preflight"))
        layout.addWidget(self.checks, 1)
        layout.addLayout(buttons)

    @staticmethod
    def _with_browse(field: QWidget, browse: object) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(field, 1)
        button = QPushButton("Browse...")
        button.clicked.connect(browse)
        row.addWidget(button)
        return box

    # --- values ----------------------------------------------------------------------
    def values(self) -> SessionSetup:
        """The form as a SessionSetup."""
        return SessionSetup(
            participant=self.participant.text().strip(), session=self.session.value(),
            consent_level=int(self.consent.currentData()), notes=self.notes.toPlainText(),
            protocol=self.protocol.currentText().strip(), stimuli=self.stimuli.text().strip(),
            output=self.output.text().strip(),
            participant_screen=int(self.participant_screen.currentData() or 0),
            reminder_screen=int(self.reminder_screen.currentData() or 0),
            full_screen=self.full_screen.isChecked())

    def fill(self, setup: SessionSetup) -> None:
        """Put a SessionSetup into the form."""
        self.participant.setText(setup.participant)
        self.session.setValue(setup.session)
        self.consent.setCurrentIndex(max(0, self.consent.findData(setup.consent_level)))
        self.notes.setPlainText(setup.notes)
        self.protocol.setCurrentText(setup.protocol)
        self.stimuli.setText(setup.stimuli)
        self.output.setText(setup.output)
        for combo, index in ((self.participant_screen, setup.participant_screen),
                             (self.reminder_screen, setup.reminder_screen)):
            combo.setCurrentIndex(max(0, combo.findData(index)))
        self.full_screen.setChecked(setup.full_screen and self.full_screen.isEnabled())

    # --- preflight -------------------------------------------------------------------
    def set_busy(self, busy: bool, message: str = "") -> None:
        """While a check runs: buttons off, a note in the list."""
        self._busy = busy
        self.check_button.setEnabled(not busy)
        if busy:
            self.checks.clear()
            self.checks.addTopLevelItem(QTreeWidgetItem([message or "checking...", "", ""]))
        self._changed()

    def show_preflight(self, preflight: Preflight) -> None:
        """List every check, coloured by level; Start follows the outcome."""
        self.checks.clear()
        for item in preflight.items:
            word, colour = LEVEL_STYLE.get(item.level, (item.level, "#000000"))
            row = QTreeWidgetItem([f"{item.group}: {item.name}", word, item.detail])
            row.setForeground(1, QColor(colour))
            row.setToolTip(2, item.detail)
            self.checks.addTopLevelItem(row)
        self._preflight_ok = preflight.can_start
        self._changed()

    def invalidate(self) -> None:
        """The preflight no longer holds (inputs changed, or its devices were used): Check again."""
        self._preflight_ok = False
        self._changed()

    def _changed(self) -> None:
        problems = setup_problems(self.values())
        self.form_error.setText("\n".join(problems))
        self.start_button.setEnabled(self._preflight_ok and not problems and not self._busy)

    # --- browsing --------------------------------------------------------------------
    def _browse_protocol(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Protocol file", "", "Protocols (*.toml)")
        if path:
            self.protocol.setCurrentText(path)

    def _browse_stimuli(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Stimulus folder")
        if path:
            self.stimuli.setText(path)

    def _browse_output(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder")
        if path:
            self.output.setText(path)
