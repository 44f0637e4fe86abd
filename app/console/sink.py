"""An EventSink that forwards to the recorder's and tells the console what was logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from protocols.interfaces import EventSink
from recordings.store.metadata import Event, TrialRecord

log = logging.getLogger(__name__)


class ObservingSink:
    """Forwards every call to the inner sink first, then hands the logged event to listeners."""

    def __init__(self, inner: EventSink) -> None:
        self.inner = inner
        self.event_listeners: list[Callable[[Event], None]] = []

    def event(self, kind: str, *, code: int = 0, trial: int = -1,
              payload: dict[str, Any] | None = None) -> float:
        """Log the event (trigger pulse first), then tell the listeners."""
        when = self.inner.event(kind, code=code, trial=trial, payload=payload)
        self._tell(self.event_listeners, Event(when, kind, trial, code, dict(payload or {})))
        return when

    def start_segment(self, name: str, trial: int = -1) -> None:
        """Open a camera segment."""
        self.inner.start_segment(name, trial)

    def stop_segment(self) -> None:
        """Close the camera segment."""
        self.inner.stop_segment()

    def add_trial(self, trial: TrialRecord) -> None:
        """Store the trial row."""
        self.inner.add_trial(trial)

    @staticmethod
    def _tell(listeners: list[Callable[[Any], None]], item: Any) -> None:
        for listener in listeners:
            try:
                listener(item)
            except Exception:  # a display bug must never break the protocol mid-transition
                log.exception("console listener failed on %r", item)
