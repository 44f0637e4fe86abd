"""The fitted clocks as people read them: offset and drift of every clock segment.

A clock segment's map `t_session = a + b * t_device` (the `/sync/<name>/segments` table) is
shown as the device clock's offset from the session clock where the segment starts and its
drift in ppm, with the fit's residuals; `melab sync` and `melab info` print them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recordings.store.layout import decoded


def to_ms(seconds: float) -> float | None:
    """Seconds as milliseconds (4 decimals) for a report; None for NaN."""
    return None if not np.isfinite(seconds) else round(float(seconds) * 1e3, 4)


def clock_records(segments: np.ndarray) -> list[dict[str, Any]]:
    """Per row of a segments table: rows, method, offset (s), drift (ppm) and residuals.

    offset_s: session time minus device time at the segment's first row; drift_ppm: (1/b - 1)
    x 1e6, the microseconds per second the device clock gains on the session clock.
    """
    out = []
    for row in segments:
        a, b, start = float(row["a"]), float(row["b"]), float(row["start_device"])
        out.append({
            "rows": [int(row["start_row"]), int(row["end_row"])],
            "method": str(decoded(row["method"])),
            "offset_s": a + (b - 1.0) * start,
            "drift_ppm": round((1.0 / b - 1.0) * 1e6, 4),
            "n_edges": int(row["n_edges"]),
            "rms_residual_ms": to_ms(row["rms_residual"]),
            "max_residual_ms": to_ms(row["max_residual"]),
            "bound_ms": to_ms(row["bound"]),
        })
    return out


def describe_clocks(clocks: list[dict[str, Any]]) -> list[str]:
    """One line per clock segment: rows, offset, drift, residual and what the error may be."""
    lines = []
    for c in clocks:
        first, end = c["rows"]
        text = (f"rows {first}-{end - 1}: offset {c['offset_s']:+.6f} s, drift "
                f"{c['drift_ppm']:+.3f} ppm; {c['method']}")
        if c["max_residual_ms"] is not None:
            text += f", residual max {c['max_residual_ms']} ms"
        if c["bound_ms"] is not None:  # trigger fits: a bound; fallbacks: receipt spread
            text += (f", bound +-{c['bound_ms']} ms" if c["method"].startswith("trigger")
                     else f", +-{c['bound_ms']:.3g} ms at best")
        lines.append(text)
    return lines
