"""SIGTERM, SIGHUP and SIGINT as a request to close the session cleanly, not as a kill.

A service manager stopping melab (SIGTERM), a closed terminal or SSH session (SIGHUP) and
Ctrl-C (SIGINT) all end the recording the normal way: the session is closed complete and
synchronized, then melab exits with 128 + the signal's number, the shell's convention.
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class StopSignals:
    """While entered, the first stop signal received is kept as a request to stop.

    The handler only stores the signal: the program's own loop (record_segments, the
    console's timer) looks at `received` and closes the session from where it is safe to.
    Further signals while it closes are ignored, so a second Ctrl-C cannot cut the close.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopSignals:
        # Python allows handlers from the main thread only; elsewhere signals stay as they are.
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP and not isinstance(sys.stdout, DropsWhenGone):
            # The terminal may be gone (a dropped SSH session): writing to it then fails, and
            # a failed print must not cut the close (sync, ground truth) short.
            sys.stdout = DropsWhenGone(sys.stdout)
            sys.stderr = DropsWhenGone(sys.stderr)
        if self.received is None:
            self.received = signal.Signals(signum)

    @property
    def requested(self) -> bool:
        """True once a stop signal arrived."""
        return self.received is not None

    def raise_if_received(self, folder: Path | None) -> None:
        """Raise StoppedBySignal once a stop signal arrived (call it after the close)."""
        if self.received is not None:
            raise StoppedBySignal(self.received, folder)


class DropsWhenGone(io.TextIOBase):
    """A text stream that drops what it can no longer write (its terminal hung up)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write through; text that fails to go out (EIO, EPIPE) is dropped."""
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        """Flush through, ignoring a terminal that is gone."""
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def isatty(self) -> bool:
        """What the stream underneath says (False once it is gone)."""
        try:
            return self._stream.isatty()
        except (OSError, ValueError):
            return False


class StoppedBySignal(Exception):
    """A stop signal ended a command once its session was closed; `melab` says this one line
    and exits with 128 + the signal's number."""

    def __init__(self, sig: signal.Signals, folder: Path | None) -> None:
        said = (f"stopped by {sig.name}; session closed: {folder}" if folder is not None
                else f"stopped by {sig.name}; nothing was recorded")
        super().__init__(said)
        self.signal = sig
        self.folder = folder

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process a signal ended."""
        return 128 + int(self.signal)
