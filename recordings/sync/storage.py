"""Storing a synchronization in the session, and reading it back.

`write_sync(report)` stores beside the raw data (which it never changes):

- `/streams/<name>/session_time` and `video/<segment>.h5:/session_time` (float64, one per row);
- `/sync/<name>` (streams, `camera`, and the box log): attributes `method`, `n_edges`,
  `rms_residual`, `max_residual`, `bound`, `warning`, and tables `segments` and `edges`.

Writing again replaces exactly those. `read_sync` and `stored_trigger_channels` read them back.
The layout is described in docs/sync.md and docs/session-format.md.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import h5py
import numpy as np

from recordings.store.h5files import open_for_update
from recordings.store.layout import (
    SEGMENT_FORMAT,
    SESSION_FILE,
    SESSION_FORMAT,
    decoded,
    segment_filename,
)
from recordings.sync.report import SEGMENT_DTYPE, StreamSync, SyncReport, summary_from_attrs

SYNC_VERSION = 1

EDGE_DTYPE = np.dtype([
    ("row", "i8"), ("t_device", "f8"), ("t_device_lo", "f8"), ("t_device_hi", "f8"),
    ("code", "i4"), ("box_row", "i8"), ("t_session", "f8"), ("residual", "f8"),
    ("segment", "i4"), ("used", "i1"),
])


def _edges_table(s: StreamSync) -> np.ndarray:
    e, fit = s.edges, s.fit
    if e is None or fit is None or len(e) == 0:
        return np.zeros(0, dtype=EDGE_DTYPE)
    m = fit.matches
    table = np.zeros(len(e), dtype=EDGE_DTYPE)
    table["row"] = e.row
    table["t_device"] = e.mid
    table["t_device_lo"] = e.lo
    table["t_device_hi"] = e.hi
    table["code"] = e.code
    table["box_row"] = m.ref
    table["t_session"] = np.nan  # filled from the box log's session times when stored
    table["residual"] = m.residual
    table["segment"] = m.segment
    table["used"] = m.used
    return table


def _write_times(group: h5py.Group | h5py.File, values: np.ndarray) -> None:
    """Store session_time beside the raw columns, overwriting only an earlier sync's."""
    if "session_time" in group:
        old = group["session_time"]
        if old.shape == values.shape:
            old[...] = values
            return
        del group["session_time"]
    group.create_dataset("session_time", data=values, dtype="f8")


def write_sync(report: SyncReport) -> None:
    """Store a report's session times and fits in the session (replacing an earlier sync)."""
    folder = report.folder
    box_t = next((s.session_time for s in report.streams.values() if s.kind == "reference"),
                 None)
    with open_for_update(folder / SESSION_FILE, SESSION_FORMAT) as f:
        sync = f.require_group("sync")
        for key in list(sync):
            del sync[key]
        sync.attrs.update({
            "version": SYNC_VERSION,
            "computed_utc": dt.datetime.now(dt.UTC).isoformat(),
            "warnings": json.dumps(report.warnings),
            "trigger_channels": json.dumps(report.trigger_channels),
        })
        for name, s in report.streams.items():
            if s.kind != "camera" and s.session_time is not None:
                _write_times(f["streams"][name], s.session_time)
            g = sync.create_group(name.replace("/", "_"))
            g.attrs.update(s.attrs())
            g.create_dataset("segments", data=s.table())
            if s.kind == "reference":
                continue
            table = _edges_table(s)
            if box_t is not None and len(table):
                ok = table["box_row"] >= 0
                table["t_session"][ok] = box_t[table["box_row"][ok]]
            g.create_dataset("edges", data=table)
            if s.kind == "camera":
                g.attrs["files"] = json.dumps(s.files)
    for s in report.streams.values():
        if s.kind != "camera" or s.session_time is None:
            continue
        for name, start, stop in s.files:
            with open_for_update(folder / segment_filename(name), SEGMENT_FORMAT) as v:
                _write_times(v, s.session_time[start:stop])


def stored_trigger_channels(file: h5py.File) -> dict[str, str]:
    """The explicit trigger-channel choices an earlier sync used (stream name -> label)."""
    sync = file.get("sync")
    if sync is None or "trigger_channels" not in sync.attrs:
        return {}
    return {str(k): str(v) for k, v in json.loads(decoded(sync.attrs["trigger_channels"])).items()}


def read_sync(file: h5py.File) -> dict[str, dict[str, Any]]:
    """Stored sync summaries by stream name (empty before `melab sync`)."""
    out: dict[str, dict[str, Any]] = {}
    sync = file.get("sync")
    if sync is None:
        return out
    for key, g in sync.items():
        table = g["segments"][:] if "segments" in g else np.zeros(0, SEGMENT_DTYPE)
        out[str(decoded(g.attrs.get("stream", key)))] = summary_from_attrs(dict(g.attrs), table)
    return out
