"""Trigger edges as each device saw them: trigger channels, camera GPI levels, the box's log.

Every device samples the trigger box's TTL lines on its own clock, so an edge is only known
to lie between two samples (or frames): the last one that still showed the old level and the
first one that shows the new level. Edges are therefore kept as device-time intervals
`(lo, hi]`; the fit (recordings/sync/interval_fit.py) uses the whole interval, which is what gives
sub-sample timing once many edges fall at different phases of the sample clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from core.codes import SYNC_CODE
from core.trigger_channel import BOX_MASK

# The camera's GPI input is wired to trigger-box line 8 (CAMERA_LINE, docs/trigger-protocol.md),
# so a camera sees exactly the box edges whose code has bit 7 set: the sync train (255) and
# event codes 128..254 (melab keeps its own codes in 1..127).
# An edge interval may span at most this many nominal periods (one missing sample or
# dropped frame); wider intervals say too little and are dropped.
MAX_INTERVAL_PERIODS = 2.5


@dataclass
class Edges:
    """Rising edges of trigger pulses seen by one device, in row order.

    The rising edge lies in the device-time interval (lo, hi]; the falling edge of the same
    pulse, when it was seen on the same clock, in (fall_lo, fall_hi] (NaN otherwise).
    """

    row: np.ndarray  # int64: first sample/frame row showing the pulse
    lo: np.ndarray  # float64 device time
    hi: np.ndarray
    code: np.ndarray  # int64: the pulse's code, -1 when the device cannot tell (camera)
    host: np.ndarray  # float64: host receipt time of that row (session clock)
    fall_lo: np.ndarray
    fall_hi: np.ndarray

    def __len__(self) -> int:
        return len(self.row)

    @property
    def mid(self) -> np.ndarray:
        """Interval midpoints (device time)."""
        return (self.lo + self.hi) / 2

    def take(self, index: np.ndarray) -> Edges:
        """The edges at `index` (boolean mask or integer indices)."""
        return Edges(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    @classmethod
    def empty(cls) -> Edges:
        """No edges."""
        z = np.zeros(0)
        return cls(np.zeros(0, np.int64), z, z, np.zeros(0, np.int64), z, z, z)


def read_column(samples: h5py.Dataset, column: int, block_rows: int = 1 << 18) -> np.ndarray:
    """One channel of an (n, ch) samples dataset, read in blocks to bound memory."""
    n = samples.shape[0]
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, block_rows):
        stop = min(n, start + block_rows)
        out[start:stop] = samples[start:stop, column]
    return out


def steps_ok(device_time: np.ndarray, period: float, frame_gap: np.ndarray | None = None,
             ) -> np.ndarray:
    """ok[k]: rows k-1 and k are on the same clock, close enough to bound an edge (ok[0] False).

    frame_gap (cameras): per row, its frame number minus the previous row's, so a dropped frame
    widens the allowed step instead of breaking it.
    """
    n = len(device_time)
    ok = np.zeros(n, dtype=bool)
    if n < 2:
        return ok
    step = np.diff(device_time)
    allowed = MAX_INTERVAL_PERIODS * period
    if frame_gap is not None:
        gap = np.maximum(np.asarray(frame_gap)[1:], 1)
        ok[1:] = (step > 0) & (gap <= 2) & (step <= (gap + 0.5) * period)
    else:
        ok[1:] = (step > 0) & (step <= allowed)
    return ok


def idle_level(values: np.ndarray) -> float:
    """The level a trigger line rests at: the channel's most common value (0 when empty)."""
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0
    levels, counts = np.unique(finite, return_counts=True)
    return float(levels[np.argmax(counts)])


def trigger_codes(values: np.ndarray, idle: float | None = None, mask: int = BOX_MASK
                  ) -> np.ndarray:
    """Trigger codes from a code channel: the `mask` bits that differ from the idle level.

    Integer levels give the code (XOR with the idle level, so an idle of 65280 = 0xFF00 or an
    active-low 65535 reads as 0; the mask's lowest bit is bit 0 of the code). Other levels are
    thresholded at half their largest distance from the idle level (-1 = on, code unknown).
    idle None: the channel's most common value.
    """
    rest = idle_level(values) if idle is None else float(idle)
    finite = np.nan_to_num(np.asarray(values, np.float64), nan=rest)
    rounded = np.rint(finite)
    if np.all(np.abs(finite - rounded) < 0.01) and rest.is_integer():
        shift = (mask & -mask).bit_length() - 1
        return ((rounded.astype(np.int64) ^ int(rest)) & mask) >> shift
    distance = np.abs(finite - rest)
    high = float(distance.max(initial=0.0))
    return np.where(distance > 0.5 * high, -1, 0).astype(np.int64) if high > 0 else (
        np.zeros(finite.shape, np.int64))


def line_codes(lines: list[np.ndarray]) -> np.ndarray:
    """The box's code from single-line channels: bit k set where lines[k] is more than half
    its largest distance away from its idle (most common) level."""
    code = np.zeros(len(lines[0]) if lines else 0, np.int64)
    for bit, values in enumerate(lines):
        level = np.nan_to_num(np.asarray(values, np.float64), nan=0.0)
        distance = np.abs(level - idle_level(level))
        high = float(distance.max(initial=0.0))
        if high > 0:
            code |= (distance > 0.5 * high).astype(np.int64) << bit
    return code


