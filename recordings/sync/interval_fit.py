"""The fit of one clock segment: the line that meets every edge's device-time interval.

interval_fit works in steps (docs/sync.md, "The fit: intervals, not points"):

1. _consistent: a linear program finds the least total violation; intervals it cannot meet
   are outliers;
2. _deepest_line: a second linear program finds a strictly interior line (largest margin);
3. _centroid_fit: the centroid of the polygon of lines that meet every kept interval
   (_polygon), narrowed to a rate prior where the edges leave the rate open
   (_narrowed_by_prior); at a fixed rate, _fixed_rate_fit takes the middle of the feasible
   intercepts.

When the intervals are not trustworthy, _midpoint_fit fits their midpoints instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, HalfspaceIntersection, QhullError

from recordings.sync.clock_segments import MAX_DRIFT
from recordings.sync.robust_fit import huber_line, robust_scale

SLACK_MS = 0.01  # a violation this small (10 µs) is rounding, not an outlier
MIN_KEPT_FRACTION = 0.8  # fewer consistent intervals: the device adds jitter of its own
MIN_MARGIN_MS = 1e-9  # a thinner feasible set has no usable interior


@dataclass(frozen=True)
class IntervalFit:
    """device = alpha + beta * reference, and how well the edge intervals pin it down."""

    alpha: float
    beta: float
    kept: np.ndarray  # bool per constraint: consistent with the others
    # s: the largest error a line meeting every kept interval could make within their span
    # (midpoint method: the standard error of the mean residual)
    bound: float
    method: str  # interval | midpoint


@dataclass(frozen=True)
class _Intervals:
    """Constraints lo < a + g * u <= hi in ms, u = the reference time scaled to [-1, 1]."""

    lo: np.ndarray
    hi: np.ndarray
    u: np.ndarray

    def select(self, mask: np.ndarray) -> _Intervals:
        """The intervals where mask is True."""
        return _Intervals(self.lo[mask], self.hi[mask], self.u[mask])


@dataclass(frozen=True)
class _Scale:
    """How (a, g) in ms maps back to alpha, beta: the solver works on well-scaled numbers."""

    offset: float  # s: median of device minus (reference - centre) time
    centre: float  # s: mean reference time
    half_span: float  # s: half the reference times' span, at least 1
    slope_bounds: tuple[float, float]  # range of g; equal bounds: the rate is fixed

    def to_fit(self, a: float, g: float, kept: np.ndarray, bound_ms: float, method: str
               ) -> IntervalFit:
        """The fit of the line (a, g)."""
        beta = 1.0 + g / (self.half_span * 1e3)
        alpha = self.offset + a / 1e3 - beta * self.centre
        return IntervalFit(alpha, beta, kept, bound_ms / 1e3, method)


@dataclass(frozen=True)
class _InteriorLine:
    """A line a + g * u strictly inside the intervals, margin ms from the nearest bound."""

    a: float
    g: float
    margin: float


@dataclass(frozen=True)
class _Polygon:
    """The set of lines (a, g) that meet every interval: its centroid and its vertices."""

    a: float
    g: float
    vertices: np.ndarray  # (k, 2) [a, g], counter-clockwise


def interval_fit(lo: np.ndarray, hi: np.ndarray, y: np.ndarray, slope: float | None = None,
                 rate_prior: tuple[float, float] | None = None) -> IntervalFit:
    """The line best inside every edge interval: lo_i < alpha + beta * y_i <= hi_i.

    slope fixes beta (short segments); rate_prior (a beta range, e.g. from host receipt
    times) narrows the slopes when the edges leave them wider and agree with it. If more than
    a fifth of the intervals cannot be met, the intervals are not trustworthy (the device adds
    its own jitter) and a Huber fit of the midpoints is returned instead.
    """
    scale, intervals = _scaled(lo, hi, y, slope)
    kept = _consistent(intervals, scale.slope_bounds)
    if kept is None:
        return _midpoint_fit(scale, intervals)
    inner = intervals.select(kept)
    interior = _deepest_line(inner, scale.slope_bounds)
    if interior is None:
        return _midpoint_fit(scale, intervals)
    if scale.slope_bounds[0] == scale.slope_bounds[1]:
        return _fixed_rate_fit(scale, inner, kept, interior.g)
    return _centroid_fit(scale, inner, kept, interior, rate_prior)


def _scaled(lo: np.ndarray, hi: np.ndarray, y: np.ndarray, slope: float | None
            ) -> tuple[_Scale, _Intervals]:
    """The intervals in ms around the median offset, the reference times scaled to [-1, 1]."""
    lo = np.asarray(lo, np.float64)
    hi = np.asarray(hi, np.float64)
    y = np.asarray(y, np.float64)
    centre = float(np.mean(y))
    half_span = max(float(np.ptp(y)) / 2, 1.0)
    base = y - centre
    offset = float(np.median((lo + hi) / 2 - base))
    intervals = _Intervals((lo - base - offset) * 1e3, (hi - base - offset) * 1e3,
                           (y - centre) / half_span)
    if slope is None:
        bounds = (-MAX_DRIFT * half_span * 1e3, MAX_DRIFT * half_span * 1e3)
    else:
        fixed = (slope - 1.0) * half_span * 1e3
        bounds = (fixed, fixed)
    return _Scale(offset, centre, half_span, bounds), intervals


def _consistent(intervals: _Intervals, slope_bounds: tuple[float, float]) -> np.ndarray | None:
    """Intervals the least-violation line meets; None if too few (or the solver failed)."""
    n = len(intervals.u)
    # x = [a, g, violation_1..violation_n]; minimise the total violation.
    eye = sp.identity(n, format="csr")
    line = sp.csr_matrix(np.column_stack((np.ones(n), intervals.u)))
    constraints = sp.vstack([sp.hstack([-line, -eye]), sp.hstack([line, -eye])], format="csr")
    limits = np.concatenate((-intervals.lo, intervals.hi))
    cost = np.concatenate(([0.0, 0.0], np.ones(n)))
    bounds = [(None, None), slope_bounds] + [(0, None)] * n
    result = linprog(cost, A_ub=constraints, b_ub=limits, bounds=bounds, method="highs")
    if result.status != 0:
        return None
    kept = result.x[2:] <= SLACK_MS
    return kept if kept.sum() >= max(1, MIN_KEPT_FRACTION * n) else None


def _deepest_line(intervals: _Intervals, slope_bounds: tuple[float, float]) -> _InteriorLine | None:
    """The line with the largest margin inside every interval; None if the solver failed."""
    ones = np.ones(len(intervals.u))
    # x = [a, g, margin]; maximise the margin.
    constraints = sp.csr_matrix(np.vstack([np.column_stack((-ones, -intervals.u, ones)),
                                           np.column_stack((ones, intervals.u, ones))]))
    limits = np.concatenate((-intervals.lo, intervals.hi))
    result = linprog([0.0, 0.0, -1.0], A_ub=constraints, b_ub=limits,
                     bounds=[(None, None), slope_bounds, (None, None)], method="highs")
    if result.status != 0:
        return None
    return _InteriorLine(*(float(v) for v in result.x))


def _fixed_rate_fit(scale: _Scale, inner: _Intervals, kept: np.ndarray, g: float
                    ) -> IntervalFit:
    """At a fixed rate: the middle of the intercepts that meet every kept interval."""
    low, high = np.max(inner.lo - g * inner.u), np.min(inner.hi - g * inner.u)
    return scale.to_fit((low + high) / 2, g, kept, max(float(high - low), 0.0) / 2, "interval")


def _centroid_fit(scale: _Scale, inner: _Intervals, kept: np.ndarray, interior: _InteriorLine,
                  rate_prior: tuple[float, float] | None) -> IntervalFit:
    """The centroid of the lines that meet every kept interval, and their largest error.

    Each interval is the support of a uniform quantization error, so the centroid is the
    posterior mean under a flat prior; the bound is the largest error any of these lines
    would make anywhere within the span of the edges (u = -1 or 1).
    """
    polygon = (_polygon(inner, scale.slope_bounds, interior)
               if interior.margin > MIN_MARGIN_MS else None)
    if polygon is None:
        return scale.to_fit(interior.a, interior.g, kept, interior.margin, "interval")
    if rate_prior is not None:
        polygon = _narrowed_by_prior(scale, inner, polygon, rate_prior)
    error = np.abs(polygon.vertices[:, :1] - polygon.a
                   + np.outer(polygon.vertices[:, 1] - polygon.g, [-1.0, 1.0]))
    return scale.to_fit(polygon.a, polygon.g, kept, float(error.max()), "interval")


def _narrowed_by_prior(scale: _Scale, inner: _Intervals, polygon: _Polygon,
                       rate_prior: tuple[float, float]) -> _Polygon:
    """The polygon cut to the prior's rates, where the edges leave the rate open and agree."""
    width = float(np.ptp(polygon.vertices[:, 1])) / (scale.half_span * 1e3)
    low = max(scale.slope_bounds[0], (rate_prior[0] - 1.0) * scale.half_span * 1e3)
    high = min(scale.slope_bounds[1], (rate_prior[1] - 1.0) * scale.half_span * 1e3)
    if not (width > 2 * (rate_prior[1] - rate_prior[0]) and low < high):
        return polygon
    interior = _deepest_line(inner, (low, high))
    if interior is None or not interior.margin > MIN_MARGIN_MS:
        return polygon
    narrowed = _polygon(inner, (low, high), interior)
    return narrowed if narrowed is not None else polygon


