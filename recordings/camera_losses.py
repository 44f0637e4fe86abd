"""The camera's own loss counters, handed to the segment that was recording when they grew.

Frame-number gaps show in the frames themselves; skipped frames and missed hardware triggers
only in the camera's counters (Camera.losses()), which run for the whole acquisition while
segments come and go. The counters are read about once a second and at every segment
hand-over or stop, and what they added since the last reading goes to the segment then being
written (docs/session-format.md).
"""

from __future__ import annotations

import time

from core.devices import CameraLosses, DeviceError
from drivers.interfaces import Camera
from recordings.store.segment_writer import SegmentWriter

READ_INTERVAL_S = 1.0  # counters read this often while frames arrive (and on every timeout)


class LossCounter:
    """Reads a camera's loss counters and gives each segment what they added meanwhile."""

    def __init__(self, camera: Camera) -> None:
        self._camera = camera
        self._seen: CameraLosses | None = None  # None until the camera started
        self._read_at = 0.0

    def started(self) -> None:
        """The camera has just started: its counters from now on are this recording's."""
        self._seen = self._read() or CameraLosses()
        self._read_at = time.monotonic()

    def due(self) -> bool:
        """True when the counters were last read READ_INTERVAL_S ago or more."""
        return time.monotonic() - self._read_at >= READ_INTERVAL_S

    def hand_to(self, segment: SegmentWriter | None) -> None:
        """Read the counters; what they added since the last reading goes to `segment` (lost
        while no segment recorded: no frame of the session is missing then)."""
        if self._seen is None:
            return
        self._read_at = time.monotonic()
        now = self._read()
        if now is None:
            return
        added, self._seen = now - self._seen, now
        if segment is not None:
            segment.add_losses(added)

    def _read(self) -> CameraLosses | None:
        try:
            return self._camera.losses()
        except DeviceError:  # the next reading catches up; the frames keep coming meanwhile
            return None


def dropped_text(dropped: int, losses: CameraLosses) -> str:
    """'5 dropped (2 skipped by the camera, 3 missed triggers)': the parts the camera counted
    itself named, since missed triggers leave no gap to find in the frames."""
    parts = [f"{n} {what}" for n, what in ((losses.skipped, "skipped by the camera"),
                                           (losses.missed_triggers, "missed triggers")) if n]
    return f"{dropped} dropped" + (f" ({', '.join(parts)})" if parts else "")
