"""A marker stream as a trigger source: the codes it carries, timed at send.

A bridge that sees the trigger box's lines may send each code as an LSL marker instead of a
channel (a rig profile's `trigger.markers`, docs/rig-profiles.md). Its timestamp is when the
sender stamped it, not a sample interval: each marker becomes an edge interval
MARKER_WIDTH_S wide around its stamp, so the fit states a looser residual than sampled
edges. A stream whose trigger is a marker stream of the same sender borrows that stream's
fit (same sender clock).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from recordings.store.layout import decoded
from recordings.sync.clock_segments import SegmentFit
from recordings.sync.edges import Edges

# Half of this on either side of a marker's stamp: what "timed at send" is trusted to.
MARKER_WIDTH_S = 0.001
BORROWED = "trigger_markers"  # the method of rows timed by another stream's marker fit


def marker_code(value: object, codes: str, code_map: Mapping[str, int]) -> int:
    """The box code a marker carries (0 when it carries none)."""
    text = decoded(value).strip() if isinstance(value, bytes | str) else str(value)
    if codes == "string":
        return int(code_map.get(text, 0))
    try:
        number = float(text)
    except ValueError:
        return int(code_map.get(text, 0))
    return int(number) if number.is_integer() and 0 < number < 256 else 0


def marker_edges(values: np.ndarray, device_time: np.ndarray, host_time: np.ndarray,
                 codes: str, code_map: Mapping[str, int]) -> Edges:
    """An edge per marker carrying a code, in (stamp - w/2, stamp + w/2]."""
    code = np.array([marker_code(v, codes, code_map) for v in values], np.int64)
    rows = np.flatnonzero(code > 0)
    stamp = np.asarray(device_time, np.float64)[rows]
    nan = np.full(len(rows), np.nan)
    return Edges(rows.astype(np.int64), stamp - MARKER_WIDTH_S / 2, stamp + MARKER_WIDTH_S / 2,
                 code[rows], np.asarray(host_time, np.float64)[rows], nan, nan.copy())


def borrowed_fits(fits: list[SegmentFit], device: np.ndarray) -> list[SegmentFit]:
    """Another stream's trigger fits applied to these device times: each row takes the fit
    whose device-time span is nearest (inside it when one holds it)."""
    chosen = [f for f in fits if f.method.startswith("trigger")]
    if not chosen or len(device) == 0:
        return []
    starts = np.array([f.start_device for f in chosen])
    ends = np.array([f.end_device for f in chosen])
    t = np.asarray(device, np.float64)[:, None]
    distance = np.maximum(starts - t, 0) + np.maximum(t - ends, 0)
    nearest = np.argmin(distance, axis=1)
    cuts = np.flatnonzero(np.diff(nearest)) + 1
    out = []
    for start, end in zip(np.r_[0, cuts], np.r_[cuts, len(device)], strict=True):
        f = chosen[int(nearest[start])]
        out.append(SegmentFit(int(start), int(end), float(device[start]), float(device[end - 1]),
                              f.a, f.b, f.n_edges, f.rms_residual, f.max_residual, f.bound,
                              BORROWED))
    return out
