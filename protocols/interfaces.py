"""What the engine talks to: where events go (EventSink), what the participant sees (Presenter)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from recordings.store.metadata import TrialRecord

if TYPE_CHECKING:
    from protocols.ratings_file import Rating


class EventSink(Protocol):
    """Logs events on the session clock (sending their trigger codes) and runs camera segments.

    melab's Recorder provides event/start_segment/stop_segment/add_trial (RecorderSink adapts
    it, skipping segments on a camera-less rig).
    """

    def event(self, kind: str, *, code: int = 0, trial: int = -1,
              payload: dict[str, Any] | None = None) -> float:
        """Log an event (pulse `code` when non-zero) and return its session time."""
        ...

    def start_segment(self, name: str, trial: int = -1) -> None:
        """Start writing camera frames into a new segment."""
        ...

    def stop_segment(self) -> None:
        """Finish the current camera segment."""
        ...

    def add_trial(self, trial: TrialRecord) -> None:
        """Append a row to the session's trials table."""
        ...


class RatingSink(Protocol):
    """Where a rating session's rows go (protocols.ratings_file.RatingsWriter)."""

    def add(self, rating: Rating) -> None:
        """Keep one row (a clip shown and its answers)."""
        ...


class Presenter(Protocol):
    """The participant's displays; it reports back through the engine's input methods."""

    def show_instructions(self, text: str) -> None:
        """Show a text screen (instructions, 'press SPACE', pause, end)."""
        ...

    def play_clip(self, path: Path, kind: str) -> None:
        """Play a clip ('stimulus', 'practice' or 'neutral'); report clip_started/finished."""
        ...

    def show_self_report(self, deadline_s: float) -> None:
        """Show the self-report form with a countdown of deadline_s seconds."""
        ...

    def show_reminder(self, text: str, seconds: float) -> None:
        """Show the reminder prompt on the auxiliary display for `seconds`."""
        ...

    def finish(self) -> None:
        """The protocol is over (ended or aborted): stop playback, leave the last text up."""
        ...