def _polygon(intervals: _Intervals, slope_bounds: tuple[float, float], interior: _InteriorLine
             ) -> _Polygon | None:
    """{(a, g): lo <= a + g*u <= hi, g in slope_bounds} around an interior line; None if flat."""
    ones = np.ones(len(intervals.u))
    halfspaces = np.vstack([
        np.column_stack((-ones, -intervals.u, intervals.lo)),
        np.column_stack((ones, intervals.u, -intervals.hi)),
        [[0.0, 1.0, -slope_bounds[1]], [0.0, -1.0, slope_bounds[0]]],
    ])
    try:
        intersection = HalfspaceIntersection(
            halfspaces, np.array((interior.a, interior.g), dtype=np.float64))
        hull = ConvexHull(intersection.intersections)
    except (QhullError, ValueError):
        return None
    vertices = intersection.intersections[hull.vertices]  # counter-clockwise in 2-D
    a, g = vertices[:, 0], vertices[:, 1]
    a_next, g_next = np.roll(a, -1), np.roll(g, -1)
    cross = a * g_next - a_next * g
    area = cross.sum() / 2
    if abs(area) < 1e-18:
        return None
    return _Polygon(float(((a + a_next) * cross).sum() / (6 * area)),
                    float(((g + g_next) * cross).sum() / (6 * area)), vertices)


def _midpoint_fit(scale: _Scale, intervals: _Intervals) -> IntervalFit:
    """A Huber line through the interval midpoints, refitted without the far-off ones."""
    lo, hi, u = intervals.lo, intervals.hi, intervals.u
    mid = (lo + hi) / 2
    width = float(np.median(hi - lo))
    delta = max(0.05, width / 4)
    low, high = scale.slope_bounds
    fixed = low if low == high else None
    a, g = huber_line(u, mid, delta, slope=fixed)
    g = float(np.clip(g, low, high))
    residual = mid - a - g * u
    kept = np.abs(residual) <= max(5 * robust_scale(residual, 1e-3), width)
    a, g = huber_line(u[kept], mid[kept], delta, slope=fixed)
    g = float(np.clip(g, low, high))
    residual = (mid - a - g * u)[kept]
    standard_error = np.sqrt(np.mean(residual**2)) / np.sqrt(max(len(residual), 1))
    return scale.to_fit(a, g, kept, float(standard_error), "midpoint")
