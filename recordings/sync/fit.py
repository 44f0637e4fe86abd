"""Clock maps: the box clock on the session clock, device edges matched to box edges, robust
piecewise fits, and the LSL clock-offset fallback (pyxdf's method). See docs/sync.md.

All maps are affine per segment: t_session = a + b * t_device. Nothing here touches files;
recordings/sync/synchronize.py reads a session, calls these functions and stores the results.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.ndimage import maximum_filter1d
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, HalfspaceIntersection, QhullError
from scipy.stats import theilslopes

from core.codes import SYNC_CODE
from recordings.sync.edges import BoxLog, Edges

MAX_DRIFT = 3e-4  # |rate - 1| allowed for any clock (crystals: ±100 ppm; 3x margin)
RESET_JUMP_S = 0.5  # a device-time jump this much beyond elapsed host time is a clock reset
LONG_GAP_S = 10.0  # a stretch without samples this long splits a clock segment
STAMP_STEP_S = 0.05  # dejitter: a lasting step of the stamps this large starts a new piece
MIN_DRIFT_SPAN_S = 2.0  # shorter segments take their rate from elsewhere (see fit_trigger)
# Edges spanning less than this: host receipt times narrow the device clock's rate to
# +-HOST_RATE_TOLERANCE when the edges allow it (a short recording has few edges).
HOST_RATE_SPAN_S = 60.0
HOST_RATE_TOLERANCE = 5e-5
MAX_RATE_ERROR = 3e-5  # a box clock rate is fitted only if known better than this
HUBER_DELTA_S = 1e-4  # pyxdf's winsor threshold for the clock-offset fit
LAG_RANGE_S = (-0.05, 10.0)  # host receipt minus edge time: samples arrive after the edge
UART_COMMAND_BYTES, UART_REPLY_BYTES = 7, 11
DEFAULT_BAUD = 115200.0
PLAUSIBLE_LATENCY_S = (-0.05, 5.0)  # host receipt minus fallback time must fall in here


# --- small robust tools --------------------------------------------------------------------

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


# --- clock segments and dejitter -----------------------------------------------------------

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


def dejitter(device: np.ndarray, runs: list[tuple[int, int]], period: float,
             threshold_seconds: float = 1.0, threshold_samples: int = 500,
             force: bool = False) -> tuple[np.ndarray, bool]:
    """Timestamps made regular: pyxdf's jitter removal (least squares on the sample index).

    Within each run, pieces split where stamps jump by more than max(1 s, 500 samples) (pyxdf)
    or step away from the sample count by far more than their jitter (a restart or lost
    samples the stamps show) are replaced by their least-squares line on the sample index.
    Stamps that are already regular to 5 % of a sample (a hardware clock) are kept as they are
    unless force, so a dropped sample cannot shift the rest of a run. Returns (times, whether
    any run was jittery).
    """
    out = np.array(device, dtype=np.float64, copy=True)
    jittery = False
    limit = max(threshold_seconds, threshold_samples * period)
    for start, end in runs:
        d = out[start:end]
        if len(d) < 3:
            continue
        breaks = list(np.flatnonzero(np.diff(d) > limit) + 1)
        # A step of the stamps against the sample count that persists (the median level of
        # the next half second differs from that of the last) is a break; jitter is not.
        level = d - np.arange(len(d)) * period
        window = max(50, round(0.5 / period))
        for c in np.flatnonzero(np.abs(np.diff(level)) > STAMP_STEP_S) + 1:
            before = np.median(level[max(0, c - window):c])
            after = np.median(level[c:c + window])
            if abs(after - before) > STAMP_STEP_S and c not in breaks:
                breaks.append(int(c))
        bounds = np.unique(np.concatenate(([0], breaks, [len(d)]))).astype(int)
        for a, b in itertools.pairwise(bounds):
            piece = d[a:b]
            if len(piece) < 3:
                continue
            k = np.arange(len(piece), dtype=np.float64)
            kc = k - k.mean()
            slope = float(np.dot(kc, piece - piece.mean()) / np.dot(kc, kc))
            fit = piece.mean() + slope * kc
            rms = float(np.sqrt(np.mean((piece - fit) ** 2)))
            if force or rms > 0.05 * period:
                jittery |= rms > 0.05 * period
                d[a:b] = fit
    return out, jittery


# --- the box clock on the session clock ----------------------------------------------------

@dataclass
class BoxSegment:
    """session = a + b * box_time for rows [start_row, end_row) of the box log."""

    start_row: int
    end_row: int
    start_box: float
    end_box: float
    a: float
    b: float
    n_events: int  # event edges (probes, protocol codes) whose round trip was used
    n_sync: int
    rms_residual: float  # of the event estimates used (s)
    max_residual: float
    sync_latency: float  # receipt minus edge for sync notifications (s), NaN if unused
    method: str  # round_trip | symmetric | send_time | sync_receipt


def uplink_delay(round_trip: np.ndarray, baud: float = DEFAULT_BAUD) -> np.ndarray:
    """Estimated send-to-edge delay of an EVENT command from its round trip.

    The box raises the edge when the 7-byte command has arrived and answers with an 11-byte
    reply: the UART part of the round trip (18 bytes at 10 bits each) is split 7:11, the rest
    (USB, driver and scheduling latency) is taken as symmetric.
    """
    byte = 10.0 / baud
    wire = np.minimum(round_trip, (UART_COMMAND_BYTES + UART_REPLY_BYTES) * byte)
    return (wire * UART_COMMAND_BYTES / (UART_COMMAND_BYTES + UART_REPLY_BYTES)
            + (round_trip - wire) / 2)


def box_runs(log: BoxLog) -> list[tuple[int, int]]:
    """Rows of the box log between box power cycles (counter back, or jump vs host time)."""
    n = len(log)
    if n == 0:
        return []
    db = np.diff(log.box_time)
    dr = np.diff(log.host_time - log.box_time)
    cuts = np.flatnonzero((db < 0) | (np.abs(dr) > RESET_JUMP_S)) + 1
    bounds = np.concatenate(([0], cuts, [n]))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _scales(r: np.ndarray, group: np.ndarray, sigma: np.ndarray, floor: float = 5e-5
            ) -> np.ndarray:
    """Per-row noise scale: sigma where known, else the robust scale of the row's group."""
    out = sigma.copy()
    for g in np.unique(group):
        m = (group == g) & ~np.isfinite(sigma)
        if m.any():
            out[m] = robust_scale(r[m], floor)
    return out


