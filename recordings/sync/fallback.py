"""Fallbacks for rows no trigger fit covers: LSL clock offsets (pyxdf), host receipt times.

See docs/sync.md, "Fallbacks: LSL clock offsets, host receipt times".
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from recordings.sync.clock_segments import SegmentFit
from recordings.sync.robust_fit import huber_line

HUBER_DELTA_S = 1e-4  # pyxdf's winsor threshold for the clock-offset fit
PLAUSIBLE_LATENCY_S = (-0.05, 5.0)  # host receipt minus fallback time must fall in here


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
