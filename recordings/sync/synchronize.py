"""Synchronization of a recorded session: every sample and frame on the session clock.

`synchronize(folder)` reads a closed session, detects the trigger edges of every device
(recordings/sync/edges.py; the camera's over all its video segments, camera_frames.py),
ties the trigger box's clock to the session clock (recordings/sync/box_map.py), matches each
device's edges to the box's and fits `t_session = a + b * t_device` per clock segment
(recordings/sync/trigger_fit.py), falls back to LSL clock offsets or host receipt times
where no edge does (recordings/sync/fallback.py), and stores the result beside the raw data,
which it never changes (recordings/sync/storage.py; the records in recordings/sync/report.py).

Running it again replaces exactly what the previous run stored. The method is described in
docs/sync.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from core.codes import CAMERA_LINE
from core.trigger_channel import TriggerChannel, find_trigger_channel
from recordings.rigs.roles import StreamRoles, TriggerSource, stored_roles
from recordings.store.errors import SessionError
from recordings.store.layout import TRIGGER_LOG_TYPE
from recordings.store.reader import Session, StreamView, open_session
from recordings.sync.camera_frames import camera_frames
from recordings.sync.edges import Edges, box_log, line_codes, read_column, stream_edges
from recordings.sync.report import StreamSync, SyncReport
from recordings.sync.storage import stored_trigger_channels, write_sync

if TYPE_CHECKING:  # the fitting code (and scipy) loads only when a sync is computed
    from recordings.sync.clock_segments import SegmentFit
    from recordings.sync.fallback import FallbackTimes
    from recordings.sync.matching import CodeTest

CAMERA = "camera"  # name of the pooled video segments in /sync


def _combine_method(fits: list[SegmentFit]) -> str:
    names = []
    for f in fits:
        base = "trigger" if f.method.startswith("trigger") else f.method
        if base not in names:
            names.append(base)
    return "+".join(names) or "none"


def _quality(fits: list[SegmentFit]) -> tuple[float, float, float]:
    chosen = [f for f in fits if f.method.startswith("trigger")]
    if not chosen:
        chosen = fits
    if not chosen:
        return float("nan"), float("nan"), float("nan")
    weights = np.array([max(f.n_edges, 1) for f in chosen], float)
    rms = float(np.sqrt(np.sum(weights * np.array([f.rms_residual for f in chosen]) ** 2)
                        / weights.sum()))
    bounds = [f.bound for f in chosen if np.isfinite(f.bound)]
    return rms, max(f.max_residual for f in chosen), max(bounds) if bounds else float("nan")


def _with_fallback(fits: list[SegmentFit], fallback: FallbackTimes, out: np.ndarray,
                   unit: str, why: str) -> tuple[list[SegmentFit], str]:
    """Fill the rows no trigger fit covers from a fallback's times; (all fits, the note)."""
    for f in fallback.fits:
        out[f.start_row:f.end_row] = fallback.times[f.start_row:f.end_row]
    rows = sum(f.end_row - f.start_row for f in fallback.fits)
    what = f"{rows} of {len(out)} {unit}" if rows < len(out) else f"all {unit}"
    used = " and ".join(sorted({f.method for f in fallback.fits}))
    accuracy = max(f.bound for f in fallback.fits)
    note = (f"{what} use {used} ({why}): +-{accuracy * 1e3:.3g} ms at best (host receipt "
            "spread), not sub-sample")
    return (sorted(fits + fallback.fits, key=lambda f: f.start_row),
            "; ".join([note, *sorted(set(fallback.refusals))]))


def _apply(fits: list[SegmentFit], device: np.ndarray, out: np.ndarray) -> None:
    for f in fits:
        if f.method.startswith("trigger"):
            out[f.start_row:f.end_row] = f.a + f.b * device[f.start_row:f.end_row]