def _weighted_robust(X: np.ndarray, y: np.ndarray, group: np.ndarray, sigma: np.ndarray,
                     iters: int = 30) -> np.ndarray:
    """Weighted least squares (1/scale^2) with Huber weights (k = 1.5) on scaled residuals."""
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    for _ in range(iters):
        r = y - X @ beta
        s = _scales(r, group, sigma)
        z = np.abs(r) / s
        w = np.where(z <= 1.5, 1.0, 1.5 / np.maximum(z, 1e-12)) / s**2
        sw = np.sqrt(w)
        new = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
        if np.allclose(new, beta, rtol=0, atol=1e-10):
            beta = new
            break
        beta = new
    return beta


def _solve_box(x: np.ndarray, y: np.ndarray, host: np.ndarray, sync: np.ndarray,
               use_e: np.ndarray, use_s: np.ndarray, symmetric: bool, baud: float,
               sigma: np.ndarray, free: bool) -> tuple[float, float, float, np.ndarray]:
    """(a, b, sync latency, residuals of every used row): y ~ a + b*x, rate free or 1."""
    use = use_e | use_s
    latency = float("nan")
    if use_e.any():
        cols = [np.ones(len(x))]
        if free:
            cols.append(x)
        if use_s.any():
            # 'symmetric': without round trips, send time is early by the uplink delay and
            # receipt late by the downlink delay; taken equal, they cancel.
            cols.append(sync.astype(float) - ((~sync).astype(float) if symmetric else 0.0))
        X = np.column_stack(cols)
        base = 0 if free else x
        beta = _weighted_robust(X[use], (y - base)[use], sync[use].astype(int), sigma[use])
        a, b = float(beta[0]), (float(beta[1]) if free else 1.0)
        if use_s.any():
            latency = float(beta[-1])
        return a, b, latency, (y - X @ beta - base)[use]
    latency = UART_REPLY_BYTES * 10.0 / baud  # no events: the reply's wire time
    if free:
        a, b = huber_line(x[use_s], host[use_s] - latency, 2e-4)
    else:
        a, b = float(np.median(host[use_s] - latency - x[use_s])), 1.0
    return a, b, latency, (y - latency - (a + b * x))[use]


