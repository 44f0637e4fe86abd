"""Per-channel flags for the live views, Qt-free: flat, saturated or very noisy channels.

The rule, over the last FLAG_WINDOW_S seconds of each channel (also the views' tooltip):
- flat: peak-to-peak at most FLAT_PTP in the channel's unit (1 µV for EEG: no electrode, or
  a broken lead); units without a figure here are flat only when exactly constant;
- saturated: at least SATURATED_SHARE of the samples sit exactly on the window's highest or
  lowest value (an amplifier at its rail) while the channel is not flat;
- noisy: among at least MIN_CHANNELS channels of one unit (EEG), a standard deviation above
  NOISY_FACTOR times the median of those channels' standard deviations (a loose electrode,
  line noise, muscle).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FLAG_WINDOW_S = 5.0
FLAT_PTP = {"µV": 1.0, "uV": 1.0, "mV": 1e-3, "V": 1e-6}
SATURATED_SHARE = 0.02
NOISY_FACTOR = 5.0
MIN_CHANNELS = 4
MIN_SAMPLES = 50  # fewer samples than this say nothing yet
FLAT, SATURATED, NOISY = "flat", "saturated", "noisy"
RULE = (f"Flags over the last {FLAG_WINDOW_S:g} s: flat = peak-to-peak <= 1 µV (EEG; other "
        f"units: constant); saturated = >= {SATURATED_SHARE:.0%} of samples exactly at the "
        f"window's maximum or minimum; noisy = SD > {NOISY_FACTOR:g} x the median SD of the "
        f"stream's channels of the same unit (>= {MIN_CHANNELS} channels).")


def channel_flags(data: np.ndarray, units: Sequence[str]) -> list[str]:
    """One flag per column of data (n samples, channels): flat, saturated, noisy or ''."""
    n, channels = data.shape
    flags = [""] * channels
    if n < MIN_SAMPLES:
        return flags
    data = np.asarray(data, np.float64)
    high, low = data.max(axis=0), data.min(axis=0)
    ptp = high - low
    at_rail = np.maximum((data == high).sum(axis=0), (data == low).sum(axis=0)) / n
    sd = data.std(axis=0)
    for c in range(channels):
        if ptp[c] <= FLAT_PTP.get(units[c], 0.0):
            flags[c] = FLAT
        elif at_rail[c] >= SATURATED_SHARE:
            flags[c] = SATURATED
    for unit in set(units):
        same = [c for c in range(channels) if units[c] == unit and not flags[c]]
        if len(same) < MIN_CHANNELS:
            continue
        typical = float(np.median(sd[same]))
        for c in same:
            if typical > 0 and sd[c] > NOISY_FACTOR * typical:
                flags[c] = NOISY
    return flags


def flags_text(labels: Sequence[str], flags: Sequence[str]) -> str:
    """'flat: O1; noisy: T7, T8' (or 'all channels look fine')."""
    groups = {kind: [lab for lab, f in zip(labels, flags, strict=True) if f == kind]
              for kind in (FLAT, SATURATED, NOISY)}
    parts = [f"{kind}: {', '.join(names)}" for kind, names in groups.items() if names]
    return "; ".join(parts) if parts else "all channels look fine"
