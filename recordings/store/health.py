"""Shared failure state of a session's writer threads: the first error stops them all."""

from __future__ import annotations

import threading

from recordings.store.errors import DiskFullError, WriterStoppedError


class WriterHealth:
    """Holds the first error any writer thread hit; producers check it on every push."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.error: Exception | None = None

    def fail(self, error: Exception) -> None:
        """Record an error (only the first one is kept)."""
        with self._lock:
            if self.error is None:
                self.error = error

    @property
    def failed(self) -> bool:
        """True once any writer thread failed."""
        return self.error is not None

    def raise_if_failed(self) -> None:
        """Re-raise the recorded error for the producer."""
        error = self.error
        if error is None:
            return
        if isinstance(error, DiskFullError | WriterStoppedError):
            raise error
        raise WriterStoppedError(f"the session writer stopped after an error: {error}") from error
