"""Device interfaces shared by real and simulated drivers; the recorder sees only these."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from core.devices import (
    BoxEvent,
    CameraInfo,
    CameraLosses,
    Chunk,
    ClockOffset,
    Frame,
    StreamGap,
    StreamInfo,
)


@runtime_checkable
class Camera(Protocol):
    """A camera: open, start, read frames, stop, close."""

    @property
    def info(self) -> CameraInfo: ...

    def open(self) -> None: ...

    def start(self) -> None: ...

    def read(self, timeout: float) -> Frame | None:
        """Next frame, or None when none arrived within timeout seconds."""
        ...

    @property
    def dropped_frames(self) -> int: ...

    def losses(self) -> CameraLosses:
        """Frames lost since start() by cause, as the camera's counters say now (zeros for
        what it cannot tell). Called from any thread while read() runs, about once a second."""
        ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ContinuousStream(Protocol):
    """A continuous (or marker) sample stream, e.g. an LSL inlet."""

    @property
    def info(self) -> StreamInfo: ...

    def open(self, timeout: float) -> None: ...

    def read(self) -> Chunk | None:
        """Samples that arrived since the last call, or None."""
        ...

    def clock_offsets(self) -> list[ClockOffset]:
        """Clock-offset records taken since the last call."""
        ...

    def gaps(self) -> list[StreamGap]:
        """Outages that ended since the last call."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class TriggerBox(Protocol):
    """A trigger box: sends event codes and a periodic sync pulse train as TTL edges."""

    def open(self) -> None: ...

    def send(self, code: int) -> float:
        """Send an event code; returns the host (session clock) time it was sent."""
        ...

    def start_sync(self, period: float) -> None: ...

    def stop_sync(self) -> None: ...

    def sent(self) -> list[tuple[float, int]]:
        """(host time, code) of every code sent so far, sync pulses included."""
        ...

    def box_events(self, start: int = 0) -> list[BoxEvent]:
        """The edges the box reported (from the start-th on), with box-clock times."""
        ...

    def close(self) -> None: ...
