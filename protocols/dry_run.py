"""Stand-ins that let the engine run without a rig or a screen: tests, benchmarks, dry runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ManualClock:
    """A session clock that moves only when told (the engine takes its clock injected)."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock on by seconds; returns the new time."""
        self.now += seconds
        return self.now


@dataclass
class SilentPresenter:
    """A Presenter that shows nothing; it only notes which of its calls were made."""

    calls: list[str] = field(default_factory=list)

    def show_instructions(self, text: str) -> None:
        """Note the call."""
        self.calls.append("instructions")

    def play_clip(self, path: Path, kind: str) -> None:
        """Note the call."""
        self.calls.append("play")

    def show_self_report(self, deadline_s: float) -> None:
        """Note the call."""
        self.calls.append("report")

    def show_reminder(self, text: str, seconds: float) -> None:
        """Note the call."""
        self.calls.append("reminder")

    def finish(self) -> None:
        """Note the call."""
        self.calls.append("finish")
