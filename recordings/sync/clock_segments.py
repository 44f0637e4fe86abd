"""Clock segments: the stretches of rows over which one device clock ran continuously.

A map t_session = a + b * t_device (SegmentFit) holds only within one. Rows are split at the
resets and long gaps the timestamps show (clock_runs), then where the device's edges step
although the timestamps do not (split_at_edge_steps). See docs/sync.md, "Clock segments".
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from recordings.sync.edges import Edges

MAX_DRIFT = 3e-4  # |rate - 1| allowed for any clock (crystals: ±100 ppm; 3x margin)
RESET_JUMP_S = 0.5  # a device-time jump this much beyond elapsed host time is a clock reset
LONG_GAP_S = 10.0  # a stretch without samples this long splits a clock segment


@dataclass
class SegmentFit:
    """session = a + b * device_time for rows [start_row, end_row) of one stream or camera."""

    start_row: int
    end_row: int
    start_device: float
    end_device: float
    a: float
    b: float
    n_edges: int
    rms_residual: float  # s: distance of fitted edges outside their sample intervals
    max_residual: float
    bound: float  # s: half-width of the offsets consistent with all edges (NaN: not trigger)
    method: str  # trigger | trigger_midpoint | trigger_fixed_rate | lsl_offsets | host_time



def clock_runs(device: np.ndarray, host: np.ndarray, reset_jump: float = RESET_JUMP_S,
               long_gap: float = LONG_GAP_S) -> tuple[list[tuple[int, int]], list[str]]:
    """Split rows at clock resets and long gaps: [start, end) runs and what ended each one.

    A reset: device time goes back by more than reset_jump, or forward by more than
    reset_jump beyond the host time that passed. A long gap: device time advances by more than
    long_gap (an outage; the clock itself may have kept running).
    """
    n = len(device)
    if n == 0:
        return [], []
    dd = np.diff(device)
    dh = np.diff(host)
    reset = (dd < -reset_jump) | ((dd > reset_jump) & (np.abs(dd - dh) > reset_jump))
    gap = (dd > long_gap) & ~reset
    cuts = np.flatnonzero(reset | gap) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [n]))
    kinds = ["reset" if reset[c - 1] else "gap" for c in cuts] + ["end"]
    return list(zip(starts.tolist(), ends.tolist(), strict=True)), kinds


def jump_splits(r: np.ndarray, y: np.ndarray, thresh: float, m: int = 3) -> list[int]:
    """Positions i where r (device minus reference time) steps and stays stepped: a reset.

    r may wander by MAX_DRIFT x elapsed time plus thresh; a lone outlier (a wrong pairing) is
    not a step because the median of the next m values does not follow it.
    """
    n = len(r)
    found: list[int] = []
    i = 2
    while i <= n - 2:
        left = r[max(0, i - m):i]
        right = r[i:i + m]
        allow = thresh + MAX_DRIFT * (y[min(n - 1, i + m - 1)] - y[max(0, i - m)])
        step = float(np.median(right) - np.median(left))
        if abs(step) > allow and abs(r[i] - np.median(left)) > allow:
            found.append(i)
            i += m
        else:
            i += 1
    return found


def split_at_edge_steps(start: int, end: int, edges: Edges, dev: np.ndarray, y: np.ndarray,
               device: np.ndarray, period: float) -> list[tuple[int, int]]:
    """Split a run where its coarse pairs step (a reset too small for clock_runs to see)."""
    inside = (edges.row[dev] >= start) & (edges.row[dev] < end)
    d, yy = dev[inside], y[inside]
    if len(d) < 5:
        return [(start, end)]
    width = float(np.median(edges.hi[d] - edges.lo[d]))
    splits = jump_splits(edges.mid[d] - yy, yy, max(0.005, 10 * width))
    bounds = [start]
    for i in splits:
        a, b = int(edges.row[d[i - 1]]), int(edges.row[d[i]])
        steps = np.abs(np.diff(device[a:b + 1]) - period)
        cut = a + 1 + int(np.argmax(steps)) if len(steps) and steps.max() > 0.25 * period else (
            (a + b + 1) // 2)
        bounds.append(cut)
    bounds.append(end)
    return list(itertools.pairwise(bounds))
