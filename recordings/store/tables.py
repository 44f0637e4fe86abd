"""Row records <-> HDF5 compound tables (events, trials, segment index)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any, TypeVar

import h5py
import numpy as np

from recordings.store.layout import STRING, decoded
from recordings.store.metadata import Event, TrialRecord

T = TypeVar("T")

EVENT_DTYPE = np.dtype(
    [("time", "f8"), ("kind", STRING), ("trial", "i4"), ("code", "i4"), ("payload", STRING)]
)
TRIAL_DTYPE = np.dtype(
    [
        ("trial", "i4"),
        ("block", STRING),
        ("stimulus", STRING),
        ("emotion", STRING),
        ("start_time", "f8"),
        ("end_time", "f8"),
        ("status", STRING),
        ("report_emotion", STRING),
        ("report_valence", "i4"),
        ("report_arousal", "i4"),
        ("reminders", "i4"),
    ]
)
SEGMENT_INDEX_DTYPE = np.dtype(
    [
        ("name", STRING),
        ("file", STRING),
        ("trial", "i4"),
        ("start_time", "f8"),
        ("stop_time", "f8"),
        ("frames", "i8"),
        ("dropped_frames", "i8"),
        ("lost_frames", "i8"),
    ]
)


def create_table(group: h5py.Group, name: str, dtype: np.dtype, chunk_rows: int = 64) -> None:
    """Create an empty, growable table."""
    group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk_rows,))


def append_rows(dataset: h5py.Dataset, rows: np.ndarray) -> None:
    """Append rows (a structured or plain array) to a growable dataset."""
    if len(rows) == 0:
        return
    start = dataset.shape[0]
    dataset.resize(start + len(rows), axis=0)
    dataset[start:] = rows


def events_to_rows(events: Sequence[Event]) -> np.ndarray:
    """Events as rows of EVENT_DTYPE."""
    rows = np.empty(len(events), dtype=EVENT_DTYPE)
    for i, e in enumerate(events):
        rows[i] = (e.time, e.kind, e.trial, e.code, json.dumps(e.payload, sort_keys=True))
    return rows


def rows_to_events(rows: np.ndarray) -> list[Event]:
    """Rows of EVENT_DTYPE as Event records."""
    return [
        Event(
            time=float(r["time"]),
            kind=decoded(r["kind"]),
            trial=int(r["trial"]),
            code=int(r["code"]),
            payload=json.loads(decoded(r["payload"]) or "{}"),
        )
        for r in rows
    ]


def records_to_rows(records: Sequence[Any], dtype: np.dtype) -> np.ndarray:
    """Dataclass records (field names = dtype names) as a structured array."""
    rows = np.empty(len(records), dtype=dtype)
    for i, rec in enumerate(records):
        rows[i] = tuple(getattr(rec, name) for name in dtype.names)
    return rows


def rows_to_records(rows: np.ndarray, cls: type[T]) -> list[T]:
    """Structured rows as dataclass records of cls."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    out = []
    for r in rows:
        values = {n: decoded(r[n]) for n in names}
        for n, v in values.items():
            if isinstance(v, np.generic):
                values[n] = v.item()
        out.append(cls(**values))
    return out


def trials_to_rows(trials: Sequence[TrialRecord]) -> np.ndarray:
    """Trial records as rows of TRIAL_DTYPE."""
    return records_to_rows(trials, TRIAL_DTYPE)
