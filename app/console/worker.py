"""Background jobs for the console (preflight, closing a session, analysis) on QThreads."""

from __future__ import annotations

import contextlib
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


class WorkerPool:
    """The console's running jobs: started with their outcome slots, all stopped on close."""

    def __init__(self, parent: QObject) -> None:
        self._parent = parent
        self._workers: set[Worker] = set()

    def run(self, job: Job, done: Callable[[Any], None],
            failed: Callable[[str], None]) -> Worker:
        """Start job on a new worker; done or failed gets its outcome on the GUI thread."""
        worker = Worker(job, self._parent)
        self._workers.add(worker)
        worker.succeeded.connect(done)
        worker.failed.connect(failed)
        worker.finished.connect(lambda: self._workers.discard(worker))
        worker.start()
        return worker

    def stop_all(self) -> None:
        """Cancel every job, wait for it, and drop the outcomes still queued for its slots."""
        for worker in list(self._workers):
            worker.cancel()
            worker.wait()
            # An outcome queued for a closing window must not reach its slots (or the
            # lambdas holding it) after the window is gone: that crashed PyQt under load.
            for signal in (worker.progressed, worker.succeeded, worker.failed, worker.finished):
                with contextlib.suppress(TypeError):  # nothing connected
                    signal.disconnect()
            self._workers.discard(worker)
