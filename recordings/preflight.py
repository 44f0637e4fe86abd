"""Disk-space preflight: will the planned recording fit?"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recordings.store.errors import DiskSpaceError

# Per-sample bookkeeping: device and host timestamps (float64 each).
_TIMESTAMP_BYTES = 16
# Per-frame bookkeeping: frame number, two timestamps, GPI level, HDF5 chunk index entry.
_FRAME_OVERHEAD_BYTES = 64
# Space left free for the file system and the rest of the machine.
_RESERVE_FRACTION = 0.02
_RESERVE_MIN_BYTES = 1 << 30


@dataclass(frozen=True)
class VideoPlan:
    """Planned camera recording: frame size, rate and seconds of video."""

    width: int
    height: int
    frame_rate: float
    seconds: float
    compression_ratio: float = 1.0  # assume none: LZ4 gains little on noisy sensor data


@dataclass(frozen=True)
class StreamPlan:
    """Planned continuous stream."""

    channels: int
    rate: float


@dataclass(frozen=True)
class RecordingPlan:
    """Everything a session will write."""

    duration: float  # seconds the streams run
    streams: Sequence[StreamPlan] = ()
    video: Sequence[VideoPlan] = field(default_factory=tuple)


@dataclass(frozen=True)
class DiskCheck:
    """Outcome of a preflight: bytes needed vs free (both shown to the user)."""

    folder: Path
    needed: int
    free: int

    @property
    def fits(self) -> bool:
        """True when the plan fits with the reserve left free."""
        return self.needed <= self.free

    def describe(self) -> str:
        """One line for the user with both figures."""
        verdict = "fits" if self.fits else "does NOT fit"
        return (
            f"planned recording needs {human_bytes(self.needed)}; {self.folder} has "
            f"{human_bytes(self.free)} free: {verdict}"
        )


def human_bytes(n: float) -> str:
    """Bytes in binary units (e.g. '1.5 GiB')."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def estimate_bytes(plan: RecordingPlan) -> int:
    """Bytes the planned session will write (streams + video + bookkeeping)."""
    total = 0.0
    for s in plan.streams:
        total += plan.duration * s.rate * (4 * s.channels + _TIMESTAMP_BYTES)
    for v in plan.video:
        frames = v.seconds * v.frame_rate
        total += frames * (v.width * v.height / v.compression_ratio + _FRAME_OVERHEAD_BYTES)
    return int(total)


def check_disk_space(folder: str | Path, plan: RecordingPlan, force: bool = False) -> DiskCheck:
    """Compare the plan with the free space; raise DiskSpaceError unless it fits or force."""
    target = Path(folder).resolve()
    probe = target
    while not probe.exists():  # the session folder is created later; ask its parent
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    reserve = max(_RESERVE_MIN_BYTES, int(usage.total * _RESERVE_FRACTION))
    check = DiskCheck(target, estimate_bytes(plan), max(0, usage.free - reserve))
    if not check.fits and not force:
        raise DiskSpaceError(
            f"{check.describe()} (after keeping {human_bytes(reserve)} free). Free space, "
            "choose another output folder, shorten the session, or force the start."
        )
    return check

