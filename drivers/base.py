"""Device interfaces shared by real and simulated drivers; the recorder sees only these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

# Pixel formats the session store keeps (raw 8-bit, one plane).
PIXEL_FORMATS = ("bayer_rg8", "bayer_gr8", "bayer_gb8", "bayer_bg8", "mono8")


class DeviceError(RuntimeError):
    """A device could not be opened, configured or read; the message says what to do."""


@dataclass(frozen=True)
class Frame:
    """One camera image with its per-frame metadata."""

    image: np.ndarray  # uint8 (height, width): raw Bayer or mono
    frame_number: int  # device frame counter; a gap means frames dropped before melab
    device_time: float  # seconds on the camera's clock
    host_time: float  # seconds on the session clock at receipt
    gpi_level: int  # level of the camera's general-purpose inputs (bit mask) at exposure


@dataclass(frozen=True)
class CameraInfo:
    """What the recorder needs to know about a camera before frames arrive."""

    model: str
    serial: str
    width: int
    height: int
    pixel_format: str  # one of PIXEL_FORMATS
    frame_rate: float
    settings: dict[str, Any] = field(default_factory=dict)


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

    def stop(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StreamInfo:
    """Description of a continuous or marker stream."""

    name: str
    type: str
    source_id: str
    channel_labels: tuple[str, ...]
    channel_units: tuple[str, ...]
    nominal_rate: float  # Hz; 0 for irregular (marker) streams
    channel_format: str = "float32"  # "float32" or "string"

    @property
    def channel_count(self) -> int:
        """Number of channels."""
        return len(self.channel_labels)


@dataclass(frozen=True)
class Chunk:
    """A block of samples with the device's timestamps and the host receipt time."""

    samples: np.ndarray  # (n, channels): float32, or object (str) for markers
    device_time: np.ndarray  # (n,) float64 seconds, the sender's clock
    host_time: np.ndarray  # (n,) float64 seconds, session clock at receipt

    def __len__(self) -> int:
        return len(self.device_time)


@dataclass(frozen=True)
class ClockOffset:
    """One clock-offset record like LabRecorder's: offset to add to device time at host_time."""

    host_time: float
    offset: float


@dataclass(frozen=True)
class StreamGap:
    """A stretch of session time during which a stream delivered nothing (outage)."""

    start: float
    end: float


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


@dataclass(frozen=True)
class BoxEvent:
    """One TTL edge the box reported: host time, the edge time on the box's clock, code."""

    host_time: float  # session clock: just before the write (events), at receipt (sync)
    box_time: float  # seconds on the box's microsecond counter when the edge was raised
    code: int
    kind: str  # "event" or "sync"
    # Events: seconds from just before the write to the ACK's receipt (NaN for sync pulses).
    round_trip: float = float("nan")


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