def _pulse_width(meta: dict[str, Any], edges: list[Edges]) -> float | None:
    """The box's pulse width: from the recording's metadata, else measured (whole ms)."""
    width = meta.get("pulse_width_ms")
    if isinstance(width, int | float) and width > 0:
        return float(width) / 1000
    lengths = np.concatenate([((e.fall_lo + e.fall_hi) - (e.lo + e.hi)) / 2 for e in edges]
                             or [np.zeros(0)])
    lengths = lengths[np.isfinite(lengths)]
    if len(lengths) < 3:
        return None
    ms = float(np.median(lengths)) * 1000
    return round(ms) / 1000 if abs(ms - round(ms)) < 0.3 and round(ms) >= 1 else None


def _trigger_codes(group: h5py.Group, trigger: TriggerChannel, n: int) -> np.ndarray:
    """The trigger channel's values, or the code its single-line channels spell."""
    columns = [read_column(group["samples"], c)[:n] for c in trigger.columns]
    return columns[0] if trigger.is_code else line_codes(columns)


def _stream_trigger(view: StreamView, roles: StreamRoles | None, chosen: str | None
                    ) -> TriggerChannel | None:
    """The trigger channel(s): chosen at sync, else as stored at recording, else found now."""
    if chosen is None and roles is not None:
        return roles.trigger.channel()
    return find_trigger_channel(view.labels, view.channel_types, chosen)


def _edges(group: h5py.Group, n: int, trigger: TriggerChannel | None,
           markers: TriggerSource | None, regular: np.ndarray, host: np.ndarray, rate: float
           ) -> tuple[Edges, CodeTest | None, str]:
    """A stream's trigger edges, how its codes compare with the box's, what they came from."""
    from recordings.sync.marker_edges import marker_edges
    from recordings.sync.matching import low_lines, same_code

    if markers is not None:
        values = group["samples"][:n, 0]
        edges = marker_edges(values, regular, host, markers.codes, markers.code_map)
        return edges, same_code, "markers (timed at send)"
    if trigger is None:
        return Edges.empty(), None, ""
    codes = _trigger_codes(group, trigger, n)
    edges = (stream_edges(codes, regular, host, rate, trigger.idle, trigger.mask)
             if trigger.is_code else stream_edges(codes, regular, host, rate, 0.0))
    return edges, same_code if trigger.is_code else low_lines(len(trigger.columns)), (
        f"channel {trigger.label!r}")


