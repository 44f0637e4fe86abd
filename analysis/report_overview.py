"""report.html's session overview: devices, durations, losses and sync quality per device.

Reads what `melab info` reads (recordings.summary.summarize, with the stored sync of
`melab sync`), so the report and the command line never disagree.
"""

from __future__ import annotations

import html
from typing import Any

from analysis.report_html import table
from recordings.summary import dropped_summary, state_text

CAMERA = "camera"  # the sync entry of the video segments (recordings/sync)
HEADERS = ["device", "type", "ch", "rate (Hz)", "duration (s)", "samples / frames", "lost",
           "gaps", "sync", "edges", "residual rms / max (ms)", "bound (ms)", "drift (ppm)",
           "note"]


def overview_section(overviews: dict[str, dict[str, Any]]) -> str:
    """One block per session: how it was recorded, then a row per device."""
    parts = ["<h2 id='overview'>Sessions</h2>"]
    if not overviews:
        parts.append("<p>No session summary.</p>")
    for name, info in overviews.items():
        parts.append(f"<h3>{html.escape(name)}</h3><p>{html.escape(_headline(info))}</p>")
        parts.append(f"<div class='devices'>{table(HEADERS, device_rows(info))}</div>")
        if not info.get("sync"):
            parts.append("<p class='warn'>Not synchronized: times are host receipt times. "
                         "Run <code>melab sync</code> on the session, then analyse again.</p>")
    parts.append("<p class='note'>Sync: how each device's clock was put on the session clock "
                 "(trigger = matched edges of the trigger box's pulses; host_time / "
                 "clock_offsets = the fallbacks without a trigger). Residual: fitted minus "
                 "observed edge times; bound: the worst error the fit allows. Lost: samples "
                 "the stream reported lost, or frames never stored.</p>")
    return "".join(parts)


def _headline(info: dict[str, Any]) -> str:
    duration = info.get("duration_s")
    return (f"participant {info['participant']}, session {info['session']}, protocol "
            f"{info['protocol'] or '-'}{' (simulated)' if info['simulated'] else ''}; started "
            f"{info['start_utc'] or '?'}, "
            f"{'?' if duration is None else f'{duration:.1f}'} s, {state_text(info)}; "
            f"{info['trials']} trial(s), {len(info['segments'])} video segment(s), "
            f"{info['events']} events")


def device_rows(info: dict[str, Any]) -> list[list[Any]]:
    """A row per stream, one for the camera, and one per other synced device (the box log)."""
    sync: dict[str, dict[str, Any]] = info.get("sync") or {}
    rows = []
    for name, s in info["streams"].items():
        gaps = f"{s['gaps']} ({s['gap_seconds']} s)" if s["gaps"] else "0"
        rows.append([name, s["type"], s["channels"],
                     f"{s['nominal_rate']:g} / {s['effective_rate']:g}", s["duration_s"],
                     s["samples"], s["samples_lost"], gaps, *_sync_cells(sync.get(name))])
    if info["segments"]:
        seconds = sum(seg["duration_s"] for seg in info["segments"].values())
        fps = (info["frames"] - len(info["segments"])) / seconds if seconds > 0 else 0.0
        rows.append([CAMERA, "video", "", f"{fps:.4g}", round(seconds, 3), info["frames"],
                     info["lost_frames"], dropped_summary(info), *_sync_cells(sync.get(CAMERA))])
    for name, s in sync.items():
        if name not in info["streams"] and name != CAMERA:
            rows.append([name, s["method"], "", "", "", "", "", "", *_sync_cells(s)])
    return rows


def _sync_cells(s: dict[str, Any] | None) -> list[Any]:
    """method, edges, residual, bound, drift, warning of one device's stored sync."""
    if s is None:
        return ["not synced", "", "", "", "", ""]
    residual = ("" if s["max_residual_ms"] is None
                else f"{_ms(s['rms_residual_ms'])} / {_ms(s['max_residual_ms'])}")
    drifts = [c["drift_ppm"] for c in s.get("clocks", ())]
    drift = max(drifts, key=abs) + 0.0 if drifts else ""  # + 0.0: never "-0"
    edges = s["n_edges"] if "trigger" in s["method"] or s["method"] == "reference" else ""
    return [s["method"], edges, residual, _ms(s["bound_ms"]), drift, s["warning"]]


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"
