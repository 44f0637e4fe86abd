"""A background job for the console (preflight, closing a session, analysis) on a QThread."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QThread, pyqtSignal

log = logging.getLogger(__name__)
Job = Callable[[Callable[[float, str], None], threading.Event], Any]


class Worker(QThread):
    """Runs job(progress, cancel) off the GUI thread; its outcome arrives as a signal."""

    progressed = pyqtSignal(float, str)  # fraction 0..1 (negative: unknown), message
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str)

    def __init__(self, job: Job, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._job = job
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop; it decides when (it checks the event)."""
        self.cancel_event.set()

    def run(self) -> None:
        """The job, on the worker thread; signals reach the GUI queued."""
        try:
            result = self._job(self.progressed.emit, self.cancel_event)
        except Exception as exc:
            log.debug("console job failed:\n%s", traceback.format_exc())
            self.failed.emit(f"{exc}" or type(exc).__name__)
            return
        self.succeeded.emit(result)
