"""Fallbacks for rows no trigger fit covers: LSL clock offsets (pyxdf), host receipt times.

See docs/sync.md, "Fallbacks: LSL clock offsets, host receipt times".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from recordings.sync.clock_segments import SegmentFit
from recordings.sync.robust_fit import huber_line

HUBER_DELTA_S = 1e-4  # pyxdf's winsor threshold for the clock-offset fit
# Host receipt minus the session time LSL clock offsets give a sample: its median must lie
# below MAX_RECEIPT_LATENCY_S (LSL delivery: chunking, pulls, network) and its 1st percentile
# above -EARLY_RECEIPT_S (a sample is never received before it was taken; this much for
# the noise of stamps and offsets), or the offsets do not describe the stream's timestamps.
MAX_RECEIPT_LATENCY_S = 0.5
EARLY_RECEIPT_S = 0.01


@dataclass(frozen=True)
class ReceiptCheck:
    """Host receipt minus a fallback's session time over a run: all a fallback can check."""

    early: float  # s: 1st percentile
    typical: float  # s: median
    late: float  # s: 99th percentile

    @property
    def plausible(self) -> bool:
        """True when samples are received after their session time, but not long after."""
        return self.early >= -EARLY_RECEIPT_S and self.typical <= MAX_RECEIPT_LATENCY_S

    @property
    def accuracy(self) -> float:
        """The receipt-time spread, from the sample instant (0) to the late end: the error the
        evidence leaves possible (receipt times cannot show a constant delivery delay)."""
        return self.late - min(self.early, 0.0)

    def refusal(self) -> str:
        """Why LSL clock offsets were not used (when not plausible)."""
        if self.early < -EARLY_RECEIPT_S:
            where = f"{-self.early * 1e3:.0f} ms before the samples were taken"
        else:
            where = f"{self.typical * 1e3:.0f} ms after the samples (median)"
        return (f"LSL clock offsets would put host receipt {where}, not within "
                f"0-{MAX_RECEIPT_LATENCY_S * 1e3:.0f} ms: they do not describe this stream's "
                "timestamps (a device clock LSL does not know?)")


def check_receipt(host: np.ndarray, times: np.ndarray) -> ReceiptCheck:
    """How host receipt times lie after the session times a fallback gave the same rows."""
    early, typical, late = np.percentile(host - times, [1, 50, 99])
    return ReceiptCheck(float(early), float(typical), float(late))


@dataclass(frozen=True)
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


class FallbackTimes(NamedTuple):
    """A fallback's session time for every row (NaN outside the runs), its fit per run (bound:
    ReceiptCheck.accuracy), and why LSL clock offsets were refused where they were."""

    times: np.ndarray
    fits: list[SegmentFit]
    refusals: list[str]


class _RunTimes(NamedTuple):
    """Session times of one run's rows, the map that gave them, why offsets were refused."""

    times: np.ndarray
    fit: SegmentFit
    refusal: str = ""


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
    collection = host - value
    cuts = np.flatnonzero((np.diff(collection) < 0) | (np.abs(np.diff(value)) > 1.0)) + 1
    bounds = np.concatenate(([0], cuts, [len(host)]))
    segments = []
    for first, stop in itertools.pairwise(bounds):
        if stop - first > 1:
            a, b = huber_line(collection[first:stop], value[first:stop], HUBER_DELTA_S)
        else:
            a, b = float(value[first]), 0.0
        residual = value[first:stop] - (a + b * collection[first:stop])
        segments.append(OffsetSegment(
            int(first), int(stop), float(host[first]), float(host[stop - 1]), a, b,
            float(np.sqrt(np.mean(residual**2))), float(np.max(np.abs(residual)))))
    return segments


def offsets_fallback(device: np.ndarray, host: np.ndarray, runs: list[tuple[int, int]],
                     offsets: np.ndarray) -> FallbackTimes:
    """Session times from LSL clock offsets: t = t_device + offset(t_device), per clock run.

    Each run uses the offset segment that overlaps it most in host time. A run whose result
    fails the ReceiptCheck (the offsets do not describe these timestamps) falls back to host
    receipt times, as host_fallback does.
    """
    segments = fit_clock_offsets(offsets)
    return _per_run(len(device), runs,
                    lambda start, end: _offsets_run(device, host, start, end, segments))


def host_fallback(device: np.ndarray, host: np.ndarray, runs: list[tuple[int, int]]
                  ) -> FallbackTimes:
    """Session times from host receipt: a robust line host ~ a + b * device per clock run.

    Biased late by the mean delivery latency (LSL, USB, buffering): a last resort.
    """
    return _per_run(len(device), runs,
                    lambda start, end: _host_run(device, host, start, end))


def _per_run(n_rows: int, runs: list[tuple[int, int]],
             fit_run: Callable[[int, int], _RunTimes]) -> FallbackTimes:
    """Every run's times in one array, and the runs' fits."""
    times = np.full(n_rows, np.nan)
    fits = []
    refusals = []
    for start, end in runs:
        run = fit_run(start, end)
        times[start:end] = run.times
        fits.append(run.fit)
        if run.refusal:
            refusals.append(run.refusal)
    return FallbackTimes(times, fits, refusals)


def _offsets_run(device: np.ndarray, host: np.ndarray, start: int, end: int,
                 segments: list[OffsetSegment]) -> _RunTimes:
    """Rows [start, end) by the clock-offset segment overlapping them most, if plausible."""
    if not segments:
        return _host_run(device, host, start, end)
    segment = _overlapping(segments, float(host[start]), float(host[end - 1]))
    run_device = device[start:end]
    times = run_device + segment.a + segment.b * run_device
    check = check_receipt(host[start:end], times)
    if not check.plausible:
        return _host_run(device, host, start, end)._replace(refusal=check.refusal())
    return _RunTimes(times, SegmentFit(
        start, end, float(run_device[0]), float(run_device[-1]), segment.a, 1.0 + segment.b,
        0, segment.rms_residual, segment.max_residual, check.accuracy, "lsl_offsets"))


def _overlapping(segments: list[OffsetSegment], host_start: float, host_end: float
                 ) -> OffsetSegment:
    """The segment overlapping [host_start, host_end] most (ties: the one nearest it)."""
    def score(s: OffsetSegment) -> tuple[float, float]:
        overlap = min(host_end, s.host_end) - max(host_start, s.host_start)
        return overlap, -min(abs(s.host_start - host_start), abs(s.host_end - host_end))
    return max(segments, key=score)


def _host_run(device: np.ndarray, host: np.ndarray, start: int, end: int) -> _RunTimes:
    """Rows [start, end) by a robust line through their host receipt times."""
    run_device, run_host = device[start:end], host[start:end]
    if len(run_device) > 1 and np.ptp(run_device) > 0:
        a, b = huber_line(run_device, run_host, 1e-3)
    else:
        a, b = float(np.median(run_host - run_device)), 1.0
    times = a + b * run_device
    residual = run_host - times
    return _RunTimes(times, SegmentFit(
        start, end, float(run_device[0]), float(run_device[-1]), a, b, 0,
        float(np.sqrt(np.mean(residual**2))), float(np.max(np.abs(residual))),
        check_receipt(run_host, times).accuracy, "host_time"))
