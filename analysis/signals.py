"""Signals as recorded: continuous stretches between outages, and channels that carry nothing.

A stream is split into stretches at every outage stored in `/streams/<name>/gaps`, and where
the timestamps show a break no outage names: after sync, a step of session_time over
UNNAMED_HOLE_S; before, a device clock reset or a silence over 10 s (`clock_runs`, as sync).
Each stretch gets its own time axis from the stored timestamps, sample i at t0 + i / rate:
after sync, a least-squares line through its session_time; before, a least-squares line
through the least-delayed receipts (5th percentile of host_time minus i / nominal) of each
RECEIPT_BLOCK_S block: host_time lags each sample by the transport latency and up to one
pull interval, more while the host is busy. So samples after a 6 s outage sit 6 s later, and
a device that samples fast or slow on the host's clock stretches the axis accordingly.
Features are computed per stretch and never span a gap.

A peripheral channel is checked in each stretch (`check_channel`) before NeuroKit2 sees it:
- "not enough data": the stretch is shorter than MIN_SECONDS for that channel (a heart rate
  needs a few beats, a breathing rate a few breaths, the tonic/phasic split of EDA at 0.05 Hz
  a 20 s period);
- "flat": constant (its 0.5-99.5 percentile spread within FLAT_RELATIVE of its level: a
  channel nothing is plugged into, or a bridge sending a fixed value), or, for the rhythmic
  channels (ECG, PPG, RSP), no more power per Hz in its physiological band (below its
  low-pass cut-off) than SNR_MIN times the power per Hz above it: what an amplifier input
  with no sensor shows (white noise has a ratio of ~1; the simulated and NeuroKit2 signals
  measured in tests/analysis/test_signals.py lie above 10^3).
Flat channels and channels without enough data are skipped (their features are NaN) and
reported per channel.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from analysis.preprocessing import LOWPASS_HZ, detrend, lowpass
from recordings.sync.clock_segments import clock_runs

OK, FLAT, SHORT = "ok", "flat", "not enough data"
MIN_SECONDS: dict[str, float] = {"ECG": 4.0, "PPG": 4.0, "RSP": 15.0, "EDA": 20.0, "SKT": 1.0}
RHYTHMIC: frozenset[str] = frozenset({"ECG", "PPG", "RSP"})
FLAT_RELATIVE = 1e-6  # float32 keeps ~7 digits: a spread below this is rounding, not signal
SNR_MIN = 10.0  # band power per Hz over the power per Hz above the band
RECEIPT_PERCENTILE = 5.0  # of receipt minus sample time: the least-delayed pulls
RECEIPT_BLOCK_S = 10.0  # blocks whose least-delayed receipts the axis goes through
UNNAMED_HOLE_S = 0.5  # a step of session_time this much beyond a sample period splits too


@dataclass(frozen=True)
class Stretch:
    """Samples [start, stop) of a stream recorded without a break, and their time axis:
    sample i (counted from `start`) was taken at t0 + i / rate on the analysis clock."""

    start: int
    stop: int
    t0: float
    rate: float  # samples per second of the analysis clock (fitted)

    @property
    def n(self) -> int:
        """Number of samples."""
        return self.stop - self.start

    @property
    def end(self) -> float:
        """Time just after the last sample."""
        return self.t0 + self.n / self.rate

    def overlap(self, start: float, stop: float) -> float:
        """Seconds of [start, stop) this stretch covers."""
        return max(0.0, min(stop, self.end) - max(start, self.t0))


def split_points(host: np.ndarray, gaps: np.ndarray) -> list[int]:
    """Sample indices where a stored outage ends (the first sample after it)."""
    if len(gaps) == 0 or len(host) == 0:
        return []
    # A gap ends at the host time of its first sample back; samples pulled with it share it.
    cuts = np.searchsorted(host, np.asarray(gaps, dtype=np.float64)[:, 1], side="left")
    return sorted({int(c) for c in cuts if 0 < c < len(host)})


def stretches(
    times: np.ndarray, host: np.ndarray, device: np.ndarray, gaps: np.ndarray, nominal: float,
    receipt: bool = False,
) -> list[Stretch]:
    """The continuous stretches of a regular stream and their axes (module docstring);
    `receipt`: `times` are host receipt times (the stream was not synchronised)."""
    cuts = set(split_points(host, gaps))
    if receipt:
        # The axis follows the device clock: split where it resets or falls silent.
        cuts |= {start for start, _ in clock_runs(device, host)}
    else:
        # session_time is continuous across clock resets (sync fitted each segment); a step
        # in it is a hole no outage record names (samples lost, older sessions).
        steps = np.diff(np.asarray(times, dtype=np.float64))
        cuts |= set((np.flatnonzero(steps > UNNAMED_HOLE_S + 1.0 / nominal) + 1).tolist())
    bounds = sorted(cuts | {0, len(times)})
    parts = (_axis(start, stop, times, nominal, receipt)
             for start, stop in itertools.pairwise(bounds))
    return [p for p in parts if p is not None]


def _axis(start: int, stop: int, times: np.ndarray, nominal: float,
          receipt: bool) -> Stretch | None:
    """Rows [start, stop) on a line t0 + i / rate (module docstring); None without any time."""
    t = np.asarray(times[start:stop], dtype=np.float64)
    index = np.arange(stop - start, dtype=np.float64)
    ok = np.isfinite(t)  # session_time is NaN where sync fitted nothing
    if not ok.any():
        return None
    index, t = index[ok], t[ok]
    if receipt:
        # Receipt times lag each sample by the transport latency and up to a pull interval,
        # more while the host is busy: a line through the least-delayed receipts of each
        # block follows the samples, where a least-squares line bends with every stall.
        lag = t - index / nominal
        blocks = max(1, round(len(t) / (RECEIPT_BLOCK_S * nominal)))
        parts = np.array_split(np.arange(len(t)), blocks)
        index = np.array([index[p].mean() for p in parts])
        t = np.array([np.percentile(lag[p], RECEIPT_PERCENTILE) for p in parts]) + index / nominal
    if len(t) < 2:
        return Stretch(start, stop, float(t[0] - index[0] / nominal), nominal)
    slope, t0 = (float(v) for v in np.polyfit(index, t, 1))
    # A rate more than 1 % off the nominal is a broken clock, not a crystal's drift.
    if not (slope > 0 and 0.99 < 1.0 / (slope * nominal) < 1.01):
        return Stretch(start, stop, float(np.median(t - index / nominal)), nominal)
    return Stretch(start, stop, t0, 1.0 / slope)


def check_channel(name: str, x: np.ndarray, rate: float) -> str:
    """OK, FLAT or SHORT for one peripheral channel over one stretch (module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < MIN_SECONDS.get(name, 1.0) * rate:
        return SHORT
    lo, mid, hi = np.percentile(x, [0.5, 50.0, 99.5])
    if hi - lo <= FLAT_RELATIVE * max(1.0, abs(mid)):
        return FLAT
    cutoff = LOWPASS_HZ.get(name)
    if name in RHYTHMIC and cutoff is not None and rate / 2 > 2 * cutoff:
        centred = detrend(x)
        band = lowpass(centred, rate, cutoff)
        per_hz_band = float(np.var(band)) / cutoff
        per_hz_above = float(np.var(centred - band)) / (rate / 2 - cutoff)
        if per_hz_band < SNR_MIN * per_hz_above:
            return FLAT
    return OK
