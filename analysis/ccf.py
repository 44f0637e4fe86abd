"""The Candidate Clip Filter (MMME 4.3, eq. 12): spotted intervals judged by the heart rate.

A micro candidate is kept when the heart-rate slope at its apex exceeds the clip's mean
slope; `apply_ccf` uses that rule either to confirm the spotter's sensitive tier ('rescue')
or to veto confident intervals as published ('veto').
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis.features_physio import hr_slope_at, mean_hr_slope
from analysis.spotting import SpottedInterval

CCF_MODES = ("rescue", "veto")


def candidate_clip_filter(
    intervals: Sequence[SpottedInterval],
    fps: float,
    hr_times: np.ndarray,
    hr: np.ndarray,
    clip_start: float = 0.0,
    clip_end: float | None = None,
    kinds: Sequence[str] = ("micro",),
) -> list[SpottedInterval]:
    """MMME eq. 12: keep a candidate only if the HR slope at its apex exceeds the clip's mean.

    hr_times are on the same clock as clip_start (the time of the clip's frame 0); the mean
    slope is over the HR samples within the clip. Kinds not listed pass unfiltered.
    """
    times, rate = np.asarray(hr_times, float), np.asarray(hr, float)
    if times.size < 2 or times.size != rate.size:
        raise ValueError("need at least two heart-rate samples, as many times as values")
    mean_slope = mean_hr_slope(times, rate, clip_start, clip_end)
    apexes = clip_start + np.array([iv.apex for iv in intervals], float) / fps
    slopes = hr_slope_at(apexes, times, rate)
    return [iv for iv, v in zip(intervals, slopes, strict=True)
            if iv.kind not in kinds or v > mean_slope]


def apply_ccf(
    spotted: Sequence[SpottedInterval],
    mode: str,
    fps: float,
    hr_times: np.ndarray | None,
    hr: np.ndarray | None,
    clip_start: float = 0.0,
    clip_end: float | None = None,
) -> list[SpottedInterval]:
    """The spotting result with the Candidate Clip Filter, in apex order.

    'rescue': every confident interval, plus the sensitive-tier ones whose apex eq. 12
    accepts (the filter can only add what the heart confirms). 'veto': the confident
    intervals eq. 12 accepts (MMME 4.3 as published). Without a heart rate (hr None), the
    confident intervals.
    """
    if mode not in CCF_MODES:
        raise ValueError(f"CCF mode must be one of {CCF_MODES}, not {mode!r}")
    confident = [s for s in spotted if s.confident]
    if hr is None or hr_times is None:
        return confident
    judged = [s for s in spotted if not s.confident] if mode == "rescue" else confident
    accepted = (
        set(candidate_clip_filter(judged, fps, hr_times, hr, clip_start, clip_end))
        if judged else set()
    )
    unjudged = set(confident) - set(judged)
    return [s for s in spotted if s in unjudged or s in accepted]
