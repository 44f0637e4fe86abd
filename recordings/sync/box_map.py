"""The box clock on the session clock, from event round trips and sync receipts.

Every edge the trigger box raised has a time on its µs counter; fit_box_map ties that counter
to the session clock per box power cycle, so that every box edge gets an exact session time
(box_session_times), the reference the devices' edges are fitted against. See docs/sync.md,
"The box clock on the session clock".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recordings.sync.clock_segments import RESET_JUMP_S
from recordings.sync.edges import BoxLog
from recordings.sync.robust_fit import huber_line, robust_scale

MAX_RATE_ERROR = 3e-5  # a box clock rate is fitted only if known better than this
UART_COMMAND_BYTES, UART_REPLY_BYTES = 7, 11
DEFAULT_BAUD = 115200.0


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
