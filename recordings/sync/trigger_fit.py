"""A device's clock on the session clock from its trigger edges (docs/sync.md, sections 3-5).

fit_trigger pairs the device's edges with the box's (matching.py), splits its clock runs
where the pairs step (clock_segments.py), fits each piece (interval_fit.py) and assembles the
per-segment maps and per-edge matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recordings.sync.clock_segments import MAX_DRIFT, SegmentFit, split_at_edge_steps
from recordings.sync.edges import Edges
from recordings.sync.interval_fit import interval_fit
from recordings.sync.matching import BoxEdges, CodeTest, coarse_lag, coarse_pairs, fine_pairs
from recordings.sync.robust_fit import huber_line, robust_scale, theil_sen

MIN_DRIFT_SPAN_S = 2.0  # shorter segments take their rate from elsewhere (see fit_trigger)
# Edges spanning less than this: host receipt times narrow the device clock's rate to
# +-HOST_RATE_TOLERANCE when the edges allow it (a short recording has few edges).
HOST_RATE_SPAN_S = 60.0
HOST_RATE_TOLERANCE = 5e-5


@dataclass
class EdgeMatch:
    """Per device edge: the box edge it was matched to and how the fit placed it."""

    ref: np.ndarray  # int64 box-log row, -1 when unmatched
    segment: np.ndarray  # int64 index into the stream's segments, -1 when unmatched
    residual: np.ndarray  # s, NaN when unmatched
    used: np.ndarray  # bool: matched and kept by the fit


@dataclass
class TriggerFit:
    """Everything the trigger method found for one device."""

    segments: list[SegmentFit]
    matches: EdgeMatch
    lag: float  # host receipt delay of the device's edges (s)
    uncovered: list[tuple[int, int]]  # row ranges no trigger fit covers


def host_rate(device: np.ndarray, host: np.ndarray, start: int, end: int) -> float:
    """Session seconds per device second from host receipt times (robust; rows [start, end))."""
    idx = np.unique(np.linspace(start, end - 1, min(end - start, 20000)).astype(np.int64))
    _, rate = huber_line(device[idx], host[idx], 2e-3)
    return rate if abs(rate - 1.0) < MAX_DRIFT else 1.0


def fit_trigger(edges: Edges, ref_t: np.ndarray, ref_code: np.ndarray, compatible: CodeTest,
                device: np.ndarray, host: np.ndarray, runs: list[tuple[int, int]],
                period: float, pulse_width: float | None = None) -> TriggerFit:
    """Match a device's edges to box edges and fit session = a + b * device per clock segment.

    ref_t: session time of every box-log edge (NaN where unknown); ref_code: their codes.
    pulse_width (s): when given, falling edges add a second interval per pulse.
    """
    n_edges = len(edges)
    match = EdgeMatch(np.full(n_edges, -1, np.int64), np.full(n_edges, -1, np.int64),
                      np.full(n_edges, np.nan), np.zeros(n_edges, bool))
    valid = np.isfinite(ref_t)
    box = BoxEdges.known(ref_t, ref_code)
    ref_t = box.times
    if n_edges == 0 or not valid.any():
        return TriggerFit([], match, float("nan"), list(runs))
    delivery = coarse_lag(edges, box, compatible)
    lag, spread = delivery.delay, delivery.spread
    if not np.isfinite(lag):
        return TriggerFit([], match, lag, list(runs))
    tol = float(np.clip(6 * spread, 0.02, 0.3))
    coarse = coarse_pairs(edges, box, compatible, lag, tol)
    dev, ref = coarse.device, coarse.box
    pieces = []
    for start, end in runs:
        pieces += split_at_edge_steps(start, end, edges, dev, ref_t[ref], device, period)
    segments: list[SegmentFit] = []
    uncovered: list[tuple[int, int]] = []
    pending = []
    for start, end in pieces:
        inside = (edges.row >= start) & (edges.row < end)
        sel = np.flatnonzero(inside)
        cd = (edges.row[dev] >= start) & (edges.row[dev] < end)
        if len(np.unique(ref[cd])) < 1:
            uncovered.append((start, end))
            continue
        pending.append((start, end, sel, dev[cd], ref[cd]))
    # Clock rates measured on long segments serve short ones of the same device.
    rates: list[float] = []
    results = []
    for start, end, sel, cdev, cref in sorted(
            pending, key=lambda p: -np.ptp(ref_t[p[4]]) if len(p[4]) else 0):
        yy = ref_t[cref]
        free = len(np.unique(cref)) >= 3 and np.ptp(yy) >= MIN_DRIFT_SPAN_S
        slope0 = None if free else (float(np.median(rates)) if rates else 1.0)
        if free:
            a0, b0 = theil_sen(yy, edges.mid[cdev])
        else:
            b0 = slope0 if slope0 is not None else 1.0
            a0 = float(np.median(edges.mid[cdev] - b0 * yy))
        r0 = edges.mid[cdev] - (a0 + b0 * yy)
        width = float(np.median(edges.hi[sel] - edges.lo[sel]))
        ftol = float(np.clip(max(1.5 * width, 6 * robust_scale(r0)), 5e-4, 9e-3))
        sub = edges.take(sel)
        fine = fine_pairs(sub, box, compatible, a0, b0, ftol)
        fdev, fref = fine.device, fine.box
        if len(fdev) == 0:
            uncovered.append((start, end))
            continue
        idx = sel[fdev]
        lo, hi, yv = edges.lo[idx], edges.hi[idx], ref_t[fref]
        owner = np.arange(len(idx))
        if pulse_width is not None:
            has = np.isfinite(edges.fall_lo[idx])
            shift = b0 * pulse_width
            lo = np.concatenate((lo, edges.fall_lo[idx][has] - shift))
            hi = np.concatenate((hi, edges.fall_hi[idx][has] - shift))
            yv = np.concatenate((yv, yv[: len(idx)][has]))
            owner = np.concatenate((owner, owner[has]))
        prior = None
        if free and np.ptp(yv) < HOST_RATE_SPAN_S:
            beta_h = 1.0 / host_rate(device, host, start, end)
            prior = (beta_h - HOST_RATE_TOLERANCE, beta_h + HOST_RATE_TOLERANCE)
        fit = interval_fit(lo, hi, yv, slope=slope0, rate_prior=prior)
        if free:
            rates.append(fit.beta)
        kept_edge = np.zeros(len(idx), bool)
        np.logical_or.at(kept_edge, owner, fit.kept)
        bad = np.zeros(len(idx), bool)
        np.logical_or.at(bad, owner, ~fit.kept)
        kept_edge &= ~bad
        results.append((start, end, idx, fref, fit, kept_edge, free))
    for start, end, idx, fref, fit, kept_edge, free in sorted(results, key=lambda r: r[0]):
        b = 1.0 / fit.beta
        a = -fit.alpha / fit.beta
        # Residual: from the reference time to the nearest point of the edge's fitted
        # interval (0 when the reference lies inside it, as it should).
        y_ref = ref_t[fref]
        outside = np.clip(y_ref, a + b * edges.lo[idx], a + b * edges.hi[idx]) - y_ref
        k = len(segments)
        match.ref[idx] = fref
        match.segment[idx] = k
        match.residual[idx] = outside
        match.used[idx] = kept_edge
        used = outside[kept_edge]
        method = "trigger" if fit.method == "interval" else "trigger_midpoint"
        if not free:
            method = "trigger_fixed_rate"
        segments.append(SegmentFit(
            start, end, float(device[start]), float(device[end - 1]), a, b,
            int(kept_edge.sum()), float(np.sqrt(np.mean(used**2))) if len(used) else 0.0,
            float(np.max(np.abs(used))) if len(used) else 0.0, fit.bound * b, method))
    return TriggerFit(segments, match, lag, sorted(uncovered))
