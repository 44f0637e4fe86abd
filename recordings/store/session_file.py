"""session.h5 as its writer builds it: create the layout, append queued items, mark it complete.

Only the session writer's thread calls these (HDF5 calls of one file stay on one thread).
Queued items wait in a `Pending` dict, keyed by the table they go to, until the next flush.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from core.devices import Chunk, StreamInfo
from recordings.store.diskio import FaultHook
from recordings.store.layout import (
    FILE_LIBVER,
    FORMAT_VERSION,
    SESSION_FORMAT,
    STRING,
    VIDEO_DIR,
    decoded,
    segment_filename,
)
from recordings.store.metadata import SessionMetadata
from recordings.store.segment_writer import SegmentWriter
from recordings.store.tables import (
    EVENT_DTYPE,
    SEGMENT_INDEX_DTYPE,
    TRIAL_DTYPE,
    append_rows,
    create_table,
    events_to_rows,
    trials_to_rows,
)

# Queued items by destination: "event", "trial", "segment", or "<kind>:<stream>" for a
# stream's "chunk", "offset" and "gap" items.
Pending = dict[str, list[Any]]


def create_session_file(path: Path, metadata: SessionMetadata,
                        streams: Mapping[str, StreamInfo], start_time: float) -> h5py.File:
    """Create session.h5 (never over an existing file) with every group, in SWMR-write mode."""
    f = h5py.File(path, "x", libver=FILE_LIBVER)
    f.attrs.update(metadata.to_attrs())
    f.attrs.update(
        {
            "format": SESSION_FORMAT,
            "format_version": FORMAT_VERSION,
            "start_utc": dt.datetime.now(dt.UTC).isoformat(),
            "start_time": start_time,
            "complete": False,
        }
    )
    group = f.create_group("streams")
    for info in streams.values():
        _create_stream_group(group, info)
    create_table(f, "events", EVENT_DTYPE, chunk_rows=256)
    create_table(f, "trials", TRIAL_DTYPE)
    create_table(f, "segments", SEGMENT_INDEX_DTYPE)
    f.create_group("sync")
    f.create_group("annotations")
    f.create_group("ground_truth")
    f.swmr_mode = True  # from here on the file stays readable after a crash
    return f


def _create_stream_group(parent: h5py.Group, info: StreamInfo) -> None:
    g = parent.create_group(info.name)
    g.attrs.update(
        {
            "type": info.type,
            "source_id": info.source_id,
            "nominal_rate": info.nominal_rate,
            "channel_format": info.channel_format,
            "hostname": info.hostname,
        }
    )
    g.create_dataset("channel_labels", data=list(info.channel_labels), dtype=STRING)
    g.create_dataset("channel_units", data=list(info.channel_units), dtype=STRING)
    types = info.channel_types or ("",) * info.channel_count
    g.create_dataset("channel_types", data=list(types), dtype=STRING)
    g.create_dataset("header_xml", data=info.header_xml, dtype=STRING)
    n = max(info.channel_count, 1)
    rows = max(256, min(4096, 2**18 // n))  # ~1 MB chunks for float32
    sample_dtype = STRING if info.channel_format == "string" else "f4"
    g.create_dataset(
        "samples", shape=(0, n), maxshape=(None, n), dtype=sample_dtype, chunks=(rows, n)
    )
    for column in ("device_time", "host_time"):
        g.create_dataset(column, shape=(0,), maxshape=(None,), dtype="f8", chunks=(rows,))
    g.create_dataset(
        "clock_offsets", shape=(0, 2), maxshape=(None, 2), dtype="f8", chunks=(256, 2)
    )
    g.create_dataset("gaps", shape=(0, 2), maxshape=(None, 2), dtype="f8", chunks=(64, 2))


def add_pending(pending: Pending, kind: str, payload: Any) -> None:
    """File a queued item (or a segment whose index row is due) under the table it goes to."""
    if kind in ("event", "trial", "segment"):
        pending[kind].append(payload)
    else:
        stream, item = payload
        pending[f"{kind}:{stream}"].append(item)


def pending_bytes(pending: Pending) -> int:
    """Bytes the queued stream chunks would take on disk (samples + two timestamps)."""
    return sum(
        np.asarray(c.samples).size * 4 + 16 * len(c)
        for key, items in pending.items() if key.startswith("chunk:") for c in items
    )


def write_pending(f: h5py.File, pending: Pending, *, streams: Mapping[str, StreamInfo],
                  segment_rows: Mapping[str, int], samples_written: dict[str, int],
                  fault_hook: FaultHook | None) -> None:
    """Append every pending item to its table and empty the lists.

    samples_written is updated stream by stream, so after an error it still counts what
    reached the file.
    """
    for key, items in pending.items():
        if not items:
            continue
        kind, _, stream = key.partition(":")
        if kind == "chunk":
            is_text = streams[stream].channel_format == "string"
            written = _write_chunks(f["streams"][stream], items, is_text, fault_hook)
            samples_written[stream] += written
        elif kind == "offset":
            rows = np.array([(o.host_time, o.offset) for o in items], dtype="f8")
            append_rows(f["streams"][stream]["clock_offsets"], rows)
        elif kind == "gap":
            rows = np.array([(g.start, g.end) for g in items], dtype="f8")
            append_rows(f["streams"][stream]["gaps"], rows)
        elif kind == "event":
            append_rows(f["events"], events_to_rows(items))
        elif kind == "trial":
            append_rows(f["trials"], trials_to_rows(items))
        elif kind == "segment":
            _write_segment_rows(f["segments"], items, segment_rows)
        items.clear()


def _write_chunks(group: h5py.Group, chunks: list[Chunk], is_text: bool,
                  fault_hook: FaultHook | None) -> int:
    """Append chunks to a stream's samples and time columns; returns the samples written."""
    samples = np.concatenate([np.asarray(c.samples).reshape(len(c), -1) for c in chunks])
    if not is_text:
        samples = samples.astype(np.float32, copy=False)
    if fault_hook is not None:
        fault_hook(group.file.filename, samples.nbytes + 16 * len(samples))
    append_rows(group["samples"], samples)
    append_rows(group["device_time"], np.concatenate([c.device_time for c in chunks]))
    append_rows(group["host_time"], np.concatenate([c.host_time for c in chunks]))
    return len(samples)


