"""The box clock on the session clock, from event round trips and sync receipts.

Every edge the trigger box raised has a time on its µs counter; fit_box_map ties that counter
to the session clock per box power cycle, so that every box edge gets an exact session time
(box_session_times), the reference the devices' edges are fitted against. See docs/sync.md,
"The box clock on the session clock".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from recordings.sync.clock_segments import RESET_JUMP_S
from recordings.sync.edges import BoxLog
from recordings.sync.robust_fit import huber_line, lower_hull_line, robust_scale

MAX_RATE_ERROR = 3e-5  # a box clock rate is fitted only if known better than this
# Sync receipts are filtered like NTP and PTP filter delays: of each window of box time, only
# the report the host took in soonest (least receipt minus edge, after the fitted drift)
# enters the fit, and windows whose least delay still lies well above the lower hull of those
# minima (the host was busy throughout) are dropped, so a receipt delay that changes over
# the recording cannot tilt the rate.
ENVELOPE_WINDOW_S = 10.0
ENVELOPE_TOLERANCE_S = 5e-4  # a window's least delay this much above the hull line: dropped
UART_COMMAND_BYTES, UART_REPLY_BYTES = 7, 11
DEFAULT_BAUD = 115200.0


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class _BoxRun:
    """One box power cycle, set up for the fit y ~ a + b * x (+ a latency for sync receipts)."""

    x: np.ndarray  # s: box time minus centre
    y: np.ndarray  # session-time estimate per edge: send + uplink (events), receipt (sync)
    is_sync: np.ndarray  # bool: a sync pulse (host time = receipt)
    events_used: np.ndarray  # bool: events with the shortest round trips (all without them)
    sync_used: np.ndarray  # bool: sync receipts the fit uses (the least-delay envelope)
    sigma: np.ndarray  # s: noise of event estimates with a round trip, NaN elsewhere
    centre: float  # s: the box time subtracted from x
    method: str  # round_trip | symmetric | send_time
    baud: float

    @property
    def used(self) -> np.ndarray:
        """Rows the fit uses: the chosen events and sync receipts."""
        return self.events_used | self.sync_used

    def with_envelope(self, rate: float) -> _BoxRun:
        """The run using, per ENVELOPE_WINDOW_S of box time, the sync receipt with the least
        delay (receipt minus rate * box time), minus windows whose least delay lies more than
        ENVELOPE_TOLERANCE_S above the lower hull of them all; every receipt where events have
        no round trip ('symmetric': their mean delay is taken as the events' uplink delay)."""
        rows = np.flatnonzero(self.is_sync)
        if len(rows) == 0 or (self.method == "symmetric" and self.events_used.any()):
            return replace(self, sync_used=self.is_sync)
        delay = self.y[rows] - rate * self.x[rows]
        window = np.floor((self.x[rows] - self.x.min()) / ENVELOPE_WINDOW_S).astype(np.int64)
        # Sorting by (window, delay) puts each window's least delay first.
        order = np.lexsort((delay, window))
        least = order[np.concatenate(([True], np.diff(window[order]) != 0))]
        a, b = lower_hull_line(self.x[rows[least]], delay[least], ENVELOPE_TOLERANCE_S)
        late = delay[least] - (a + b * self.x[rows[least]])
        least = least[late <= ENVELOPE_TOLERANCE_S]
        used = np.zeros(len(self.x), bool)
        used[rows[least]] = True
        return replace(self, sync_used=used)


@dataclass(frozen=True)
class _BoxSolution:
    """y ~ a + b * x, the sync receipts' latency and the residuals of the used rows."""

    a: float  # s, at x = 0
    b: float
    latency: float  # s: receipt minus edge of sync pulses, NaN if not fitted
    residuals: np.ndarray  # s, per used row


def fit_box_map(log: BoxLog, baud: float = DEFAULT_BAUD) -> list[BoxSegment]:
    """session = a + b * box_time per box power cycle, from event round trips and sync receipts.

    Event edges: session time = send time + uplink_delay(round trip), kept for the half of the
    events with the shortest round trips (a long one means the lines were busy or the host was
    late). Sync pulses: receipt time = edge + the least receipt latency, fitted jointly, from
    the least-delay envelope of the receipts (ENVELOPE_WINDOW_S); they carry the drift over
    long recordings. The box clock's rate is fitted when its standard error is below
    MAX_RATE_ERROR, else taken as the session clock's (short recordings).
    """
    return [_fit_box_run(log, start, end, baud) for start, end in box_runs(log)]


def _fit_box_run(log: BoxLog, start: int, end: int, baud: float) -> BoxSegment:
    """The box map of rows [start, end); the envelope is chosen again at the fitted rate."""
    run = _box_run(log, start, end, baud)
    solution = _solve_run(run.with_envelope(1.0))
    run = run.with_envelope(solution.b)  # each window's least delay at the box's own rate
    solution = _solve_run(run)
    used = run.used
    events = run.events_used[used]
    residuals = solution.residuals[events] if events.any() else solution.residuals
    return BoxSegment(
        start, end, float(log.box_time[start]), float(log.box_time[end - 1]),
        solution.a - solution.b * run.centre, solution.b, int(run.events_used.sum()),
        int(run.is_sync.sum()), float(np.sqrt(np.mean(residuals**2))),
        float(np.max(np.abs(residuals))), solution.latency,
        run.method if run.events_used.any() else "sync_receipt")


def _solve_run(run: _BoxRun) -> _BoxSolution:
    """The run's map at rate 1, or at the fitted rate if known well enough."""
    solution = _solve_box(run, free_rate=False)
    used = run.used
    if used.sum() >= 3 and np.ptp(run.x[used]) >= 1.0:
        free = _solve_box(run, free_rate=True)
        # Keep the measured rate only where it beats assuming none (|drift| ~ 1e-4).
        if _rate_error(run, free.residuals) <= MAX_RATE_ERROR:
            solution = free
    return solution


def _box_run(log: BoxLog, start: int, end: int, baud: float) -> _BoxRun:
    """Rows [start, end) of the box log with their session-time estimates and noise."""
    rows = np.arange(start, end)
    box = log.box_time[rows]
    host = log.host_time[rows]
    rtt = log.round_trip[rows]
    sync = log.is_sync[rows]
    has_rtt = ~sync & np.isfinite(rtt) & (rtt >= 0)
    if has_rtt.any():
        cut = max(float(np.median(rtt[has_rtt])), float(np.min(rtt[has_rtt])) + 2e-4)
        events_used = has_rtt & (rtt <= cut)
        event_y = host + np.where(has_rtt, uplink_delay(np.nan_to_num(rtt), baud), 0.0)
        method = "round_trip"
    else:
        events_used = ~sync
        event_y = host
        method = "symmetric" if sync.any() else "send_time"
    centre = float(np.mean(box[events_used | sync]))
    # An event's edge lies between send and ACK receipt: its estimate is good to about
    # rtt / sqrt(12) (uniform over the round trip); sync receipts get their spread.
    sigma = np.where(has_rtt, np.maximum(np.nan_to_num(rtt) / np.sqrt(12), 2e-5), np.nan)
    return _BoxRun(box - centre, np.where(sync, host, event_y), sync, events_used, sync, sigma,
                   centre, method, baud)


def _rate_error(run: _BoxRun, residuals: np.ndarray) -> float:
    """Standard error of a fitted box rate, from the weights of the used rows."""
    used = run.used
    weight = 1.0 / _scales(residuals, run.is_sync[used].astype(int), run.sigma[used]) ** 2
    x = run.x[used]
    x_mean = np.sum(weight * x) / np.sum(weight)
    return 1.0 / np.sqrt(max(np.sum(weight * (x - x_mean) ** 2), 1e-300))


def _solve_box(run: _BoxRun, free_rate: bool) -> _BoxSolution:
    """y ~ a + b * x over the used rows; b = 1 unless free_rate."""
    if run.events_used.any():
        return _solve_with_events(run, free_rate)
    return _solve_from_sync_receipts(run, free_rate)


def _solve_with_events(run: _BoxRun, free_rate: bool) -> _BoxSolution:
    """Weighted robust fit of events and sync receipts, the receipts' latency a nuisance."""
    used = run.used
    has_sync = run.is_sync.any()
    columns = [np.ones(len(run.x))]
    if free_rate:
        columns.append(run.x)
    if has_sync:
        # 'symmetric': without round trips, send time is early by the uplink delay and
        # receipt late by the downlink delay; taken equal, they cancel.
        columns.append(run.is_sync.astype(float)
                       - ((~run.is_sync).astype(float) if run.method == "symmetric" else 0.0))
    design = np.column_stack(columns)
    base = 0 if free_rate else run.x
    coef = _weighted_huber(design[used], (run.y - base)[used], run.is_sync[used].astype(int),
                           run.sigma[used])
    return _BoxSolution(float(coef[0]), float(coef[1]) if free_rate else 1.0,
                        float(coef[-1]) if has_sync else float("nan"),
                        (run.y - design @ coef - base)[used])


def _solve_from_sync_receipts(run: _BoxRun, free_rate: bool) -> _BoxSolution:
    """No events: the sync receipts alone, late by the reply's wire time."""
    latency = UART_REPLY_BYTES * 10.0 / run.baud
    sync = run.sync_used
    if free_rate:
        a, b = huber_line(run.x[sync], run.y[sync] - latency, 2e-4)
    else:
        a, b = float(np.median(run.y[sync] - latency - run.x[sync])), 1.0
    return _BoxSolution(a, b, latency, (run.y - latency - (a + b * run.x))[run.used])


def _scales(residual: np.ndarray, group: np.ndarray, sigma: np.ndarray, floor: float = 5e-5
            ) -> np.ndarray:
    """Per-row noise scale: sigma where known, else the robust scale of the row's group."""
    out = sigma.copy()
    for g in np.unique(group):
        unknown = (group == g) & ~np.isfinite(sigma)
        if unknown.any():
            out[unknown] = robust_scale(residual[unknown], floor)
    return out


def _weighted_huber(design: np.ndarray, y: np.ndarray, group: np.ndarray, sigma: np.ndarray,
                    iters: int = 30) -> np.ndarray:
    """Weighted least squares (1/scale^2) with Huber weights (k = 1.5) on scaled residuals."""
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    for _ in range(iters):
        residual = y - design @ coef
        scale = _scales(residual, group, sigma)
        z = np.abs(residual) / scale
        weight = np.where(z <= 1.5, 1.0, 1.5 / np.maximum(z, 1e-12)) / scale**2
        root = np.sqrt(weight)
        new = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)[0]
        converged = np.allclose(new, coef, rtol=0, atol=1e-10)
        coef = new
        if converged:
            break
    return coef


def box_session_times(log: BoxLog, segments: list[BoxSegment]) -> np.ndarray:
    """Session time of every box-log edge (NaN for rows outside every segment)."""
    out = np.full(len(log), np.nan)
    for s in segments:
        out[s.start_row:s.end_row] = s.a + s.b * log.box_time[s.start_row:s.end_row]
    return out
