"""The `melab-markers` LSL outlet: every event melab logs, as a string marker others can record.

LabRecorder (or any LSL recorder) co-records it beside the amplifiers: one string channel,
irregular rate, type `Markers`. Each marker is the event as one JSON object (keys sorted):
`{"code": 21, "kind": "stimulus_onset", "payload": {...}, "trial": 1}`, stamped with the
event's session-clock time (the host's LSL clock, so no conversion is needed).
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from core.devices import DeviceError, StreamInfo
from drivers.lsl_outlet import LslOutlet

MARKER_STREAM_NAME = "melab-markers"
MARKER_STREAM_TYPE = "Markers"


def default_source_id(prefix: str = "") -> str:
    """A source_id naming this computer and process (a recorder tells two melabs apart)."""
    return f"{prefix}melab-markers@{socket.gethostname()}:{os.getpid()}"


def marker_text(kind: str, trial: int, code: int, payload: dict[str, Any] | None) -> str:
    """One event as the marker string the outlet sends (JSON, keys sorted)."""
    return json.dumps({"kind": kind, "trial": trial, "code": code, "payload": payload or {}},
                      sort_keys=True, default=str)


class MarkerOutlet:
    """Publishes events on `melab-markers`; exists from creation, so a recorder can subscribe
    before the session starts (LSL serves an inlet only what is pushed after it connects)."""

    def __init__(self, source_id: str | None = None) -> None:
        self.info = StreamInfo(MARKER_STREAM_NAME, MARKER_STREAM_TYPE,
                               source_id or default_source_id(), ("event",), ("",), 0.0,
                               channel_format="string", channel_types=("Markers",))
        self._outlet: LslOutlet | None = LslOutlet(self.info)

    def publish(self, time: float, kind: str, *, trial: int = -1, code: int = 0,
                payload: dict[str, Any] | None = None) -> None:
        """Send one event stamped with its session-clock time; after close() it does nothing."""
        if self._outlet is None:
            return
        try:
            self._outlet.push([[marker_text(kind, trial, code, payload)]], [time])
        except DeviceError:  # closed meanwhile: the session keeps the event regardless
            return

    def close(self) -> None:
        """Withdraw the stream."""
        if self._outlet is not None:
            self._outlet.close()
            self._outlet = None