def _stream(view: StreamView, box_times: np.ndarray | None, box_codes: np.ndarray | None,
            chosen: str | None, roles: StreamRoles | None = None,
            markers: TriggerSource | None = None, borrowed: StreamSync | None = None
            ) -> StreamSync:
    """One continuous or marker stream: trigger fit where edges match, fallback elsewhere.

    roles: as stored at recording (rate, trigger source); markers: this marker stream carries
    the box's codes; borrowed: the fit of the marker stream this stream's trigger is.
    """
    from recordings.sync.clock_segments import clock_runs
    from recordings.sync.dejitter import dejitter
    from recordings.sync.fallback import offsets_fallback
    from recordings.sync.marker_edges import MARKER_WIDTH_S, borrowed_fits
    from recordings.sync.trigger_fit import fit_trigger

    name, group = view.name, view.group
    n = min(group["device_time"].shape[0], group["host_time"].shape[0])
    device = group["device_time"][:n]
    host = group["host_time"][:n]
    offsets = group["clock_offsets"][:]
    rate = roles.rate if roles is not None and roles.rate > 0 else float(
        group.attrs.get("nominal_rate", 0.0))
    continuous = group["samples"].dtype.kind == "f" and rate > 0
    runs = clock_runs(device, host)
    period = 1.0 / rate if rate > 0 else MARKER_WIDTH_S
    regular = dejitter(device, runs, period) if rate > 0 else device
    trigger = _stream_trigger(view, roles, chosen) if continuous else None
    out = np.full(n, np.nan)
    warning = ""
    fit = None
    fits: list[SegmentFit] = []
    uncovered = runs
    edges, codes_seen, source = _edges(group, n, trigger, markers, regular, host, rate)
    if n == 0:
        warning = "no samples"
    elif borrowed is not None:
        fits = borrowed_fits(borrowed.segments, regular)
        _apply(fits, regular, out)
        uncovered = [] if fits else runs
        warning = (f"timed by the markers of {borrowed.name} (same sender clock assumed; "
                   f"markers timed at send, +-{MARKER_WIDTH_S * 500:g} ms intervals)")
    elif codes_seen is not None:
        if len(edges) == 0:
            warning = f"no trigger edges in {source}"
        elif box_times is None or box_codes is None:
            warning = "trigger edges found but no trigger-box log to match them to"
        else:
            fit = fit_trigger(edges, box_times, box_codes, codes_seen, regular, host, runs,
                              period)
            fits = list(fit.segments)
            _apply(fits, regular, out)
            uncovered = fit.uncovered
            if not fits:
                warning = f"none of the {len(edges)} trigger edges matched the trigger-box log"
            elif markers is not None:
                warning = (f"trigger edges from markers timed at send (+-"
                           f"{MARKER_WIDTH_S * 500:g} ms intervals): looser than sampled edges")
    elif continuous:
        warning = (f"no trigger channel (none of a trigger type or label, docs/sync.md; name "
                   f"one with `melab sync --trigger-channel {name}=LABEL`)")
    if uncovered:
        fits, note = _with_fallback(fits, offsets_fallback(regular, host, uncovered, offsets),
                                    out, "samples", "no trigger edges there")
        warning = f"{warning}; {note}" if warning else note
    rms, mx, bound = _quality(fits)
    return StreamSync(name, "stream", _combine_method(fits), n, len(edges),
                      sum(f.n_edges for f in fits), rms, mx, bound, fits, warning=warning,
                      session_time=out, edges=edges, fit=fit, trigger=trigger)


def _camera(session: Session, box_times: np.ndarray | None, box_codes: np.ndarray | None,
            pulse_width: float | None) -> StreamSync | None:
    """All video segments together (one camera clock): GPI edges, else host receipt times."""
    from recordings.sync.clock_segments import clock_runs
    from recordings.sync.fallback import host_fallback
    from recordings.sync.matching import line_mask
    from recordings.sync.trigger_fit import fit_trigger

    frames = camera_frames(session)
    if frames is None:
        return None
    device, host, edges = frames.device_time, frames.host_time, frames.edges
    n = len(device)
    runs = clock_runs(device, host)
    out = np.full(n, np.nan)
    warning = ""
    fits: list[SegmentFit] = []
    fit = None
    uncovered = runs
    if not frames.gpi_mask:
        warning = "no GPI input carries the sync line (gpi_sync_mask 0)"
    elif len(edges) == 0:
        warning = "no sync edges in the GPI level"
    elif box_times is None or box_codes is None:
        warning = "GPI edges found but no trigger-box log to match them to"
    else:
        fit = fit_trigger(edges, box_times, box_codes, line_mask(CAMERA_LINE), device, host,
                          runs, 1.0 / frames.frame_rate, pulse_width=pulse_width)
        fits = list(fit.segments)
        _apply(fits, device, out)
        uncovered = fit.uncovered
        if not fits:
            warning = f"none of the {len(edges)} GPI edges matched the trigger-box log"
    if uncovered:
        fits, note = _with_fallback(fits, host_fallback(device, host, uncovered), out,
                                    "frames", "no GPI edges there; late by the USB latency")
        warning = f"{warning}; {note}" if warning else note
    rms, mx, bound = _quality(fits)
    return StreamSync(CAMERA, "camera", _combine_method(fits), n, len(edges),
                      sum(f.n_edges for f in fits), rms, mx, bound, fits, warning=warning,
                      session_time=out, edges=edges, fit=fit, files=frames.files)