def fit_box_map(log: BoxLog, baud: float = DEFAULT_BAUD) -> list[BoxSegment]:
    """session = a + b * box_time per box power cycle, from event round trips and sync receipts.

    Event edges: session time = send time + uplink_delay(round trip), kept for the half of the
    events with the shortest round trips (a long one means the lines were busy or the host was
    late). Sync pulses: receipt time = edge + an unknown constant latency, fitted jointly; they
    carry the drift over long recordings. The box clock's rate is fitted when its standard
    error is below MAX_RATE_ERROR, else taken as the session clock's (short recordings).
    """
    out = []
    for start, end in box_runs(log):
        rows = np.arange(start, end)
        box = log.box_time[rows]
        host = log.host_time[rows]
        rtt = log.round_trip[rows]
        sync = log.is_sync[rows]
        event = ~sync
        has_rtt = event & np.isfinite(rtt) & (rtt >= 0)
        method = "round_trip"
        if has_rtt.any():
            cut = max(float(np.median(rtt[has_rtt])), float(np.min(rtt[has_rtt])) + 2e-4)
            use_e = has_rtt & (rtt <= cut)
            y_e = host + np.where(has_rtt, uplink_delay(np.nan_to_num(rtt), baud), 0.0)
        else:
            use_e = event.copy()
            y_e = host.copy()
            method = "symmetric" if sync.any() else "send_time"
        use_s = sync
        use = use_e | use_s
        if not use.any():
            continue
        ref = float(np.mean(box[use]))
        x = box - ref
        y = np.where(sync, host, y_e)
        group = sync.astype(int)
        # An event's edge lies between send and ACK receipt: its estimate is good to about
        # rtt / sqrt(12) (uniform over the round trip); sync receipts get their spread.
        sigma = np.where(has_rtt, np.maximum(np.nan_to_num(rtt) / np.sqrt(12), 2e-5), np.nan)
        parts = (x, y, host, sync, use_e, use_s, method == "symmetric", baud, sigma)
        a, b, latency, resid = _solve_box(*parts, free=False)
        if use.sum() >= 3 and np.ptp(x[use]) >= 1.0:
            fa, fb, flat, fres = _solve_box(*parts, free=True)
            # Keep the measured rate only where it beats assuming none (|drift| ~ 1e-4).
            w = 1.0 / _scales(fres, group[use], sigma[use]) ** 2
            xu = x[use]
            xm = np.sum(w * xu) / np.sum(w)
            se = 1.0 / np.sqrt(max(np.sum(w * (xu - xm) ** 2), 1e-300))
            if se <= MAX_RATE_ERROR:
                a, b, latency, resid = fa, fb, flat, fres
        if not use_e.any():
            method = "sync_receipt"
        ev = use_e[use]
        resid = resid[ev] if ev.any() else resid
        out.append(BoxSegment(
            start, end, float(box[0]), float(box[-1]), a - b * ref, b, int(use_e.sum()),
            int(use_s.sum()), float(np.sqrt(np.mean(resid**2))), float(np.max(np.abs(resid))),
            latency, method))
    return out


def box_session_times(log: BoxLog, segments: list[BoxSegment]) -> np.ndarray:
    """Session time of every box-log edge (NaN for rows outside every segment)."""
    out = np.full(len(log), np.nan)
    for s in segments:
        out[s.start_row:s.end_row] = s.a + s.b * log.box_time[s.start_row:s.end_row]
    return out


