"""A device's clock on the session clock from its trigger edges (docs/sync.md, sections 3-5).

fit_trigger works like pyxdf's clock synchronization (segment the clock, fit each segment,
apply), with edges instead of clock offsets:

1. pair: the device's delivery delay and coarse pairs by host receipt time (matching.py);
2. segment: its clock runs, split where the pairs step (clock_segments.py), are the pieces;
3. fit each piece (_fit_piece): a first line through its coarse pairs, fine pairs by device
   time, then the interval fit of their sample intervals (interval_fit.py); the pieces with
   the longest span go first, so that short ones can take their clock rate;
4. assemble (_assemble): per piece a SegmentFit (session = a + b * device), per edge its match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recordings.sync.clock_segments import MAX_DRIFT, SegmentFit, split_at_edge_steps
from recordings.sync.edges import Edges
from recordings.sync.interval_fit import IntervalFit, interval_fit
from recordings.sync.matching import (
    BoxEdges,
    CodeTest,
    EdgePairs,
    coarse_lag,
    coarse_pairs,
    fine_pairs,
)
from recordings.sync.robust_fit import huber_line, robust_scale, theil_sen

MIN_DRIFT_SPAN_S = 2.0  # shorter segments take their rate from elsewhere (see _fit_pieces)
# Edges spanning less than this: host receipt times narrow the device clock's rate to
# +-HOST_RATE_TOLERANCE when the edges allow it (a short recording has few edges).
HOST_RATE_SPAN_S = 60.0
HOST_RATE_TOLERANCE = 5e-5


@dataclass(frozen=True)
class EdgeMatch:
    """Per device edge: the box edge it was matched to and how the fit placed it."""

    ref: np.ndarray  # int64 box-log row, -1 when unmatched
    segment: np.ndarray  # int64 index into the stream's segments, -1 when unmatched
    residual: np.ndarray  # s, NaN when unmatched
    used: np.ndarray  # bool: matched and kept by the fit

    @classmethod
    def unmatched(cls, n_edges: int) -> EdgeMatch:
        """n edges, none matched yet."""
        return cls(np.full(n_edges, -1, np.int64), np.full(n_edges, -1, np.int64),
                   np.full(n_edges, np.nan), np.zeros(n_edges, bool))


@dataclass(frozen=True)
class TriggerFit:
    """Everything the trigger method found for one device."""

    segments: list[SegmentFit]
    matches: EdgeMatch
    lag: float  # host receipt delay of the device's edges (s)
    uncovered: list[tuple[int, int]]  # row ranges no trigger fit covers


@dataclass(frozen=True)
class _Device:
    """The device being fitted: its edges, which box codes it sees, its timestamps."""

    edges: Edges
    compatible: CodeTest
    device_time: np.ndarray  # per row
    host_time: np.ndarray  # per row
    pulse_width: float | None  # s: when given, falling edges add a second interval per pulse


@dataclass(frozen=True)
class _Piece:
    """Rows [start_row, end_row) on one clock, with the coarse pairs among their edges."""

    start_row: int
    end_row: int
    edges: np.ndarray  # int64 indices of the device edges in these rows
    coarse: EdgePairs


@dataclass(frozen=True)
class _Line:
    """device time ~ intercept + slope * box session time."""

    intercept: float
    slope: float


@dataclass(frozen=True)
class _EdgeIntervals:
    """Constraints lo < alpha + beta * box_time <= hi for the interval fit.

    One per rising edge and one per falling edge seen; owner: the fine pair each belongs to.
    """

    lo: np.ndarray
    hi: np.ndarray
    box_time: np.ndarray
    owner: np.ndarray


@dataclass(frozen=True)
class _PieceFit:
    """A fitted piece: its fine pairs, the interval fit, and which pairs the fit kept."""

    start_row: int
    end_row: int
    pairs: EdgePairs  # device: indices into all the device's edges
    fit: IntervalFit
    kept: np.ndarray  # bool per pair: every interval of the pair was consistent
    rate_free: bool  # False: the rate was taken from longer pieces (or 1)


def fit_trigger(edges: Edges, box_times: np.ndarray, box_codes: np.ndarray,
                compatible: CodeTest, device_time: np.ndarray, host_time: np.ndarray,
                runs: list[tuple[int, int]], period: float, pulse_width: float | None = None
                ) -> TriggerFit:
    """Match a device's edges to box edges and fit session = a + b * device per clock segment.

    box_times: session time of every box-log edge (NaN where unknown); box_codes: their codes.
    pulse_width (s): when given, falling edges add a second interval per pulse.
    """
    box = BoxEdges.known(box_times, box_codes)
    lag = coarse_lag(edges, box, compatible)
    if not np.isfinite(lag.delay):  # nothing voted: no edge could be paired
        return TriggerFit([], EdgeMatch.unmatched(len(edges)), lag.delay, list(runs))
    coarse = coarse_pairs(edges, box, compatible, lag.delay,
                          float(np.clip(6 * lag.spread, 0.02, 0.3)))
    device = _Device(edges, compatible, device_time, host_time, pulse_width)
    rows = [piece for start, end in runs
            for piece in split_at_edge_steps(start, end, edges, coarse, box, device_time, period)]
    pieces, unpaired = _pieces_with_pairs(rows, edges, coarse)
    fitted, unmatched = _fit_pieces(pieces, device, box)
    segments, matches = _assemble(fitted, device, box)
    return TriggerFit(segments, matches, lag.delay, sorted(unpaired + unmatched))


def _pieces_with_pairs(rows: list[tuple[int, int]], edges: Edges, coarse: EdgePairs
                       ) -> tuple[list[_Piece], list[tuple[int, int]]]:
    """The row ranges with coarse pairs, as pieces, and those without any."""
    pieces, unpaired = [], []
    paired_rows = edges.row[coarse.device]
    for start, end in rows:
        inside = (paired_rows >= start) & (paired_rows < end)
        if not inside.any():
            unpaired.append((start, end))
            continue
        in_rows = np.flatnonzero((edges.row >= start) & (edges.row < end))
        pieces.append(_Piece(start, end, in_rows, coarse.select(inside)))
    return pieces, unpaired


def _fit_pieces(pieces: list[_Piece], device: _Device, box: BoxEdges
                ) -> tuple[list[_PieceFit], list[tuple[int, int]]]:
    """Every piece fitted, and the row ranges of those no edge pairs finely in.

    Longest span of edges first: the clock rates measured there serve the short pieces of the
    same device (same crystal).
    """
    rates: list[float] = []
    fitted, unmatched = [], []
    for piece in sorted(pieces, key=lambda p: -np.ptp(box.times[p.coarse.box])):
        result = _fit_piece(piece, device, box, rates)
        if result is None:
            unmatched.append((piece.start_row, piece.end_row))
            continue
        if result.rate_free:
            rates.append(result.fit.beta)
        fitted.append(result)
    return fitted, unmatched


def _fit_piece(piece: _Piece, device: _Device, box: BoxEdges, rates: list[float]
               ) -> _PieceFit | None:
    """Fine pairs and the interval fit of one piece; None if no edge pairs finely."""
    coarse_times = box.times[piece.coarse.box]
    rate_free = bool(len(np.unique(piece.coarse.box)) >= 3
                     and np.ptp(coarse_times) >= MIN_DRIFT_SPAN_S)
    fixed_rate = None if rate_free else (float(np.median(rates)) if rates else 1.0)
    line = _first_line(device.edges.mid[piece.coarse.device], coarse_times, fixed_rate)
    pairs = _fine_pairs(piece, device, box, line)
    if len(pairs.device) == 0:
        return None
    intervals = _intervals(pairs, device, box, line.slope)
    prior = None
    if rate_free and np.ptp(intervals.box_time) < HOST_RATE_SPAN_S:
        beta = 1.0 / host_rate(device.device_time, device.host_time, piece.start_row,
                               piece.end_row)
        prior = (beta - HOST_RATE_TOLERANCE, beta + HOST_RATE_TOLERANCE)
    fit = interval_fit(intervals.lo, intervals.hi, intervals.box_time, slope=fixed_rate,
                       rate_prior=prior)
    # A pair is kept only if all its intervals are (every pair owns its rising edge's).
    dropped = np.zeros(len(pairs.device), bool)
    np.logical_or.at(dropped, intervals.owner, ~fit.kept)
    return _PieceFit(piece.start_row, piece.end_row, pairs, fit, ~dropped, rate_free)


def _first_line(device_mid: np.ndarray, box_times: np.ndarray, fixed_rate: float | None
                ) -> _Line:
    """A robust line through the coarse pairs: Theil-Sen, or the median offset at a fixed rate."""
    if fixed_rate is None:
        return _Line(*theil_sen(box_times, device_mid))
    return _Line(float(np.median(device_mid - fixed_rate * box_times)), fixed_rate)


def _fine_pairs(piece: _Piece, device: _Device, box: BoxEdges, line: _Line) -> EdgePairs:
    """The piece's edges paired by device time with the box edges the line predicts.

    Tolerance: max(1.5 edge intervals, 6x the coarse pairs' spread about the line), within
    0.5-9 ms (pulses are at least 20 ms apart).
    """
    edges = device.edges
    coarse_times = box.times[piece.coarse.box]
    spread = robust_scale(edges.mid[piece.coarse.device]
                          - (line.intercept + line.slope * coarse_times))
    width = float(np.median(edges.hi[piece.edges] - edges.lo[piece.edges]))
    tolerance = float(np.clip(max(1.5 * width, 6 * spread), 5e-4, 9e-3))
    pairs = fine_pairs(edges.take(piece.edges), box, device.compatible, line.intercept,
                       line.slope, tolerance)
    return EdgePairs(piece.edges[pairs.device], pairs.box)


def _intervals(pairs: EdgePairs, device: _Device, box: BoxEdges, slope: float) -> _EdgeIntervals:
    """The rising edges' intervals and, with a pulse width, the falling edges' moved back by it.

    A camera's falling edge (10 ms = 1.5 frames later) is half a frame out of phase with its
    rising edge and halves the uncertainty.
    """
    edges, index = device.edges, pairs.device
    lo, hi, box_time = edges.lo[index], edges.hi[index], box.times[pairs.box]
    owner = np.arange(len(index))
    if device.pulse_width is None:
        return _EdgeIntervals(lo, hi, box_time, owner)
    fell = np.isfinite(edges.fall_lo[index])
    shift = slope * device.pulse_width
    return _EdgeIntervals(np.concatenate((lo, edges.fall_lo[index][fell] - shift)),
                      np.concatenate((hi, edges.fall_hi[index][fell] - shift)),
                      np.concatenate((box_time, box_time[fell])),
                      np.concatenate((owner, owner[fell])))


def host_rate(device: np.ndarray, host: np.ndarray, start: int, end: int) -> float:
    """Session seconds per device second from host receipt times (robust; rows [start, end))."""
    idx = np.unique(np.linspace(start, end - 1, min(end - start, 20000)).astype(np.int64))
    _, rate = huber_line(device[idx], host[idx], 2e-3)
    return rate if abs(rate - 1.0) < MAX_DRIFT else 1.0


def _assemble(fitted: list[_PieceFit], device: _Device, box: BoxEdges
              ) -> tuple[list[SegmentFit], EdgeMatch]:
    """The pieces' maps in row order, and every edge's match, segment and residual."""
    matches = EdgeMatch.unmatched(len(device.edges))
    segments = []
    for index, piece in enumerate(sorted(fitted, key=lambda p: p.start_row)):
        segment, residual = _segment_fit(piece, device, box)
        matched = piece.pairs.device
        matches.ref[matched] = piece.pairs.box
        matches.segment[matched] = index
        matches.residual[matched] = residual
        matches.used[matched] = piece.kept
        segments.append(segment)
    return segments, matches


def _segment_fit(piece: _PieceFit, device: _Device, box: BoxEdges
                 ) -> tuple[SegmentFit, np.ndarray]:
    """session = a + b * device for the piece, and the residual of each of its pairs.

    Residual: from the box edge's session time to the nearest point of the edge's fitted
    interval (0 when it lies inside, as it should).
    """
    fit, edges, matched = piece.fit, device.edges, piece.pairs.device
    b = 1.0 / fit.beta
    a = -fit.alpha / fit.beta
    box_time = box.times[piece.pairs.box]
    residual = np.clip(box_time, a + b * edges.lo[matched], a + b * edges.hi[matched]) - box_time
    used = residual[piece.kept]
    if not piece.rate_free:
        method = "trigger_fixed_rate"
    else:
        method = "trigger" if fit.method == "interval" else "trigger_midpoint"
    start, end = piece.start_row, piece.end_row
    return SegmentFit(
        start, end, float(device.device_time[start]), float(device.device_time[end - 1]), a, b,
        int(piece.kept.sum()), float(np.sqrt(np.mean(used**2))) if len(used) else 0.0,
        float(np.max(np.abs(used))) if len(used) else 0.0, fit.bound * b, method), residual
