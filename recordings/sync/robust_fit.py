"""Robust lines and scales, shared by the fitting steps of the sync (docs/sync.md).

Huber regression by iteratively reweighted least squares (pyxdf's clock-offset fit), Theil-Sen
for a first line that ignores wrong pairs, the lower convex hull for a minimum-delay line, and
the MAD scale.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import theilslopes


def huber_line(x: np.ndarray, y: np.ndarray, delta: float, iters: int = 50,
               slope: float | None = None) -> tuple[float, float]:
    """y ~ a + b*x minimising the Huber loss with threshold delta (IRLS); slope fixed if given."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    centre = float(np.mean(x)) if len(x) else 0.0
    centred = x - centre  # a and b are solved at the centre: better conditioned
    weight = np.ones(len(x))
    a, b = float(np.median(y)) if len(y) else 0.0, 1.0 if slope is None else slope
    for _ in range(iters):
        if slope is None and len(x) > 1 and np.ptp(centred) > 0:
            root = np.sqrt(weight)
            design = np.column_stack((root, root * centred))
            a, b = (float(v) for v in np.linalg.lstsq(design, root * y, rcond=None)[0])
        else:
            b = 1.0 if slope is None else slope
            a = float(np.sum(weight * (y - b * centred)) / np.sum(weight))
        residual = np.abs(y - a - b * centred)
        new_weight = np.where(residual <= delta, 1.0, delta / np.maximum(residual, 1e-300))
        if np.allclose(new_weight, weight, rtol=0, atol=1e-9):
            break
        weight = new_weight
    return a - b * centre, b


def theil_sen(x: np.ndarray, y: np.ndarray, max_points: int = 800) -> tuple[float, float]:
    """Robust line y ~ a + b*x (Theil-Sen on at most max_points evenly spread points)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if len(x) > max_points:
        pick = np.linspace(0, len(x) - 1, max_points).round().astype(int)
        x, y = x[pick], y[pick]
    centre = float(np.median(x))
    if len(x) < 2 or np.ptp(x) == 0:
        return float(np.median(y)) - centre, 0.0
    b = float(theilslopes(y, x - centre)[0])
    return float(np.median(y - b * (x - centre))) - b * centre, b


def lower_hull_line(x: np.ndarray, y: np.ndarray, tolerance: float) -> tuple[float, float]:
    """y ~ a + b*x: the edge of the points' lower convex hull most points lie close above.

    No point lies below it; points far above it (late ones) do not move it, however many
    there are, unless they lie on one line themselves: the minimum-delay line of NTP-style
    filters. An edge's support is the number of points within `tolerance` above its line;
    of equal ones the edge nearest the median x wins. One point: a flat line through it.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    order = np.argsort(x, kind="stable")
    hull: list[int] = []
    for i in order:
        # Drop the last vertex while it lies on or above the segment to the new point.
        while len(hull) >= 2 and ((x[hull[-1]] - x[hull[-2]]) * (y[i] - y[hull[-2]])
                                  - (y[hull[-1]] - y[hull[-2]]) * (x[i] - x[hull[-2]])) <= 0:
            hull.pop()
        hull.append(int(i))
    if len(hull) < 2:
        return float(y[hull[0]]), 0.0
    left, right = np.array(hull[:-1]), np.array(hull[1:])
    slopes = (y[right] - y[left]) / (x[right] - x[left])
    intercepts = y[left] - slopes * x[left]
    above = y[None, :] - (intercepts[:, None] + slopes[:, None] * x[None, :])
    support = np.sum(above <= tolerance, axis=1)
    middle = np.median(x)
    distance = np.maximum(x[left] - middle, 0) + np.maximum(middle - x[right], 0)
    best = np.lexsort((distance, -support))[0]
    return float(intercepts[best]), float(slopes[best])


def robust_scale(values: np.ndarray, floor: float = 0.0) -> float:
    """1.4826 x median absolute deviation (a standard deviation for normal data), >= floor."""
    if len(values) == 0:
        return floor
    return max(floor, 1.4826 * float(np.median(np.abs(values - np.median(values)))))