# --- matching device edges to box edges ----------------------------------------------------

CodeTest = Callable[[int, np.ndarray], np.ndarray]


def same_code(device_code: int, ref_codes: np.ndarray) -> np.ndarray:
    """A device that reads the full code: the box edge must carry it (unknown: any edge)."""
    return ref_codes == device_code if device_code >= 0 else np.ones(len(ref_codes), bool)


def line_mask(mask: int) -> CodeTest:
    """A device wired to some lines only (camera: line 8): box edges with one of them high."""
    def test(_device_code: int, ref_codes: np.ndarray) -> np.ndarray:
        return (ref_codes & mask) != 0
    return test


def _groups(edges: Edges, ref_code: np.ndarray, compatible: CodeTest
            ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(device edge indices, compatible reference indices) per distinct device code."""
    out = []
    for code in np.unique(edges.code):
        dev = np.flatnonzero(edges.code == code)
        ref = np.flatnonzero(compatible(int(code), ref_code))
        if len(ref):
            out.append((dev, ref))
    return out


def coarse_lag(edges: Edges, ref_t: np.ndarray, ref_code: np.ndarray,
               compatible: CodeTest) -> tuple[float, float]:
    """Host-receipt delay of a device's edges after the box edges (mode of all pairings).

    Returns (lag, spread): every pairing of a device edge with a compatible box edge whose
    time difference is in LAG_RANGE_S votes; true pairs pile up at the device's delivery delay.
    Pulses with a distinct code (anything but the periodic sync train) vote alone when there
    are enough of them: a periodic train also piles up at lag + k periods. Of peaks with at
    least half the top count the earliest is taken (a device seeing only the train, like the
    camera, must deliver within one sync period).
    """
    lo_lag, hi_lag = LAG_RANGE_S
    votes: dict[bool, list[np.ndarray]] = {True: [], False: []}
    distinct_edges = 0
    for dev, ref in _groups(edges, ref_code, compatible):
        order = np.argsort(ref_t[ref])
        r = ref_t[ref][order]
        periodic = bool(np.all(ref_code[ref] == SYNC_CODE))
        distinct_edges += 0 if periodic or edges.code[dev[0]] < 0 else len(dev)
        h = edges.host[dev]
        first = np.searchsorted(r, h - hi_lag)
        last = np.searchsorted(r, h - lo_lag, side="right")
        count = last - first
        if count.sum() == 0:
            continue
        which = np.repeat(np.arange(len(dev)), count)
        offs = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        votes[periodic or edges.code[dev[0]] < 0].append(h[which] - r[first[which] + offs])
    chosen = votes[False] if distinct_edges >= 3 and votes[False] else votes[True] + votes[False]
    if not chosen:
        return float("nan"), float("nan")
    d = np.concatenate(chosen)
    bins = np.arange(lo_lag, hi_lag + 0.002, 0.002)
    hist = np.histogram(d, bins)[0].astype(float)
    smooth = np.convolve(hist, np.ones(25), mode="same")  # 50 ms window
    local_max = smooth == maximum_filter1d(smooth, 101, mode="constant")
    strong = np.flatnonzero(local_max & (smooth >= 0.5 * smooth.max()))
    peak = bins[int(strong[0])] + 0.001
    near = d[np.abs(d - peak) < 0.05]
    lag = float(np.median(near))
    near = d[np.abs(d - lag) < 0.05]
    return lag, robust_scale(near, 1e-3)


def nearest_pairs(values: np.ndarray, dev_idx: np.ndarray, targets: np.ndarray,
                  ref_idx: np.ndarray, tol: float, unique: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each value, the nearest target within tol: (device index, reference index, diff).

    unique: only values with exactly one target within tol (no second candidate to confuse).
    """
    if len(targets) == 0 or len(values) == 0:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    order = np.argsort(targets)
    t = targets[order]
    pos = np.searchsorted(t, values)
    left = np.clip(pos - 1, 0, len(t) - 1)
    right = np.clip(pos, 0, len(t) - 1)
    pick = np.where(np.abs(t[left] - values) <= np.abs(t[right] - values), left, right)
    diff = values - t[pick]
    ok = np.abs(diff) <= tol
    if unique:
        ok &= np.searchsorted(t, values + tol, "right") - np.searchsorted(t, values - tol) == 1
    return dev_idx[ok], ref_idx[order[pick[ok]]], diff[ok]


def one_to_one(dev: np.ndarray, ref: np.ndarray, diff: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Keep, for every reference edge claimed more than once, the closest device edge."""
    order = np.lexsort((np.abs(diff), ref))
    dev, ref = dev[order], ref[order]
    keep = np.concatenate(([True], ref[1:] != ref[:-1])) if len(ref) else np.zeros(0, bool)
    dev, ref = dev[keep], ref[keep]
    order = np.argsort(dev)
    return dev[order], ref[order]


def _pairs_by(dev_times: np.ndarray, edges: Edges, ref_times: np.ndarray, ref_code: np.ndarray,
              compatible: CodeTest, tol: float, unique: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one nearest pairs of compatible codes between two timelines within tol."""
    devs, refs, diffs = [], [], []
    for dev, ref in _groups(edges, ref_code, compatible):
        d, r, x = nearest_pairs(dev_times[dev], dev, ref_times[ref], ref, tol, unique)
        devs.append(d)
        refs.append(r)
        diffs.append(x)
    if not devs:
        z = np.zeros(0, np.int64)
        return z, z
    return one_to_one(np.concatenate(devs), np.concatenate(refs), np.concatenate(diffs))


def coarse_pairs(edges: Edges, ref_t: np.ndarray, ref_code: np.ndarray, compatible: CodeTest,
                 lag: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Pair edges by host receipt time minus the lag (clock-free, so resets do not matter).

    Host receipt is tens of ms uncertain: an edge with two compatible box edges within tol
    (the same code queued twice, 20 ms apart) is left to the fine pairing on device time,
    else a wrong pair here would look like a clock step and split the fit.
    """
    return _pairs_by(edges.host - lag, edges, ref_t, ref_code, compatible, tol, unique=True)


def fine_pairs(edges: Edges, ref_t: np.ndarray, ref_code: np.ndarray, compatible: CodeTest,
               alpha: float, beta: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Pair edges by device time against the predicted device time of every box edge."""
    return _pairs_by(edges.mid, edges, alpha + beta * ref_t, ref_code, compatible, tol)


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


# --- interval fit --------------------------------------------------------------------------

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


# --- a device's clock on the session clock -------------------------------------------------

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


def _split_run(start: int, end: int, edges: Edges, dev: np.ndarray, y: np.ndarray,
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
    ref_code = np.where(valid, ref_code, -999)
    ref_t = np.where(valid, ref_t, -1e300)
    if n_edges == 0 or not valid.any():
        return TriggerFit([], match, float("nan"), list(runs))
    lag, spread = coarse_lag(edges, ref_t, ref_code, compatible)
    if not np.isfinite(lag):
        return TriggerFit([], match, lag, list(runs))
    tol = float(np.clip(6 * spread, 0.02, 0.3))
    dev, ref = coarse_pairs(edges, ref_t, ref_code, compatible, lag, tol)
    pieces = []
    for start, end in runs:
        pieces += _split_run(start, end, edges, dev, ref_t[ref], device, period)
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
        fdev, fref = fine_pairs(sub, ref_t, ref_code, compatible, a0, b0, ftol)
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


# --- fallbacks: LSL clock offsets (pyxdf) and host receipt times --------------------------

@dataclass
class OffsetSegment:
    """offset = a + b * collection_time (device clock) for clock-offset records [start, end)."""

    start: int
    end: int
    host_start: float
    host_end: float
    a: float
    b: float
    rms_residual: float
    max_residual: float


def fit_clock_offsets(offsets: np.ndarray) -> list[OffsetSegment]:
    """pyxdf's clock synchronisation: robust (Huber, 0.1 ms) line through the offset records.

    offsets: (k, 2) [host time, offset]; collection time on the device clock = host - offset.
    Records are split where the device clock was reset (collection time going back, or the
    offset jumping by more than 1 s: pyxdf's reset_threshold_offset_seconds).
    """
    if len(offsets) == 0:
        return []
    host = offsets[:, 0]
    value = offsets[:, 1]
    coll = host - value
    cuts = np.flatnonzero((np.diff(coll) < 0) | (np.abs(np.diff(value)) > 1.0)) + 1
    bounds = np.concatenate(([0], cuts, [len(host)]))
    out = []
    for s, e in itertools.pairwise(bounds):
        if e - s > 1:
            a, b = huber_line(coll[s:e], value[s:e], HUBER_DELTA_S)
        else:
            a, b = float(value[s]), 0.0
        r = value[s:e] - (a + b * coll[s:e])
        out.append(OffsetSegment(int(s), int(e), float(host[s]), float(host[e - 1]), a, b,
                                 float(np.sqrt(np.mean(r**2))), float(np.max(np.abs(r)))))
    return out


def _overlapping(segments: list[OffsetSegment], h0: float, h1: float) -> OffsetSegment:
    def score(s: OffsetSegment) -> tuple[float, float]:
        overlap = min(h1, s.host_end) - max(h0, s.host_start)
        return overlap, -min(abs(s.host_start - h0), abs(s.host_end - h1))
    return max(segments, key=score)


def offsets_fallback(device: np.ndarray, host: np.ndarray, runs: list[tuple[int, int]],
                     offsets: np.ndarray) -> tuple[np.ndarray, list[SegmentFit]]:
    """Session times from LSL clock offsets: t = t_device + offset(t_device), per clock run.

    Each run uses the offset segment that overlaps it most in host time. A run whose result
    would put host receipt outside PLAUSIBLE_LATENCY_S of the sample (the offsets do not
    describe these timestamps) falls back to host_fallback.
    """
    out = np.full(len(device), np.nan)
    fits = []
    segments = fit_clock_offsets(offsets)
    for start, end in runs:
        d = device[start:end]
        if not segments:
            t, fit = _host_run(d, host[start:end], start, end)
        else:
            s = _overlapping(segments, float(host[start]), float(host[end - 1]))
            t = d + s.a + s.b * d
            lat = float(np.median(host[start:end] - t))
            if PLAUSIBLE_LATENCY_S[0] <= lat <= PLAUSIBLE_LATENCY_S[1]:
                fit = SegmentFit(start, end, float(d[0]), float(d[-1]), s.a, 1.0 + s.b, 0,
                                 s.rms_residual, s.max_residual, float("nan"), "lsl_offsets")
            else:
                t, fit = _host_run(d, host[start:end], start, end)
        out[start:end] = t
        fits.append(fit)
    return out, fits


def _host_run(d: np.ndarray, h: np.ndarray, start: int, end: int
              ) -> tuple[np.ndarray, SegmentFit]:
    if len(d) > 1 and np.ptp(d) > 0:
        a, b = huber_line(d, h, 1e-3)
    else:
        a, b = float(np.median(h - d)), 1.0
    t = a + b * d
    r = h - t
    return t, SegmentFit(start, end, float(d[0]), float(d[-1]), a, b, 0,
                         float(np.sqrt(np.mean(r**2))), float(np.max(np.abs(r))), float("nan"),
                         "host_time")


def host_fallback(device: np.ndarray, host: np.ndarray, runs: list[tuple[int, int]]
                  ) -> tuple[np.ndarray, list[SegmentFit]]:
    """Session times from host receipt: a robust line host ~ a + b * device per clock run.

    Biased late by the mean delivery latency (LSL, USB, buffering): a last resort.
    """
    out = np.full(len(device), np.nan)
    fits = []
    for start, end in runs:
        t, fit = _host_run(device[start:end], host[start:end], start, end)
        out[start:end] = t
        fits.append(fit)
    return out, fits