def level_edges(levels: np.ndarray, device_time: np.ndarray, host_time: np.ndarray,
                ok: np.ndarray, latch_offset: float = 0.0, codes_known: bool = True) -> Edges:
    """Rising (and matching falling) edges of a sampled trigger level.

    levels: per-row code (0 = lines low); rows where ok[k] is False start a new stretch, so no
    edge interval spans them. latch_offset: device seconds from a row's device_time to the
    instant its level was sampled (0 for continuous streams; the GPI latch point for cameras).
    """
    on = levels != 0
    n = len(on)
    if n < 2:
        return Edges.empty()
    prev_on = np.concatenate(([True], on[:-1]))
    rise = np.flatnonzero(on & ~prev_on & ok)
    fall = np.flatnonzero(~on & prev_on)
    fall = fall[fall > 0]
    bad = np.cumsum(~ok)  # a fall pairs with its rise only if no break lies between them
    next_fall = np.searchsorted(fall, rise, side="right")
    has_fall = next_fall < len(fall)
    j = np.where(has_fall, fall[np.minimum(next_fall, max(len(fall) - 1, 0))], -1) if len(
        fall) else np.full(len(rise), -1)
    pair = has_fall & (j > 0)
    pair &= np.where(pair, bad[np.maximum(j, 0)] == bad[rise], False)
    pair &= np.where(pair, ok[np.maximum(j, 0)], False)
    d = device_time + latch_offset
    lo = d[rise - 1]
    hi = d[rise]
    fall_lo = np.where(pair, d[np.maximum(j - 1, 0)], np.nan)
    fall_hi = np.where(pair, d[np.maximum(j, 0)], np.nan)
    if codes_known:
        # The code is read mid-pulse, away from a sample caught while the lines switched.
        middle = np.where(pair, (rise + np.maximum(j, 0) - 1) // 2, rise)
        code = levels[np.clip(middle, 0, n - 1)].astype(np.int64)
        code = np.where(code == 0, levels[rise], code)
    else:
        code = np.full(len(rise), -1, dtype=np.int64)
    return Edges(rise.astype(np.int64), lo, hi, code, host_time[rise].astype(np.float64),
                 fall_lo, fall_hi)


def stream_edges(values: np.ndarray, device_time: np.ndarray, host_time: np.ndarray,
                 nominal_rate: float, idle: float | None = None, mask: int = BOX_MASK) -> Edges:
    """Edges in a continuous stream's trigger channel (first sample showing the new level)."""
    codes = trigger_codes(values, idle, mask)
    period = 1.0 / nominal_rate
    ok = steps_ok(device_time, period)
    return level_edges(codes, device_time, host_time, ok, codes_known=bool(codes.max(
        initial=0) > 0))


def camera_edges(gpi_level: np.ndarray, gpi_mask: int, frame_number: np.ndarray,
                 device_time: np.ndarray, host_time: np.ndarray, frame_rate: float,
                 latch_offset: float = 0.0) -> Edges:
    """Edges of the sync line in the per-frame GPI level (bit `gpi_mask`).

    The level is latched once per frame at device_time + latch_offset, so an edge lies between
    the latch instants of the last frame with the old level and the first with the new one.
    """
    level = ((np.asarray(gpi_level).astype(np.int64) & gpi_mask) != 0).astype(np.int64)
    gap = np.concatenate(([1], np.diff(np.asarray(frame_number, dtype=np.int64))))
    ok = steps_ok(device_time, 1.0 / frame_rate, gap)
    return level_edges(level, device_time, host_time, ok, latch_offset, codes_known=False)


@dataclass
class BoxLog:
    """The trigger box's own record of its edges (the TriggerBox stream)."""

    box_time: np.ndarray  # s on the box's µs counter: the rising edge
    host_time: np.ndarray  # session clock: send time (events) or receipt (sync pulses)
    code: np.ndarray  # int64
    round_trip: np.ndarray  # s from send to ACK receipt (events); NaN for sync/unknown

    def __len__(self) -> int:
        return len(self.box_time)

    @property
    def is_sync(self) -> np.ndarray:
        """Rows that are sync pulses (box-initiated, host time = receipt)."""
        return self.code == SYNC_CODE


def box_log(samples: np.ndarray, device_time: np.ndarray, host_time: np.ndarray) -> BoxLog:
    """Parse the TriggerBox stream: code and (since format 1 + sync) round trip per edge."""
    samples = np.asarray(samples, dtype=np.float64).reshape(len(device_time), -1)
    code = np.rint(np.nan_to_num(samples[:, 0])).astype(np.int64)
    rtt = samples[:, 1].copy() if samples.shape[1] > 1 else np.full(len(code), np.nan)
    rtt[code == SYNC_CODE] = np.nan
    return BoxLog(np.asarray(device_time, np.float64), np.asarray(host_time, np.float64), code,
                  rtt)
