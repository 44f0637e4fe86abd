"""The fit of one clock segment: the line that meets every edge's device-time interval.

See docs/sync.md, "The fit: intervals, not points".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, HalfspaceIntersection, QhullError

from recordings.sync.clock_segments import MAX_DRIFT
from recordings.sync.robust_fit import huber_line, robust_scale


@dataclass
class IntervalFit:
    """device = alpha + beta * reference, and how well the edge intervals pin it down."""

    alpha: float
    beta: float
    kept: np.ndarray  # bool per constraint: consistent with the others
    bound: float  # half-width (s) of the intercepts consistent with every kept interval
    method: str  # interval | midpoint


def interval_fit(lo: np.ndarray, hi: np.ndarray, y: np.ndarray, slope: float | None = None,
                 max_drift: float = MAX_DRIFT,
                 rate_prior: tuple[float, float] | None = None) -> IntervalFit:
    """The line best inside every edge interval: lo_i < alpha + beta * y_i <= hi_i.

    Stage 1 (linear program) finds the least total violation and drops intervals that cannot
    be met (outliers); stage 2 finds a strictly interior line (largest margin); stage 3 returns
    the centroid of the set of lines that meet every remaining interval. slope fixes beta
    (short segments); rate_prior (a beta range, e.g. from host receipt times) narrows the
    slopes when the edges leave them wider and agree with it. If more than a fifth of the
    intervals had to be dropped, the intervals are not trustworthy (the device adds its own
    jitter) and a Huber fit of the midpoints is returned instead.
    """
    lo = np.asarray(lo, np.float64)
    hi = np.asarray(hi, np.float64)
    y = np.asarray(y, np.float64)
    n = len(y)
    yc = float(np.mean(y))
    span = max(float(np.ptp(y)) / 2, 1.0)
    u = (y - yc) / span
    base = y - yc
    mid = (lo + hi) / 2
    d0 = float(np.median(mid - base))
    L = (lo - base - d0) * 1e3  # ms: well-scaled numbers for the solver
    H = (hi - base - d0) * 1e3
    if slope is None:
        g_bounds = (-max_drift * span * 1e3, max_drift * span * 1e3)
    else:
        g0 = (slope - 1.0) * span * 1e3
        g_bounds = (g0, g0)

    def result(a: float, g: float, kept: np.ndarray, method: str) -> IntervalFit:
        beta = 1.0 + g / (span * 1e3)
        alpha = d0 + a / 1e3 - beta * yc
        room = (np.min(H[kept] - g * u[kept]) - np.max(L[kept] - g * u[kept])) / 2
        return IntervalFit(alpha, beta, kept, max(float(room), 0.0) / 1e3, method)

    # Stage 1: least total violation; x = [a, g, xi_1..xi_n].
    eye = sp.identity(n, format="csr")
    col = sp.csr_matrix(np.column_stack((np.ones(n), u)))
    A1 = sp.vstack([sp.hstack([-col, -eye]), sp.hstack([col, -eye])], format="csr")
    b1 = np.concatenate((-L, H))
    c1 = np.concatenate(([0.0, 0.0], np.ones(n)))
    bounds1 = [(None, None), g_bounds] + [(0, None)] * n
    res1 = linprog(c1, A_ub=A1, b_ub=b1, bounds=bounds1, method="highs")
    if res1.status != 0:
        return _midpoint_fit(L, H, u, d0, yc, span, g_bounds, result)
    kept = res1.x[2:] <= 0.01  # 10 µs of slack for rounding
    if kept.sum() < max(1, 0.8 * n):
        return _midpoint_fit(L, H, u, d0, yc, span, g_bounds, result)
    # Stage 2: a strictly interior point (largest margin m); x = [a, g, m].
    Lk, Hk, uk = L[kept], H[kept], u[kept]
    k = len(uk)
    ones = np.ones(k)
    A2 = sp.csr_matrix(np.vstack([np.column_stack((-ones, -uk, ones)),
                                  np.column_stack((ones, uk, ones))]))
    b2 = np.concatenate((-Lk, Hk))

    def deepest(gb: tuple[float, float]) -> Any:
        return linprog([0.0, 0.0, -1.0], A_ub=A2, b_ub=b2,
                       bounds=[(None, None), gb, (None, None)], method="highs")

    res2 = deepest(g_bounds)
    if res2.status != 0:
        return _midpoint_fit(L, H, u, d0, yc, span, g_bounds, result)
    a, g, margin = (float(v) for v in res2.x)
    fit = result(a, g, kept, "interval")
    if g_bounds[0] == g_bounds[1]:  # fixed rate: the middle of the feasible intercepts
        low, high = np.max(Lk - g * uk), np.min(Hk - g * uk)
        fit = result((low + high) / 2, g, kept, "interval")
        fit.bound = max(float(high - low), 0.0) / 2e3
        return fit
    # Stage 3: the centroid of the feasible set (the mean under a flat prior, since each
    # interval is the support of a uniform quantization error); bound = the largest error any
    # feasible line would make anywhere within the span of the edges.
    centre = _polygon_centroid(Lk, Hk, uk, g_bounds, (a, g)) if margin > 1e-9 else None
    if centre is None:
        fit.bound = margin / 1e3
        return fit
    if rate_prior is not None:
        # The edges leave the rate open (few edges, short span): a rate from elsewhere narrows
        # it, where the edges agree with it.
        width = float(np.ptp(centre[1][:, 1])) / (span * 1e3)
        lo_g = max(g_bounds[0], (rate_prior[0] - 1.0) * span * 1e3)
        hi_g = min(g_bounds[1], (rate_prior[1] - 1.0) * span * 1e3)
        if width > 2 * (rate_prior[1] - rate_prior[0]) and lo_g < hi_g:
            narrowed = deepest((lo_g, hi_g))
            if narrowed.status == 0 and narrowed.x[2] > 1e-9:
                better = _polygon_centroid(Lk, Hk, uk, (lo_g, hi_g),
                                           (float(narrowed.x[0]), float(narrowed.x[1])))
                centre = better or centre
    (ac, gc), vertices = centre
    fit = result(ac, gc, kept, "interval")
    dev = np.abs(vertices[:, :1] - ac + np.outer(vertices[:, 1] - gc, [-1.0, 1.0]))
    fit.bound = float(dev.max()) / 1e3
    return fit


def _polygon_centroid(L: np.ndarray, H: np.ndarray, u: np.ndarray,
                      g_bounds: tuple[float, float], interior: tuple[float, float],
                      ) -> tuple[tuple[float, float], np.ndarray] | None:
    """Centroid and vertices of {(a, g): L <= a + g*u <= H, g in g_bounds}; None if degenerate."""
    ones = np.ones(len(u))
    halfspaces = np.vstack([
        np.column_stack((-ones, -u, L)),
        np.column_stack((ones, u, -H)),
        [[0.0, 1.0, -g_bounds[1]], [0.0, -1.0, g_bounds[0]]],
    ])
    try:
        hs = HalfspaceIntersection(halfspaces, np.array(interior, dtype=np.float64))
        hull = ConvexHull(hs.intersections)
    except (QhullError, ValueError):
        return None
    pts = hs.intersections[hull.vertices]  # counter-clockwise in 2-D
    x, y = pts[:, 0], pts[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    area = cross.sum() / 2
    if abs(area) < 1e-18:
        return None
    cx = float(((x + xn) * cross).sum() / (6 * area))
    cy = float(((y + yn) * cross).sum() / (6 * area))
    return (cx, cy), pts


def _midpoint_fit(L: np.ndarray, H: np.ndarray, u: np.ndarray, d0: float, yc: float,
                  span: float, g_bounds: tuple[float, float],
                  result: Callable[[float, float, np.ndarray, str], IntervalFit],
                  ) -> IntervalFit:
    mid = (L + H) / 2
    fixed = g_bounds[0] if g_bounds[0] == g_bounds[1] else None
    a, g = huber_line(u, mid, max(0.05, float(np.median(H - L)) / 4), slope=fixed)
    g = float(np.clip(g, *g_bounds))
    r = mid - a - g * u
    kept = np.abs(r) <= max(5 * robust_scale(r, 1e-3), float(np.median(H - L)))
    a, g = huber_line(u[kept], mid[kept], max(0.05, float(np.median(H - L)) / 4),
                      slope=g if fixed is not None else None)
    g = float(np.clip(g, *g_bounds))
    fit = result(a, g, kept, "midpoint")
    resid = (mid - a - g * u)[kept]
    fit.bound = float(np.sqrt(np.mean(resid**2)) / np.sqrt(max(len(resid), 1))) / 1e3
    return fit
