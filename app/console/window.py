"""The experimenter's console: set-up, recording with live views and protocol control, results.

A thin Qt shell: the checks, device rows, warnings, protocol progress and analysis results come
from Qt-free modules (the app/console/ modules without widgets); this window wires them to widgets,
timers and background workers, and never handles a frame or a sample itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence
from PyQt6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from app.console.analysis import AnalysisResult, Analyze
from app.console.analysis_runner import AnalysisRunner
from app.console.devices import DevicePanel
from app.console.displays import display_checks, plan_displays
from app.console.live import LiveViews
from app.console.model import (
    connection_rows,
)
from app.console.monitor import RecordingMonitor
from app.console.preflight import run_preflight
from app.console.protocol import ProtocolPanel
from app.console.recording import ConsoleRecording, FinishedSession
from app.console.results import ResultsPage
from app.console.resume_flow import ResumeController
from app.console.screens import place_window, screen_of, screen_rects
from app.console.setup import Preflight, SessionSetup, setup_problems
from app.console.setup_page import SetupPage
from app.console.worker import WorkerPool
from app.participant.session import ParticipantSession
from app.participant.window import ask
from app.rig import Rig, RigFactory, connect_device, device_name
from core.clock import local_clock
from recordings.recorder import RecorderError
from recordings.store.errors import SessionError


class ConsoleWindow(QMainWindow):
    """Set-up -> recording -> results, with the device panel docked below."""

    preflightDone = pyqtSignal(object)  # Preflight
    recordingStarted = pyqtSignal(object)  # session folder (Path)
    sessionFinished = pyqtSignal(object)  # FinishedSession
    analysisDone = pyqtSignal(object)  # AnalysisResult, or the message why there is none
    closed = pyqtSignal()  # the console was closed (after any recording was closed)

    def __init__(self, make_rig: RigFactory, *, analyze: Analyze | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("melab console")
        self.make_rig = make_rig
        self.analyze_function = analyze  # None: analysis.pipeline.analyze, looked up on use
        # tests answer for the user
        self.confirm: Callable[[str, str], bool] = lambda title, text: ask(self, title, text)
        self.rig: Rig | None = None
        self.preflight: Preflight | None = None
        self.recording: ConsoleRecording | None = None
        self.session: ParticipantSession | None = None
        self.finished: FinishedSession | None = None
        self._connection: dict[str, tuple[bool, str]] = {}
        self._checking = False
        self._checked_rigs: list[Rig] = []  # every rig a preflight made (closed on quit)
        self._workers = WorkerPool(self)
        self.analysis = AnalysisRunner(self._workers, self)
        self.analysis.succeeded.connect(self._analysed)
        self.analysis.failed.connect(self._analysis_failed)
        self._stop_signal = ""  # the stop signal closing the console (no question asked)
        self.resumer = ResumeController(self)  # "Resume a crashed session...": the chosen plan
        self._build()
        self.monitor = RecordingMonitor(self.devices, self.protocol_panel,
                                        self.statusBar().showMessage, self)

    # --- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        self.setup_page = SetupPage()
        self.live = LiveViews()
        self.protocol_panel = ProtocolPanel()
        self.protocol_panel.setFixedWidth(380)
        self.recording_page = QWidget()
        row = QHBoxLayout(self.recording_page)
        row.addWidget(self.live, 1)
        row.addWidget(self.protocol_panel)
        self.results_page = ResultsPage()
        self.pages = QStackedWidget()
        for page in (self.setup_page, self.recording_page, self.results_page):
            self.pages.addWidget(page)
        self.setCentralWidget(self.pages)
        self.devices = DevicePanel()
        dock = QDockWidget("Devices", self)
        dock.setWidget(self.devices)
        self.devices.setMaximumHeight(230)
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self._menus()
        self.setup_page.checkRequested.connect(self.check)
        self.setup_page.startRequested.connect(self.start)
        self.setup_page.resumeRequested.connect(lambda: self.resumer.choose())
        self.devices.connectRequested.connect(self.connect_devices)
        self.devices.acknowledged.connect(lambda warning: self.monitor.acknowledge(warning))
        self.protocol_panel.reminderRequested.connect(self.reminder)
        self.protocol_panel.pauseRequested.connect(self.pause)
        self.protocol_panel.resumeRequested.connect(self.resume)
        self.protocol_panel.abortRequested.connect(self.abort)
        self.results_page.analyzeRequested.connect(lambda: self.analyze_session())
        self.results_page.newSessionRequested.connect(self.new_session)
        self.statusBar().showMessage("Fill in the session, then Check.")

    def _menus(self) -> None:
        menu = self.menuBar().addMenu("&Session")
        self.new_action = QAction("&New session", self)
        self.new_action.triggered.connect(self.new_session)
        self.analyze_action = QAction("&Analyze session...", self)
        self.analyze_action.setShortcut(QKeySequence("Ctrl+A"))
        self.analyze_action.triggered.connect(lambda: self.analyze_session())
        self.resume_action = QAction("&Resume a crashed session...", self)
        self.resume_action.triggered.connect(lambda: self.resumer.choose())
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        for action in (self.new_action, self.resume_action, self.analyze_action, quit_action):
            menu.addAction(action)
        view = self.menuBar().addMenu("&View")
        for index, name in enumerate(("Set-up", "Recording", "Results")):
            action = QAction(name, self)
            action.triggered.connect(lambda _=False, i=index: self.pages.setCurrentIndex(i))
            view.addAction(action)

    @property
    def page(self) -> str:
        """Which page shows: 'setup', 'recording' or 'results'."""
        return ("setup", "recording", "results")[self.pages.currentIndex()]

    # --- set-up and preflight ----------------------------------------------------------
    def check(self) -> None:
        """Check the form, the protocol, the devices and the disk in the background."""
        if self._checking or self.recording is not None:
            return
        self._checking = True
        setup = self.setup_page.values()
        self.setup_page.set_busy(True, "connecting devices, checking protocol and disk...")
        rig = self.rig
        displays = display_checks(setup, len(screen_rects()), screen_of(self))

        def job(progress: Callable[[float, str], None], cancel: Any) -> Any:
            outcome = run_preflight(setup, rig, self.make_rig)
            outcome[0].items.extend(displays)
            if outcome[1] is not None:
                self._checked_rigs.append(outcome[1])  # closed on quit even if never shown
            return outcome

        self._workers.run(job, self._checked, self._check_failed)

    def _checked(self, outcome: tuple[Preflight, Rig | None]) -> None:
        self._checking = False
        self.preflight, self.rig = outcome
        self.setup_page.set_busy(False)
        self.setup_page.show_preflight(self.preflight)
        self._connection = dict(self.preflight.connections)
        self._show_connection()
        verdict = "ready: press Start" if self.preflight.can_start else "fix the errors listed"
        self.statusBar().showMessage(f"Preflight done, {verdict}.")
        self.preflightDone.emit(self.preflight)

    def _check_failed(self, message: str) -> None:
        self._checking = False
        self.setup_page.set_busy(False)
        self.statusBar().showMessage(f"Preflight failed: {message}")

    def connect_devices(self, role: str) -> None:
        """Connect every device (a full check), or reconnect one."""
        if not role or self.rig is None:
            self.check()
            return
        device = self.rig.devices().get(role)
        if device is None:
            return

        def job(progress: Callable[[float, str], None], cancel: Any) -> Any:
            return connect_device(role, device)

        def done(result: Any) -> None:
            self._connection[role] = (result.ok, result.detail)
            self._show_connection()
            if result.ok:  # a device came back: the rest of the preflight may pass now
                self.check()

        self._workers.run(job, done, lambda m: self.statusBar().showMessage(m))

    def _show_connection(self) -> None:
        if self.rig is None:
            self.devices.show_rows([])
            return
        names = {role: device_name(role, d) for role, d in self.rig.devices().items()}
        self.devices.show_rows(connection_rows(names, self._connection))

    # --- recording ---------------------------------------------------------------------
    def start(self) -> None:
        """Create the session, start recording, open the participant displays, run."""
        setup = self.setup_page.values()
        preflight = self.preflight
        if (self.recording is not None or self.rig is None or preflight is None
                or preflight.protocol is None or not preflight.can_start
                or setup_problems(setup)):
            return
        protocol = preflight.protocol
        self._close_displays()  # the last session's participant windows
        try:
            recording = ConsoleRecording(self.rig, setup, protocol, self.resumer.plan)
            recording.start()
        except (RecorderError, SessionError, OSError, ValueError) as exc:
            self.setup_page.form_error.setText(f"cannot start the recording: {exc}")
            self.statusBar().showMessage(f"Cannot start the recording: {exc}")
            return
        self.recording = recording
        self.resumer.take()  # the continuation runs now; the form starts afresh next time
        session = ParticipantSession(protocol, recording.sink, seed=recording.seed,
                                     resume=recording.resume)
        session.ended.connect(self._protocol_ended)
        self.session = session
        self._place(session, setup)
        self.live.start(recording.frames if recording.rig.camera is not None else None,
                        recording.chunks, recording.pixel_format, recording.labels,
                        recording.nominal, local_clock, recording.units)
        self.monitor.start(recording, session)
        self.setup_page.invalidate()  # the next session needs its own preflight
        self.pages.setCurrentWidget(self.recording_page)
        session.start()
        self.statusBar().showMessage(f"Recording into {recording.folder}")
        self.recordingStarted.emit(recording.folder)

    def _place(self, session: ParticipantSession, setup: SessionSetup) -> None:
        """Participant and reminder windows on their screens; full screen never on the
        console's own screen (it would hide the console behind black)."""
        plan = plan_displays(setup, screen_rects(), screen_of(self))
        for placement, window in zip(plan, (session.window, session.reminder_window),
                                     strict=True):
            place_window(window, placement)
        session.window.activateWindow()  # SPACE must reach the participant's window
        session.window.setFocus()

    # --- the experimenter's commands ---------------------------------------------------
    def reminder(self) -> None:
        """Send the reminder to the participant's auxiliary display."""
        if self.session is not None:
            self.session.reminder()
            self.monitor.progress_tick()

    def pause(self) -> None:
        """Pause now between trials, or after the running trial."""
        if self.session is not None:
            self.session.pause()
            self.monitor.progress_tick()

    def resume(self) -> None:
        """Leave the pause (or take back a pause request)."""
        if self.session is not None:
            self.session.resume()
            self.monitor.progress_tick()

    def abort(self) -> None:
        """Stop the protocol after confirmation; the recording closes normally."""
        if self.session is None or self.session.engine.done:
            return
        if self.confirm("Abort the session?",
                        "The protocol stops now; the running trial is marked aborted and "
                        "everything recorded so far is kept."):
            self.session.abort("experimenter")

    def _protocol_ended(self, phase: str) -> None:
        """The protocol is over: close the recording in the background."""
        recording = self.recording
        if recording is None:
            return
        self.protocol_panel.add_log(f"protocol {phase}; closing the session...")
        self.statusBar().showMessage("Closing the session (writing, synchronising)...")
        self._workers.run(lambda progress, cancel: recording.finish(), self._closed,
                  self._close_failed)

    def _closed(self, finished: FinishedSession) -> None:
        self._stop_live()
        self.finished = finished
        for line in (*finished.sync_text.splitlines(), *finished.problems):
            self.protocol_panel.add_log(line)
        self.results_page.show_session(finished.folder, finished.summary_text)
        if finished.problems:
            self.results_page.show_message("; ".join(finished.problems), error=True)
        self.pages.setCurrentWidget(self.results_page)
        self.statusBar().showMessage(f"Session saved in {finished.folder}")
        self.sessionFinished.emit(finished)

    def _close_failed(self, message: str) -> None:
        self._stop_live()
        self.protocol_panel.add_log(f"closing the session failed: {message}")
        self.results_page.show_message(f"Closing the session failed: {message}", error=True)
        self.statusBar().showMessage(f"Closing the session failed: {message}")
        self.sessionFinished.emit(None)

    def _stop_live(self) -> None:
        self.monitor.stop()
        self.live.stop()
        self.recording = None
        self.rig = None  # the recorder closed its devices; the next session connects anew
        self.preflight = None

    def new_session(self) -> None:
        """Back to the set-up page for the next session."""
        if self.recording is not None:
            return
        self._close_displays()
        self.session = None
        self.setup_page.checks.clear()
        self.setup_page.set_busy(False)
        self.pages.setCurrentWidget(self.setup_page)

    # --- analysis ----------------------------------------------------------------------
    def analyze_session(self, folder: Path | None = None) -> None:
        """Run the offline analysis of a session in the background, then show its results."""
        if self.recording is not None:  # two busy cores would slow the recording
            self.statusBar().showMessage("Analyse after the recording has closed.")
            return
        if self.analysis.busy:
            return  # one analysis at a time
        if folder is None:
            if self.finished is not None:
                folder = self.finished.folder
            else:
                chosen = QFileDialog.getExistingDirectory(self, "Session to analyse", "sessions")
                if not chosen:
                    return
                folder = Path(chosen)
        self.pages.setCurrentWidget(self.results_page)
        self.analysis.run(folder, self.analyze_function)

    def _analysed(self, result: AnalysisResult | None) -> None:
        if result is None:
            self.results_page.show_message("Analysis cancelled.")
            self.statusBar().showMessage("Analysis cancelled.")
            self.analysisDone.emit("Analysis cancelled.")
            return
        self.results_page.show_result(result)
        self.pages.setCurrentWidget(self.results_page)
        self.statusBar().showMessage(f"Analysis written to {result.out_dir}")
        if result.report is not None:
            self.results_page.open_current_report()
        self.analysisDone.emit(result)

    def _analysis_failed(self, message: str) -> None:
        text = f"Analysis failed: {message}"
        self.results_page.show_message(text, error=True)
        self.statusBar().showMessage(text)
        self.analysisDone.emit(text)

    # --- helpers -----------------------------------------------------------------------
    def _close_displays(self) -> None:
        if self.session is not None:
            self.session.window.player.stop()
            self.session.window.close()
            self.session.reminder_window.close()

    def close_on_signal(self, name: str) -> None:
        """A stop signal (SIGTERM, ...): close any recording as at its end, then the console.

        An open question (Quit? Abort?) is dismissed first: Qt ignores close() while the
        "Quit during a recording?" question runs inside closeEvent, and that was a Ctrl-C
        that did nothing; closeEvent then sees the signal and closes without asking.
        """
        self._stop_signal = name
        while (dialog := QApplication.activeModalWidget()) is not None \
                and isinstance(dialog, QDialog) and dialog.isVisible():
            dialog.reject()
        self.close()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        """Closing mid-session aborts (after confirmation) and closes the session first."""
        recording = self.recording
        if recording is not None and recording.started:
            if event is not None and not self._stop_signal and not self.confirm(
                    "Quit during a recording?", "The protocol is aborted and the session "
                    "closed; everything recorded so far is kept.") \
                    and not self._stop_signal:  # a stop signal while the question was up
                event.ignore()
                return
            if self._stop_signal:
                recording.stop_reason = self._stop_signal
            if self.session is not None and not self.session.engine.done:
                # starts closing in a worker
                self.session.abort(self._stop_signal or "console closed")
            recording.finish()  # waits for that worker's closing, or closes here
            self._stop_live()
        self._workers.stop_all()
        for rig in self._checked_rigs:  # stops simulated labs no recording took over
            rig.close()
        self.rig = None
        self._close_displays()
        super().closeEvent(event)
        self.closed.emit()
