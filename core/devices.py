"""Device data: frames, chunks, stream and camera descriptions, box edges, device errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class CameraLosses:
    """Frames a camera's own counters say it lost since start(), by cause (0: none, or the
    camera cannot tell). Frame-number gaps are counted from the frames themselves."""

    transport_skipped: int = 0  # numbered, then lost on the link (a frame-number gap too)
    api_skipped: int = 0  # numbered, then dropped by the driver's full queue (a gap too)
    missed_triggers: int = 0  # trigger edges that made no frame: no number, so no gap

    @property
    def skipped(self) -> int:
        """Frames numbered but never delivered."""
        return self.transport_skipped + self.api_skipped

    def dropped(self, gaps: int) -> int:
        """All frames lost, given the frame-number gaps over the same time: a skipped frame
        shows as a gap too (unless no frame followed it), a missed trigger never does."""
        return max(gaps, self.skipped) + self.missed_triggers

    def __sub__(self, earlier: CameraLosses) -> CameraLosses:
        """The losses since `earlier` (counts of the same acquisition)."""
        return CameraLosses(*(a - b for a, b in zip(self.counts(), earlier.counts(), strict=True)))

    def __add__(self, other: CameraLosses) -> CameraLosses:
        """Both counts together."""
        return CameraLosses(*(a + b for a, b in zip(self.counts(), other.counts(), strict=True)))

    def counts(self) -> tuple[int, int, int]:
        """(transport_skipped, api_skipped, missed_triggers): the stored column order."""
        return (self.transport_skipped, self.api_skipped, self.missed_triggers)


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
    # Per-channel type as the sender declares it (XDF meta-data: eeg, ecg, stim, ...), or
    # empty when it declares none.
    channel_types: tuple[str, ...] = ()
    hostname: str = ""  # the computer the sender runs on (LSL), when known
    header_xml: str = ""  # the sender's whole stream header (LSL's XML), kept verbatim

    def __post_init__(self) -> None:
        if self.channel_types and len(self.channel_types) != len(self.channel_labels):
            raise ValueError(
                f"stream {self.name!r}: {len(self.channel_labels)} channel labels but "
                f"{len(self.channel_types)} channel types; give one type per channel (or none)"
            )

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
    samples_lost: int = 0  # samples the device sent meanwhile that never arrived


@dataclass(frozen=True)
class BoxEvent:
    """One TTL edge the box reported: host time, the edge time on the box's clock, code."""

    host_time: float  # session clock: just before the write (events), at receipt (sync)
    box_time: float  # seconds on the box's microsecond counter when the edge was raised
    code: int
    kind: str  # "event" or "sync"
    # Events: seconds from just before the write to the ACK's receipt (NaN for sync pulses).
    round_trip: float = float("nan")
