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
from recordings.sync.matching import BoxEdges, EdgePairs

MAX_DRIFT = 3e-4  # |rate - 1| allowed for any clock (crystals: ±100 ppm; 3x margin)
RESET_JUMP_S = 0.5  # a device-time jump this much beyond elapsed host time is a clock reset
LONG_GAP_S = 10.0  # a stretch without samples this long splits a clock segment


@dataclass(frozen=True)
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
               long_gap: float = LONG_GAP_S) -> list[tuple[int, int]]:
    """Rows split at clock resets and long gaps: [start, end) runs.

    A reset: device time goes back by more than reset_jump, or forward by more than
    reset_jump beyond the host time that passed. A long gap: device time advances by more than
    long_gap (an outage; the clock itself may have kept running).
    """
    n = len(device)
    if n == 0:
        return []
    device_step = np.diff(device)
    host_step = np.diff(host)
    reset = (device_step < -reset_jump) | (
        (device_step > reset_jump) & (np.abs(device_step - host_step) > reset_jump))
    gap = device_step > long_gap
    cuts = np.flatnonzero(reset | gap) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [n]))
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def jump_splits(offsets: np.ndarray, box_times: np.ndarray, threshold: float,
                window: int = 3) -> list[int]:
    """Positions i where offsets (device minus box time) step and stay stepped: a reset.

    The offsets may wander by MAX_DRIFT x elapsed time plus threshold; a lone outlier (a wrong
    pairing) is not a step because the median of the next `window` values does not follow it.
    """
    n = len(offsets)
    found: list[int] = []
    i = 2
    while i <= n - 2:
        before = np.median(offsets[max(0, i - window):i])
        after = np.median(offsets[i:i + window])
        elapsed = box_times[min(n - 1, i + window - 1)] - box_times[max(0, i - window)]
        allow = threshold + MAX_DRIFT * elapsed
        if abs(float(after - before)) > allow and abs(offsets[i] - before) > allow:
            found.append(i)
            i += window
        else:
            i += 1
    return found


def split_at_edge_steps(start: int, end: int, edges: Edges, pairs: EdgePairs, box: BoxEdges,
                        device_time: np.ndarray, period: float) -> list[tuple[int, int]]:
    """Rows [start, end) split where the coarse pairs step (a reset too small for clock_runs).

    A step needs 5 pairs in the run to be seen; it must exceed max(5 ms, 10 sample intervals).
    """
    paired_rows = edges.row[pairs.device]
    in_run = pairs.select((paired_rows >= start) & (paired_rows < end))
    if len(in_run.device) < 5:
        return [(start, end)]
    paired = in_run.device
    box_times = box.times[in_run.box]
    width = float(np.median(edges.hi[paired] - edges.lo[paired]))
    steps = jump_splits(edges.mid[paired] - box_times, box_times, max(0.005, 10 * width))
    cuts = [_cut_between(int(edges.row[paired[i - 1]]), int(edges.row[paired[i]]), device_time,
                         period) for i in steps]
    return list(itertools.pairwise([start, *cuts, end]))


def _cut_between(before: int, after: int, device_time: np.ndarray, period: float) -> int:
    """The row between two edges' rows where the clock stepped (the most irregular stamp step).

    Halfway if the stamps are regular there. Edge rows strictly increase, so there is at
    least one step.
    """
    steps = np.abs(np.diff(device_time[before:after + 1]) - period)
    if steps.max() > 0.25 * period:
        return before + 1 + int(np.argmax(steps))
    return (before + after + 1) // 2
