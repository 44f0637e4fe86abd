"""Markers of a string (marker) stream as session events, beside the stream's raw samples."""

from __future__ import annotations

from typing import Any

from core.devices import Chunk

MARKER_EVENT = "lsl_marker"


def marker_events(stream: str, chunk: Chunk,
                  clock_offset: float | None) -> list[tuple[float, dict[str, Any]]]:
    """Each marker of a chunk as (session time, payload) for an `lsl_marker` event.

    The time is the sender's timestamp plus the stream's latest LSL clock offset (exact for a
    sender on this computer); before the first offset is measured, the host's receipt time.
    The payload keeps both raw times, the value(s) and which time was used.
    """
    events = []
    for row, device, host in zip(chunk.samples, chunk.device_time, chunk.host_time,
                                 strict=True):
        values = [str(v) for v in row]
        if clock_offset is None:
            time, clock = float(host), "host_receipt"
        else:
            time, clock = float(device) + clock_offset, "lsl_clock_offset"
        events.append((time, {
            "stream": stream,
            "value": values[0] if len(values) == 1 else values,
            "device_time": float(device),
            "host_time": float(host),
            "time_from": clock,
        }))
    return events
