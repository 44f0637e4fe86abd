"""Robust lines and scales, shared by the fitting steps of the sync (docs/sync.md).

Huber regression by iteratively reweighted least squares (pyxdf's clock-offset fit), Theil-Sen
for a first line that ignores wrong pairs, and the MAD scale.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import theilslopes


def huber_line(x: np.ndarray, y: np.ndarray, delta: float, iters: int = 50,
               slope: float | None = None) -> tuple[float, float]:
    """y ~ a + b*x minimising the Huber loss with threshold delta (IRLS); slope fixed if given."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    xc = float(np.mean(x)) if len(x) else 0.0
    u = x - xc
    w = np.ones(len(x))
    a, b = float(np.median(y)) if len(y) else 0.0, 1.0 if slope is None else slope
    for _ in range(iters):
        if slope is None and len(x) > 1 and np.ptp(u) > 0:
            sw = np.sqrt(w)
            A = np.column_stack((sw, sw * u))
            a, b = (float(v) for v in np.linalg.lstsq(A, sw * y, rcond=None)[0])
        else:
            b = 1.0 if slope is None else slope
            a = float(np.sum(w * (y - b * u)) / np.sum(w))
        r = np.abs(y - a - b * u)
        w_new = np.where(r <= delta, 1.0, delta / np.maximum(r, 1e-300))
        if np.allclose(w_new, w, rtol=0, atol=1e-9):
            break
        w = w_new
    return a - b * xc, b


def theil_sen(x: np.ndarray, y: np.ndarray, max_points: int = 800) -> tuple[float, float]:
    """Robust line y ~ a + b*x (Theil-Sen on at most max_points evenly spread points)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if len(x) > max_points:
        pick = np.linspace(0, len(x) - 1, max_points).round().astype(int)
        x, y = x[pick], y[pick]
    xc = float(np.median(x))
    if len(x) < 2 or np.ptp(x) == 0:
        return float(np.median(y)) - xc, 0.0
    b = float(theilslopes(y, x - xc)[0])
    return float(np.median(y - b * (x - xc))) - b * xc, b


def robust_scale(r: np.ndarray, floor: float = 0.0) -> float:
    """1.4826 x median absolute deviation (a standard deviation for normal data)."""
    if len(r) == 0:
        return floor
    return max(floor, 1.4826 * float(np.median(np.abs(r - np.median(r)))))
