"""EventSink implementations: one over melab's Recorder, one in memory for tests and dry runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recordings.store.metadata import Event, TrialRecord


class RecorderSink:
    """Adapts a started Recorder to the EventSink interface (camera-less rigs skip segments)."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder

    def event(self, kind: str, *, code: int = 0, trial: int = -1,
              payload: dict[str, Any] | None = None) -> float:
        """Log through the recorder, which pulses the trigger box first when code is set."""
        return float(self.recorder.event(kind, code=code, trial=trial, payload=payload))

    def start_segment(self, name: str, trial: int = -1) -> None:
        """Start a camera segment when the rig has a camera."""
        if self.recorder.camera is not None:
            self.recorder.start_segment(name, trial)

    def stop_segment(self) -> None:
        """Finish the current camera segment, if any."""
        if self.recorder.camera is not None:
            self.recorder.stop_segment()

    def add_trial(self, trial: TrialRecord) -> None:
        """Append the trial to the session file's trials table."""
        self.recorder.add_trial(trial)


@dataclass
class MemorySink:
    """Keeps events, segments and trials in lists; times come from the given clock."""

    clock: Callable[[], float]
    events: list[Event] = field(default_factory=list)
    trials: list[TrialRecord] = field(default_factory=list)
    segments: list[tuple[str, int, float, float | None]] = field(default_factory=list)

    def event(self, kind: str, *, code: int = 0, trial: int = -1,
              payload: dict[str, Any] | None = None) -> float:
        """Record the event at the clock's current time."""
        when = self.clock()
        self.events.append(Event(when, kind, trial, code, dict(payload or {})))
        return when

    def start_segment(self, name: str, trial: int = -1) -> None:
        """Open a segment (name, trial, start, stop=None)."""
        if self.segment_active:
            raise RuntimeError(f"segment {self.segments[-1][0]} is still open")
        self.segments.append((name, trial, self.clock(), None))

    def stop_segment(self) -> None:
        """Close the open segment, if any."""
        if self.segment_active:
            name, trial, start, _ = self.segments[-1]
            self.segments[-1] = (name, trial, start, self.clock())

    @property
    def segment_active(self) -> bool:
        """True while a segment is open."""
        return bool(self.segments) and self.segments[-1][3] is None

    def add_trial(self, trial: TrialRecord) -> None:
        """Keep the trial row."""
        self.trials.append(trial)

    def kinds(self) -> list[str]:
        """Event kinds in order (handy in tests)."""
        return [e.kind for e in self.events]
