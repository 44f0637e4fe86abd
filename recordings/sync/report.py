"""The records of a synchronization: how each stream was put on the session clock.

`StreamSync` (one stream, the camera or the box log) and `SyncReport` (a whole session), as
recordings/sync/synchronize.py computes them and recordings/sync/storage.py stores and reads
them back; `describe` and `describe_with_clocks` are the lines `melab sync` and `melab info`
print for a stored summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.trigger_channel import TriggerChannel
from recordings.store.layout import STRING, decoded
from recordings.sync.clocks import clock_records, describe_clocks, to_ms
from recordings.sync.edges import Edges

if TYPE_CHECKING:  # the fitting code (and scipy) loads only when a sync is computed
    from recordings.sync.box_map import BoxSegment
    from recordings.sync.clock_segments import SegmentFit
    from recordings.sync.trigger_fit import TriggerFit

SEGMENT_DTYPE = np.dtype([
    ("start_row", "i8"), ("end_row", "i8"), ("start_device", "f8"), ("end_device", "f8"),
    ("a", "f8"), ("b", "f8"), ("n_edges", "i8"), ("rms_residual", "f8"),
    ("max_residual", "f8"), ("bound", "f8"), ("method", STRING),
])

@dataclass
class StreamSync:
    """How one stream (or the camera, or the box log) was put on the session clock."""

    name: str
    kind: str  # stream | camera | reference
    method: str  # trigger | lsl_offsets | host_time | reference, '+'-joined when mixed
    rows: int
    edges_found: int
    n_edges: int  # edges the fits used
    rms_residual: float  # s (trigger: distance of edges outside their sample intervals)
    max_residual: float
    bound: float  # s, largest half-width of offsets consistent with the edges; NaN if none
    segments: list[SegmentFit] = field(default_factory=list)
    box_segments: list[BoxSegment] = field(default_factory=list)
    warning: str = ""
    session_time: np.ndarray | None = field(default=None, repr=False)
    edges: Edges | None = field(default=None, repr=False)
    fit: TriggerFit | None = field(default=None, repr=False)
    files: list[tuple[str, int, int]] = field(default_factory=list)  # camera: file, rows
    trigger: TriggerChannel | None = None  # streams: the channel(s) the edges came from

    def attrs(self) -> dict[str, Any]:
        """What `/sync/<name>` stores as attributes."""
        out = {"stream": self.name, "kind": self.kind, "method": self.method, "rows": self.rows,
               "edges_found": self.edges_found, "n_edges": self.n_edges,
               "rms_residual": self.rms_residual, "max_residual": self.max_residual,
               "bound": self.bound, "warning": self.warning}
        if self.trigger is not None:
            out.update(trigger_channel=self.trigger.label, trigger_found_by=self.trigger.found_by)
        return out

    def table(self) -> np.ndarray:
        """What `/sync/<name>/segments` stores: one row per clock segment."""
        if self.kind == "reference":
            return _box_table(self.box_segments)
        return _segments_table(self.segments)

    def summary(self) -> dict[str, Any]:
        """Plain-data summary (what `melab sync --json` and `melab info` show)."""
        return summary_from_attrs(self.attrs(), self.table())


@dataclass
class SyncReport:
    """The outcome of synchronize(): per stream method and quality, plus warnings."""

    folder: Path
    streams: dict[str, StreamSync]
    warnings: list[str]
    trigger_channels: dict[str, str] = field(default_factory=dict)  # explicit choices used

    def format(self) -> str:
        """Human-readable report."""
        lines = [f"Synchronization of {self.folder}"]
        for name, s in self.streams.items():
            lines += describe_with_clocks(name, s.summary(), "  ")
        lines += [f"  ! {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe report."""
        return {"folder": str(self.folder), "warnings": self.warnings,
                "streams": {n: s.summary() for n, s in self.streams.items()}}


def describe_with_clocks(name: str, s: dict[str, Any], indent: str) -> list[str]:
    """describe()'s line, then one line per clock segment (offset, drift, residual)."""
    return [indent + describe(name, s)] + [f"{indent}    {line}"
                                           for line in describe_clocks(s["clocks"])]


def describe(name: str, s: dict[str, Any]) -> str:
    """One line for a stream's sync summary (also used by `melab info`)."""
    if s["method"] == "reference":
        return (f"{name:<12} reference (trigger box clock -> session clock), "
                f"{s['segments']} segment(s), probe residual rms {s['rms_residual_ms']} ms")
    text = f"{name:<12} {s['method']:<12}"
    if s["method"] == "none":
        return text + " no samples"
    if "trigger" in s["method"]:
        channel = (f" (channel {s['trigger_channel']!r} by {s['trigger_found_by']})"
                   if s["trigger_channel"] else "")
        text += (f" {s['n_edges']} edges{channel} in {s['segments']} segment(s), residual max "
                 f"{s['max_residual_ms']} ms, bound +-{s['bound_ms']} ms")
    elif s["bound_ms"] is None:  # synced before fallbacks were checked against receipt
        text += " accuracy unknown (no trigger; run `melab sync` again)"
    else:
        text += f" +-{s['bound_ms']:.3g} ms at best (no trigger: host receipt spread)"
    return text


def _segments_table(fits: list[SegmentFit]) -> np.ndarray:
    rows = [(f.start_row, f.end_row, f.start_device, f.end_device, f.a, f.b, f.n_edges,
             f.rms_residual, f.max_residual, f.bound, f.method) for f in fits]
    return np.array(rows, dtype=SEGMENT_DTYPE)


def _box_table(segments: list[BoxSegment]) -> np.ndarray:
    rows = [(s.start_row, s.end_row, s.start_box, s.end_box, s.a, s.b, s.n_events,
             s.rms_residual, s.max_residual, float("nan"), s.method) for s in segments]
    return np.array(rows, dtype=SEGMENT_DTYPE)


def summary_from_attrs(attrs: dict[str, Any], segments: np.ndarray) -> dict[str, Any]:
    """One stream's sync summary from its /sync attributes and segments table, as `melab sync`
    prints it and `melab info` reads it back."""
    def text(key: str) -> str:
        return str(decoded(attrs.get(key, "")))

    def ms(key: str) -> float | None:
        return to_ms(float(attrs.get(key, np.nan)))

    return {"method": text("method"), "n_edges": int(attrs.get("n_edges", 0)),
            "edges_found": int(attrs.get("edges_found", 0)), "segments": len(segments),
            "rms_residual_ms": ms("rms_residual"), "max_residual_ms": ms("max_residual"),
            "bound_ms": ms("bound"), "warning": text("warning"),
            "trigger_channel": text("trigger_channel"),
            "trigger_found_by": text("trigger_found_by"), "clocks": clock_records(segments)}
