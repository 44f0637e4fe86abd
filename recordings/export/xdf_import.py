"""A LabRecorder XDF file as a melab session (pyxdf): every stream with its raw timestamps and
its clock offsets, markers as `lsl_marker` events, then synchronized (LSL clock offsets)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.devices import Chunk, ClockOffset, StreamInfo
from recordings.export.readiness import ExportError
from recordings.markers import MARKER_EVENT, marker_events
from recordings.store.h5files import open_for_update
from recordings.store.layout import SESSION_FILE, SESSION_FORMAT, new_session_folder
from recordings.store.metadata import SessionMetadata
from recordings.store.session_writer import SessionWriter

Progress = Callable[[float, str], None]


def import_xdf(path: Path, out: Path, participant: str = "P01",
               progress: Progress | None = None) -> Path:
    """Write the XDF recording as a new session folder under out; returns the folder."""
    import pyxdf

    say = progress or (lambda _f, _m: None)
    say(0.0, f"reading {path.name}")
    try:
        streams, header = pyxdf.load_xdf(str(path), synchronize_clocks=False,
                                         dejitter_timestamps=False)
    except Exception as exc:  # pyxdf raises bare exceptions on a damaged or foreign file
        raise ExportError(f"{path}: not a readable XDF file ({exc})") from exc
    if not streams:
        raise ExportError(f"{path}: the XDF file holds no stream")
    parts = [_stream_part(s) for s in streams]
    names = [info.name for info, _ in parts]
    if len(set(names)) != len(names):
        raise ExportError(f"{path}: two streams share a name ({', '.join(names)}); a melab "
                          "session stores each stream under its name")
    folder = new_session_folder(out, participant)
    start = min(float(c.host_time[0]) for _, (c, _o) in parts if len(c))
    meta = SessionMetadata(participant, notes=f"imported from {path.name}")
    meta.devices = {info.name: {"name": info.name, "type": info.type, "source_id":
                                info.source_id, "hostname": info.hostname, "nominal_rate":
                                info.nominal_rate, "channels": info.channel_count}
                    for info, _ in parts}
    clock = [start]
    writer = SessionWriter(folder, meta, [info for info, _ in parts], clock=lambda: clock[0])
    for k, (info, (chunk, offsets)) in enumerate(parts):
        say(0.1 + 0.7 * k / len(parts), info.name)
        for record in offsets:
            writer.push_clock_offset(info.name, record)
        if len(chunk):
            writer.push_chunk(info.name, chunk)
            clock[0] = max(clock[0], float(chunk.host_time[-1]))
        if info.channel_format == "string":
            latest = offsets[-1].offset if offsets else None
            for when, payload in marker_events(info.name, chunk, latest):
                writer.add_event(MARKER_EVENT, when, payload=payload)
    writer.close()
    # The new file's start is when the XDF was recorded, not when it was imported.
    with open_for_update(folder / SESSION_FILE, SESSION_FORMAT) as f:
        f.attrs["start_utc"] = _recorded_utc(header, path)
    say(0.9, "synchronizing")
    from recordings.sync.synchronize import synchronize

    synchronize(folder)
    say(1.0, f"session {folder}")
    return folder


def _stream_part(stream: dict[str, Any]) -> tuple[StreamInfo, tuple[Chunk, list[ClockOffset]]]:
    """One pyxdf stream as melab's StreamInfo, its samples and its clock offsets.

    XDF keeps no receipt time: host_time is the sender's timestamp plus the clock offset
    interpolated at it (LabRecorder's own correction).
    """
    info = stream["info"]
    first = lambda key, default="": (info.get(key) or [default])[0]  # noqa: E731
    labels, units, types = _channels(info, int(first("channel_count", "1")))
    fmt = "string" if first("channel_format") == "string" else "float32"
    described = StreamInfo(first("name", "stream"), first("type"), first("source_id"),
                           labels, units, float(first("nominal_srate", "0")), fmt,
                           channel_types=types, hostname=first("hostname"))
    stamps = np.asarray(stream["time_stamps"], dtype=np.float64)
    values = np.asarray(stream["time_series"], dtype=object if fmt == "string" else np.float32)
    values = values.reshape(len(stamps), len(labels))
    # XDF's ClockOffset: collection time on the sender's clock and the offset to add.
    times = np.asarray(stream.get("clock_times", []), dtype=np.float64)
    offsets = np.asarray(stream.get("clock_values", []), dtype=np.float64)
    host = stamps + (np.interp(stamps, times, offsets) if len(times) else 0.0)
    records = [ClockOffset(float(t + o), float(o)) for t, o in zip(times, offsets, strict=True)]
    return described, (Chunk(values, stamps, host), records)


def _channels(info: dict[str, Any], count: int) -> tuple[tuple[str, ...], ...]:
    """Labels, units and types from desc/channels/channel (XDF meta-data), or numbered."""
    desc = (info.get("desc") or [None])[0] or {}
    channels = ((desc.get("channels") or [{}])[0] or {}).get("channel") or []
    if len(channels) != count:
        return tuple(f"ch{i + 1}" for i in range(count)), ("",) * count, ()

    def field(channel: dict[str, Any], key: str) -> str:
        return str((channel.get(key) or [""])[0] or "")

    types = tuple(field(c, "type") for c in channels)
    return (tuple(field(c, "label") or f"ch{i + 1}" for i, c in enumerate(channels)),
            tuple(field(c, "unit") for c in channels), types if any(types) else ())


def _recorded_utc(header: dict[str, Any], path: Path) -> str:
    """The file header's datetime as ISO 8601 UTC, else the file's modification time."""
    text = ((header.get("info") or {}).get("datetime") or [""])[0]
    try:
        when = dt.datetime.fromisoformat(str(text))
    except ValueError:
        when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat()
