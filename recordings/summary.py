"""A session's summary: what `melab info` prints (text or JSON)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from core.devices import CameraLosses
from recordings.camera_losses import dropped_text
from recordings.preflight import human_bytes
from recordings.store.layout import STOP_END
from recordings.store.reader import SegmentView, Session, StreamView
from recordings.sync.report import describe_with_clocks
from recordings.sync.storage import read_sync


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def summarize(session: Session) -> dict[str, Any]:
    """Streams, segments, events and sizes of a session as plain data."""
    attrs = session.attrs
    streams = {name: _stream_summary(s) for name, s in session.streams.items()}
    segments = {name: _segment_summary(session.segment(name))
                for name in session.segment_names()}
    events = session.events
    start, stop = attrs.get("start_time"), attrs.get("stop_time")
    return {
        "folder": str(session.folder),
        "participant": session.metadata.participant,
        "session": session.metadata.session,
        "consent_level": session.metadata.consent_level,
        "protocol": session.metadata.protocol_name,
        "simulated": session.metadata.simulated,
        "software_version": session.metadata.software_version,
        "start_utc": attrs.get("start_utc", ""),
        "duration_s": round(float(stop - start), 3) if stop is not None else None,
        "complete": session.complete,
        "closed_cleanly": session.closed_cleanly,
        "stop_reason": session.stop_reason,
        "streams": streams,
        "segments": segments,
        "frames": sum(s["frames"] for s in segments.values()),
        "dropped_frames": sum(s["dropped_frames"] for s in segments.values()),
        **{k: sum(s[k] for s in segments.values()) for k in LOSS_KEYS},
        "lost_frames": sum(s["lost_frames"] for s in segments.values()),
        "events": len(events),
        "event_kinds": dict(Counter(e.kind for e in events)),
        "trials": len(session.trials),
        "bytes": _folder_bytes(session.folder),
        "sync": read_sync(session.file),
    }


# The segment's loss counts besides dropped_frames (their total): see docs/session-format.md.
LOSS_KEYS = ("frame_gaps", "transport_skipped", "api_skipped", "missed_triggers")


def _stream_summary(s: StreamView) -> dict[str, Any]:
    n = len(s)
    gaps = s.gaps
    return {
        "type": s.type,
        "channels": len(s.labels),
        "labels": s.labels,
        "units": s.units,  # one per channel, in channel order
        "nominal_rate": s.nominal_rate,
        "samples": n,
        "duration_s": round(s.duration, 3),
        "effective_rate": round((n - 1) / s.duration, 3) if s.duration > 0 else 0.0,
        "gaps": len(gaps),
        "gap_seconds": round(float((gaps[:, 1] - gaps[:, 0]).sum()), 3) if len(gaps) else 0.0,
        "samples_lost": s.samples_lost,
        "clock_offsets": len(s.clock_offsets),
    }


def _segment_summary(seg: SegmentView) -> dict[str, Any]:
    host = seg.column("host_time")
    losses = seg.camera_losses
    return {
        "trial": int(seg.attrs.get("trial", -1)),
        "frames": seg.n_frames,
        "width": int(seg.attrs["width"]),
        "height": int(seg.attrs["height"]),
        "pixel_format": seg.pixel_format,
        "duration_s": round(float(host[-1] - host[0]), 3) if len(host) > 1 else 0.0,
        "dropped_frames": seg.dropped_frames,
        "frame_gaps": seg.frame_gaps,
        "transport_skipped": losses.transport_skipped,
        "api_skipped": losses.api_skipped,
        "missed_triggers": losses.missed_triggers,
        "lost_frames": seg.lost_frames,
        "complete": seg.complete,
        "bytes": seg.path.stat().st_size,
    }


def state_text(info: dict[str, Any]) -> str:
    """How the recording ended, in words."""
    reason = info["stop_reason"]
    if info["complete"]:
        return "complete" if reason in ("", STOP_END) else f"complete (stopped by {reason})"
    if reason and info["closed_cleanly"]:  # stopped on a write error, files closed
        return f"stopped: {reason} (everything written before the stop is kept)"
    return "INCOMPLETE (recording did not close normally)"


def format_summary(info: dict[str, Any]) -> str:
    """Human-readable text of summarize()'s result."""
    state = state_text(info)
    lines = [
        f"Session {info['folder']}",
        f"  participant {info['participant']}, session {info['session']}, "
        f"consent level {info['consent_level']}, protocol {info['protocol'] or '-'}"
        + (" [simulated]" if info["simulated"] else ""),
        f"  started {info['start_utc']}, duration {info['duration_s']} s, {state}",
        f"  size {human_bytes(info['bytes'])}, melab {info['software_version']}",
        "  Streams:",
    ]
    for name, s in info["streams"].items():
        lines.append(
            f"    {name:<12} {s['type']:<8} {s['channels']:>3} ch  {s['nominal_rate']:>7g} Hz  "
            f"{s['samples']:>9} samples  {s['duration_s']:>8.2f} s  gaps {s['gaps']} "
            f"({s['gap_seconds']} s)  lost {s['samples_lost']}"
        )
        lines.append(f"    {'':<12} units {_units_text(s['units'])}")
    lines.append(
        f"  Video segments: {len(info['segments'])}, {info['frames']} frames, "
        f"{dropped_summary(info)}, {info['lost_frames']} lost"
    )
    for name, s in info["segments"].items():
        lines.append(
            f"    {name:<12} trial {s['trial']:>3}  {s['width']}x{s['height']} {s['pixel_format']}"
            f"  {s['frames']:>6} frames  {s['duration_s']:>7.2f} s  {dropped_summary(s)}"
            f"  lost {s['lost_frames']}  {human_bytes(s['bytes'])}"
            + ("" if s["complete"] else "  INCOMPLETE")
        )
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(info["event_kinds"].items()))
    lines.append(f"  Events: {info['events']} ({kinds or 'none'}); trials: {info['trials']}")
    sync = info.get("sync") or {}
    lines.append("  Sync:" + ("" if sync else " not computed (run `melab sync`)"))
    for name, s in sync.items():
        lines += describe_with_clocks(name, s, "    ")
    return "\n".join(lines)


def dropped_summary(counts: dict[str, Any]) -> str:
    """The dropped frames of a summary (or of one segment's), the camera's own counts named."""
    losses = CameraLosses(counts["transport_skipped"], counts["api_skipped"],
                          counts["missed_triggers"])
    return dropped_text(counts["dropped_frames"], losses)


def _units_text(units: list[str]) -> str:
    """Units in channel order, runs of one unit counted: 'µV x64, - x1' ('-': none given)."""
    runs: list[list[Any]] = []
    for unit in units:
        if runs and runs[-1][0] == unit:
            runs[-1][1] += 1
        else:
            runs.append([unit, 1])
    return ", ".join(f"{unit or '-'}" + (f" x{count}" if count > 1 else "")
                     for unit, count in runs) or "-"
