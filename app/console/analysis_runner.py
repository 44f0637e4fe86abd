"""The console's offline analysis in the background, behind a progress dialog that cancels it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import QProgressDialog, QWidget

from analysis import AnalysisCancelled
from app.console.analysis import Analyze, default_out_dir, run_analysis
from app.console.worker import WorkerPool


class AnalysisRunner(QObject):
    """One analysis at a time; its outcome arrives as a signal on the GUI thread."""

    succeeded = pyqtSignal(object)  # AnalysisResult, or None when it was cancelled
    failed = pyqtSignal(str)

    def __init__(self, workers: WorkerPool, parent: QWidget) -> None:
        super().__init__(parent)
        self._workers = workers
        self._window = parent
        self.dialog: QProgressDialog | None = None  # while an analysis runs

    @property
    def busy(self) -> bool:
        """True while an analysis runs."""
        return self.dialog is not None

    def run(self, folder: Path, analyze: Analyze | None) -> None:
        """Analyse one session into OUTPUT/analysis/SESSION (analyze None: the pipeline's)."""
        out_dir = default_out_dir(folder)
        dialog = QProgressDialog(f"Analysing {folder.name}...", "Cancel", 0, 100, self._window)
        dialog.setWindowTitle("Analyze session")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setValue(0)
        self.dialog = dialog

        def job(progress: Callable[[float, str], None], cancel: Any) -> Any:
            try:
                return run_analysis([folder], out_dir, progress, cancel, analyze)
            except AnalysisCancelled:
                return None

        worker = self._workers.run(job, self._succeeded, self._failed)
        worker.progressed.connect(self._progressed)
        dialog.canceled.connect(worker.cancel)
        dialog.show()

    def _progressed(self, fraction: float, message: str) -> None:
        dialog = self.dialog
        if dialog is None:
            return
        if fraction < 0:
            dialog.setRange(0, 0)  # no fraction given: a busy bar
        else:
            dialog.setRange(0, 100)
            dialog.setValue(round(100 * fraction))
        if message:
            dialog.setLabelText(message)

    def _end(self) -> None:
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None

    def _succeeded(self, result: Any) -> None:
        self._end()
        self.succeeded.emit(result)

    def _failed(self, message: str) -> None:
        self._end()
        self.failed.emit(message)