def _write_segment_rows(table: h5py.Dataset, segments: list[SegmentWriter],
                        segment_rows: Mapping[str, int]) -> None:
    for seg in segments:
        row = np.array(
            [
                (
                    seg.name,
                    segment_filename(seg.name),
                    seg.trial,
                    seg.start_time,
                    seg.stop_time,
                    seg.frames_written,
                    seg.dropped_frames,
                    seg.lost_frames,
                )
            ],
            dtype=SEGMENT_INDEX_DTYPE,
        )
        index = segment_rows[seg.name]
        if index >= table.shape[0]:
            table.resize(index + 1, axis=0)
        table[index] = row[0]  # a stopped segment updates the row its start wrote


def finalize_session_file(path: Path, stop_time: float, samples_lost: Mapping[str, int],
                          events_lost: int, stop_reason: str, *, complete: bool = True) -> None:
    """Reopen a closed session.h5 without SWMR: say when and why it stopped; a complete
    session is also marked complete and gets its segments linked."""
    with h5py.File(path, "r+") as f:
        f.attrs["complete"] = complete
        f.attrs["stop_time"] = stop_time
        f.attrs["stop_utc"] = dt.datetime.now(dt.UTC).isoformat()
        f.attrs["stop_reason"] = stop_reason
        f.attrs["samples_lost"] = sum(samples_lost.values())
        f.attrs["events_lost"] = events_lost
        for name, lost in samples_lost.items():
            f["streams"][name].attrs["samples_lost"] = lost
        if not complete:
            return
        video = f.require_group(VIDEO_DIR)
        for row in f["segments"][:]:
            name, file = decoded(row["name"]), decoded(row["file"])
            if name not in video:
                video[name] = h5py.ExternalLink(file, "/")
