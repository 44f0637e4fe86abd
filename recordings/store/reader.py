"""Reading a session: lazy access to streams, video segments, events, trials, metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # noqa: F401 - registers the LZ4 filter for compressed segments
import numpy as np

from core.devices import CameraLosses
from recordings.store.errors import SessionError, SessionFormatError
from recordings.store.h5files import open_h5
from recordings.store.layout import (
    SEGMENT_FORMAT,
    SESSION_FILE,
    SESSION_FORMAT,
    VIDEO_DIR,
    decoded,
    segment_filename,
)
from recordings.store.metadata import Event, SessionMetadata, TrialRecord
from recordings.store.tables import rows_to_events, rows_to_records

TIME_COLUMNS = ("host_time", "device_time", "session_time")
SESSION_PARTS = ("streams", "events", "trials", "segments")  # what every session.h5 holds


def _span(times: h5py.Dataset, start: float, stop: float) -> slice:
    """Index range of [start, stop) in a non-decreasing timestamp dataset, read lazily."""
    n = times.shape[0]

    def first_at_least(value: float) -> int:
        lo, hi = 0, n
        while lo < hi:  # binary search reading single elements, not the whole column
            mid = (lo + hi) // 2
            if times[mid] < value:
                lo = mid + 1
            else:
                hi = mid
        return lo

    return slice(first_at_least(start), first_at_least(stop))


@dataclass
class StreamView:
    """A continuous stream in a session; datasets are read only when sliced."""

    name: str
    group: h5py.Group

    @property
    def type(self) -> str:
        """Stream type (e.g. EEG, Physio, Markers)."""
        return decoded(self.group.attrs["type"])

    @property
    def nominal_rate(self) -> float:
        """Nominal sampling rate in Hz (0 for irregular streams)."""
        return float(self.group.attrs["nominal_rate"])

    @property
    def labels(self) -> list[str]:
        """Channel labels."""
        return [decoded(v) for v in self.group["channel_labels"][:]]

    @property
    def units(self) -> list[str]:
        """Channel units."""
        return [decoded(v) for v in self.group["channel_units"][:]]

    @property
    def channel_types(self) -> list[str]:
        """Channel types as the sender declared them ('' where it declared none)."""
        if "channel_types" not in self.group:  # sessions written before melab stored them
            return [""] * len(self.labels)
        return [decoded(v) for v in self.group["channel_types"][:]]

    @property
    def hostname(self) -> str:
        """The computer the sender ran on ('' when unknown)."""
        return decoded(self.group.attrs.get("hostname", ""))

    @property
    def header_xml(self) -> str:
        """The sender's whole stream header (LSL XML) as received ('' when none)."""
        if "header_xml" not in self.group:
            return ""
        return decoded(self.group["header_xml"][()])

    @property
    def samples(self) -> Any:
        """(n, channels) samples, lazy (str for marker streams)."""
        data = self.group["samples"]
        return data.asstr() if data.dtype.kind == "O" else data

    def __len__(self) -> int:
        return self.group["host_time"].shape[0]

    def times(self, column: str = "host_time") -> h5py.Dataset:
        """A timestamp column, lazy: host_time, device_time, or session_time (after sync)."""
        if column not in TIME_COLUMNS:
            raise ValueError(f"unknown time column {column!r}; use one of {TIME_COLUMNS}")
        if column not in self.group:
            raise KeyError(f"stream {self.name!r} has no {column!r} yet (run `melab sync`)")
        return self.group[column]

    def between(
        self, start: float, stop: float, column: str = "host_time"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Samples and their times with start <= time < stop on the given column."""
        times = self.times(column)
        span = _span(times, start, stop)
        return self.samples[span], times[span]

    @property
    def clock_offsets(self) -> np.ndarray:
        """(k, 2) clock-offset records: host time, offset (s)."""
        return self.group["clock_offsets"][:]

    @property
    def gaps(self) -> np.ndarray:
        """(g, 2) outages: start and end on the session clock."""
        return self.group["gaps"][:]

    @property
    def samples_lost(self) -> int:
        """Samples melab could not queue (0 unless the writer fell behind)."""
        return int(self.group.attrs.get("samples_lost", 0))

    @property
    def duration(self) -> float:
        """Seconds between first and last sample (host time)."""
        t = self.group["host_time"]
        return float(t[-1] - t[0]) if t.shape[0] > 1 else 0.0


class SegmentView:
    """A video segment file: frames and per-frame metadata, read lazily."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self.file, self.closed_cleanly = open_h5(path, SEGMENT_FORMAT)
        # Per-frame metadata is written after its frames: its length is the trusted count.
        self.n_frames = int(self.file["host_time"].shape[0])

    @property
    def attrs(self) -> dict[str, Any]:
        """The segment's attributes (camera, pixel format, trial, counters)."""
        return {k: decoded(v) for k, v in self.file.attrs.items()}

    @property
    def complete(self) -> bool:
        """True when the segment was stopped and closed normally."""
        return bool(self.file.attrs.get("complete", False))

    @property
    def pixel_format(self) -> str:
        """Raw pixel format (bayer_rg8, mono8, ...)."""
        return decoded(self.file.attrs["pixel_format"])

    @property
    def camera_settings(self) -> dict[str, Any]:
        """Camera settings recorded with the segment."""
        return json.loads(decoded(self.file.attrs.get("camera_settings", "{}")))

    def frame(self, index: int) -> np.ndarray:
        """One frame as uint8 (height, width)."""
        if not 0 <= index < self.n_frames:
            raise IndexError(f"frame {index} out of range 0..{self.n_frames - 1} in {self.path}")
        return self.file["frames"][index]

    def frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) as uint8 (n, height, width)."""
        stop = self.n_frames if stop is None else min(stop, self.n_frames)
        return self.file["frames"][start:stop]

    def column(self, name: str) -> np.ndarray:
        """A per-frame column: frame_number, device_time, host_time, gpi_level, session_time."""
        return self.file[name][: self.n_frames]

    def between(self, start: float, stop: float, column: str = "host_time") -> slice:
        """Frame index range with start <= time < stop on a timestamp column."""
        return _span(self.file[column], start, stop)

    @property
    def frame_gaps(self) -> int:
        """Frames missing from the device frame numbers."""
        gaps = self.file["dropped"][:]
        return int(gaps[:, 1].sum()) if len(gaps) else 0

    @property
    def camera_losses(self) -> CameraLosses:
        """What the camera's own counters say it lost while this segment recorded (skipped
        frames, missed hardware triggers); zeros in segments written before melab kept them."""
        if "camera_losses" not in self.file:
            return CameraLosses()
        totals = self.file["camera_losses"][:][:, 1:].sum(axis=0)  # (rows, LOSS_COLUMNS)
        return CameraLosses(*(int(v) for v in totals))

    @property
    def dropped_frames(self) -> int:
        """All frames lost before melab: frame-number gaps, frames the camera skipped (which
        show as gaps too, unless last) and hardware triggers that made no frame."""
        return self.camera_losses.dropped(self.frame_gaps)

    @property
    def lost_frames(self) -> int:
        """Frames melab could not queue (known only for a completed segment)."""
        return int(self.file.attrs.get("lost_frames", 0))

    def close(self) -> None:
        """Close the segment file."""
        self.file.close()


class Session:
    """An open session folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.file, self.closed_cleanly = open_h5(folder / SESSION_FILE, SESSION_FORMAT)
        missing = [name for name in SESSION_PARTS if name not in self.file]
        if missing:
            self.file.close()
            raise SessionFormatError(
                f"{folder / SESSION_FILE}: damaged melab session (missing {', '.join(missing)}); "
                "restore it from a backup copy")
        self.metadata = SessionMetadata.from_attrs(self.file.attrs)
        self._segments: dict[str, SegmentView] = {}

    @property
    def complete(self) -> bool:
        """True when the recording was closed normally."""
        return bool(self.file.attrs.get("complete", False))

    @property
    def stop_reason(self) -> str:
        """Why the recording stopped: "end", "disk full", "write error", a signal name
        (SIGTERM, ...); "" when it never closed (a crash) or melab did not record it yet."""
        return str(decoded(self.file.attrs.get("stop_reason", "")))

    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes (start/stop times, format version, ...)."""
        return {k: decoded(v) for k, v in self.file.attrs.items()}

    @property
    def streams(self) -> dict[str, StreamView]:
        """Continuous and marker streams by name."""
        return {name: StreamView(name, g) for name, g in self.file["streams"].items()}

    def segment_names(self) -> list[str]:
        """Video segments: those indexed in the session plus any segment file on disk."""
        names = [decoded(n) for n in self.file["segments"]["name"]]
        video = self.folder / VIDEO_DIR
        if video.is_dir():  # a crash can leave a segment file its index row never reached
            names += sorted(p.stem for p in video.glob("*.h5") if p.stem not in names)
        return names

    def segment(self, name: str) -> SegmentView:
        """Open a video segment by name."""
        if name not in self._segments:
            if name not in self.segment_names():
                raise KeyError(f"no segment {name!r} in {self.folder}")
            self._segments[name] = SegmentView(name, self.folder / segment_filename(name))
        return self._segments[name]

    @property
    def segment_index(self) -> np.ndarray:
        """The segments table as written by the recorder."""
        return self.file["segments"][:]

    @property
    def events(self) -> list[Event]:
        """Every event in time order."""
        return sorted(rows_to_events(self.file["events"][:]), key=lambda e: e.time)

    @property
    def trials(self) -> list[TrialRecord]:
        """The trials table."""
        return rows_to_records(self.file["trials"][:], TrialRecord)

    def close(self) -> None:
        """Close the session and its open segment files."""
        for seg in self._segments.values():
            seg.close()
        self._segments.clear()
        self.file.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(path: str | Path) -> Session:
    """Open a session folder (or its session.h5) for reading."""
    return Session(session_folder(path))


def check_session(path: str | Path) -> Path:
    """The session folder a path names, once its session.h5 and segment files were opened and
    their structure read: a damaged or foreign file is refused with one line naming it."""
    folder = session_folder(path)
    current = folder / SESSION_FILE
    try:
        with open_session(folder) as session:
            _read_structure(session.file)
            for name in session.segment_names():
                current = folder / segment_filename(name)
                _read_structure(session.segment(name).file)
    except SessionError:
        raise
    # h5py reports damaged metadata (checksums, addresses) as any of these
    except (KeyError, RuntimeError, OSError, ValueError) as exc:
        reason = exc.args[0] if exc.args else type(exc).__name__
        raise SessionFormatError(f"{current}: damaged HDF5 file ({reason}); "
                                 "restore it from a backup copy") from None
    return folder


def _read_structure(f: h5py.File) -> None:
    """Read every object header, attribute and chunk index of f: all its metadata, which
    HDF5 checksums, and none of its data."""
    def visit(_name: str, obj: h5py.Group | h5py.Dataset) -> None:
        dict(obj.attrs)
        if isinstance(obj, h5py.Dataset) and obj.chunks is not None:
            obj.id.get_num_chunks()

    dict(f.attrs)
    f.visititems(visit)


def session_folder(path: str | Path) -> Path:
    """The session folder a path names (the folder or its session.h5); raises
    SessionFormatError saying what the path is instead."""
    p = Path(path)
    if p.is_file():
        if p.name != SESSION_FILE:
            raise SessionFormatError(
                f"{p}: a file, not a session folder; give the folder that holds {SESSION_FILE}")
        return p.parent
    if not p.is_dir():
        raise SessionFormatError(f"{p}: no such session folder; check the path")
    if not (p / SESSION_FILE).exists():
        raise SessionFormatError(
            f"{p}: not a melab session folder (no {SESSION_FILE} in it); give the folder of "
            "one recorded session")
    return p
