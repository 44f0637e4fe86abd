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
PLAUSIBLE_LATENCY_S = (-0.05, 5.0)  # host receipt minus fallback time must fall in here


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
    """A fallback's session time for every row (NaN outside the runs) and its fit per run."""

    times: np.ndarray
    fits: list[SegmentFit]


class _RunTimes(NamedTuple):
    """Session times of one run's rows and the map that gave them."""

    times: np.ndarray
    fit: SegmentFit


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
    would put host receipt outside PLAUSIBLE_LATENCY_S of the sample (the offsets do not
    describe these timestamps) falls back to host receipt times, as host_fallback does.
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
    for start, end in runs:
        run = fit_run(start, end)
        times[start:end] = run.times
        fits.append(run.fit)
    return FallbackTimes(times, fits)


def _offsets_run(device: np.ndarray, host: np.ndarray, start: int, end: int,
                 segments: list[OffsetSegment]) -> _RunTimes:
    """Rows [start, end) by the clock-offset segment overlapping them most, if plausible."""
    if not segments:
        return _host_run(device, host, start, end)
    segment = _overlapping(segments, float(host[start]), float(host[end - 1]))
    run_device = device[start:end]
    times = run_device + segment.a + segment.b * run_device
    latency = float(np.median(host[start:end] - times))
    if not PLAUSIBLE_LATENCY_S[0] <= latency <= PLAUSIBLE_LATENCY_S[1]:
        return _host_run(device, host, start, end)
    return _RunTimes(times, SegmentFit(
        start, end, float(run_device[0]), float(run_device[-1]), segment.a, 1.0 + segment.b,
        0, segment.rms_residual, segment.max_residual, float("nan"), "lsl_offsets"))


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
        float(np.sqrt(np.mean(residual**2))), float(np.max(np.abs(residual))), float("nan"),
        "host_time"))