def compute_sync(session: Session, trigger_channels: Mapping[str, str] | None = None
                 ) -> SyncReport:
    """Synchronize an open session in memory (nothing is written).

    trigger_channels: stream name -> the label of its trigger channel (or its single-line
    channels, "D1,...,D8"), overriding what find_trigger_channel would pick.
    """
    chosen = dict(trigger_channels or {})
    unknown = sorted(set(chosen) - set(session.streams))
    if unknown:
        raise ValueError(f"--trigger-channel names no stream of this session: "
                         f"{', '.join(unknown)} (streams: {', '.join(session.streams)})")
    from recordings.sync.box_map import DEFAULT_BAUD, box_session_times, fit_box_map

    meta = session.metadata.devices.get("trigger", {}) if session.metadata.devices else {}
    baud = float(meta.get("baud") or DEFAULT_BAUD)
    groups = {name: view.group for name, view in session.streams.items()}
    box_name = next((n for n, g in groups.items()
                     if str(g.attrs.get("type", "")) == TRIGGER_LOG_TYPE), None)
    results: dict[str, StreamSync] = {}
    warnings: list[str] = []
    box_times = box_codes = None
    if box_name is not None:
        g = groups[box_name]
        n = min(g["device_time"].shape[0], g["host_time"].shape[0], g["samples"].shape[0])
        log = box_log(g["samples"][:n], g["device_time"][:n], g["host_time"][:n])
        box_segments = fit_box_map(log, baud)
        if box_segments:
            box_times = box_session_times(log, box_segments)
            box_codes = log.code
            rms = float(np.sqrt(np.mean([s.rms_residual**2 for s in box_segments])))
            mx = max(s.max_residual for s in box_segments)
            note = ""
            if any(s.method != "round_trip" for s in box_segments):
                note = ("trigger-box log without round trips: box clock tied to the session "
                        f"clock by {', '.join(sorted({s.method for s in box_segments}))} "
                        "(biased by the serial latency, see docs/sync.md)")
                warnings.append(note)
            results[box_name] = StreamSync(
                box_name, "reference", "reference", n, n, sum(s.n_events for s in box_segments),
                rms, mx, float("nan"), box_segments=box_segments, warning=note,
                session_time=box_times)
        else:
            warnings.append("the trigger-box log holds no usable edges")
    else:
        warnings.append("no trigger-box log in this session: every stream uses its fallback")
    roles = stored_roles(session.metadata.devices or {})
    markers = {r.trigger.markers: r.trigger for r in roles.values()
               if r.trigger.kind == "markers" and r.trigger.markers in session.streams}
    # Marker streams that carry the box's codes first: other streams borrow their fits.
    for name in sorted(session.streams, key=lambda s: s not in markers):
        if name == box_name:
            continue
        source = roles.get(name)
        lender = source.trigger.markers if source is not None and name not in chosen else ""
        results[name] = _stream(session.streams[name], box_times, box_codes, chosen.get(name),
                                source, markers.get(name), results.get(lender))
    width = _pulse_width(meta, [r.edges for r in results.values() if r.edges is not None])
    camera = _camera(session, box_times, box_codes, width)
    if camera is not None:
        results[CAMERA] = camera
    for name, r in results.items():
        if r.warning and r.kind != "reference":
            warnings.append(f"{name}: {r.warning}")
    return SyncReport(session.folder, results, warnings, chosen)


def synchronize(path: str | Path, write: bool = True,
                trigger_channels: Mapping[str, str] | None = None) -> SyncReport:
    """Put every sample and frame of a closed session on the session clock; store the result.

    trigger_channels (stream name -> channel label) joins the choices an earlier sync stored,
    so a later run keeps them; an empty label drops a stream's stored choice.
    """
    with open_session(path) as session:
        if not session.closed_cleanly:
            raise SessionError(
                f"{session.folder} was not closed cleanly (crashed recording): sync writes to the "
                "session, so run it on a copy cleared with `h5clear -s` (docs/session-format.md)")
        chosen = {**stored_trigger_channels(session.file), **(trigger_channels or {})}
        report = compute_sync(session, {name: label for name, label in chosen.items() if label})
    if write:
        write_sync(report)
    return report
