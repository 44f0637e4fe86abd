"""Errors raised by the session store; each message names the file and what to do."""

from __future__ import annotations


class SessionError(RuntimeError):
    """Base class of session-store errors."""


class SessionExistsError(SessionError):
    """A session folder already exists where a new one was to be created."""


class SessionFormatError(SessionError):
    """A file is damaged, truncated or not a melab session file."""


class DiskSpaceError(SessionError):
    """The planned recording does not fit on the target disk."""


class DiskFullError(SessionError):
    """The disk filled up while recording; everything written so far was kept."""


class WriterStoppedError(SessionError):
    """Data was pushed to a writer that is closed or stopped after an error."""
