"""EEG band power per channel over windows (filter bank of MMME 4.1 / DESIGN).

Power is read from a Welch spectrum rather than a bank of band-pass filters: one FFT pass
gives all five bands, and short epochs (3 s) suffer no filter edge transients. Each window
is cut into 2 s Hann segments (50 % overlap; the whole window if shorter), each segment's
mean is removed, and the density is summed over the bins f with lo <= f < hi times the bin
width: the band power in µV² (for µV input), so adjacent bands add up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.signal as ss

BANDS: dict[str, tuple[float, float]] = {
    "delta": (0.5, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 14.0),
    "beta": (14.0, 30.0),
    "gamma": (30.0, 47.0),
}
BAND_NAMES: tuple[str, ...] = tuple(BANDS)
SEGMENT_S = 2.0  # Welch segment: 0.5 Hz resolution, enough for the 0.5-4 Hz delta band
NON_EEG_LABELS: frozenset[str] = frozenset({"TRIGGER"})


def eeg_channels(samples: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Drop non-EEG columns (the TRIGGER channel) from (n, ch) samples; returns data, labels."""
    keep = [i for i, lb in enumerate(labels) if lb.upper() not in NON_EEG_LABELS]
    return np.asarray(samples)[:, keep], [labels[i] for i in keep]


def band_powers_between(
    eeg: np.ndarray, rate: float, starts: np.ndarray, stops: np.ndarray
) -> np.ndarray:
    """Band power (windows, channels, bands) over [start, stop) s; NaN for empty windows."""
    x = np.asarray(eeg)
    if x.ndim == 1:
        x = x[:, None]
    starts = np.atleast_1d(np.asarray(starts, dtype=np.float64))
    stops = np.atleast_1d(np.asarray(stops, dtype=np.float64))
    out = np.full((len(starts), x.shape[1], len(BANDS)), np.nan)
    lo = np.clip(np.ceil(starts * rate), 0, len(x)).astype(np.int64)
    hi = np.clip(np.ceil(stops * rate), 0, len(x)).astype(np.int64)
    for w, (i0, i1) in enumerate(zip(lo, hi, strict=True)):
        n = i1 - i0
        nper = min(round(SEGMENT_S * rate), int(n))
        # Below one cycle of the delta band's lower edge the spectrum has no bin to offer.
        if n < 2 or nper < rate / BANDS["delta"][0]:
            continue
        f, psd = ss.welch(
            x[i0:i1].astype(np.float64),
            fs=rate,
            window="hann",
            nperseg=nper,
            detrend="constant",
            axis=0,
        )
        df = f[1] - f[0]
        for b, (f_lo, f_hi) in enumerate(BANDS.values()):
            sel = (f >= f_lo) & (f < f_hi)
            out[w, :, b] = psd[sel].sum(axis=0) * df
    return out


def eeg_band_powers(
    eeg: np.ndarray, rate: float, centers: np.ndarray, window: float = 10.0
) -> np.ndarray:
    """Band power (centers, channels, 5 bands in BAND_NAMES order) in windows around centers."""
    c = np.atleast_1d(np.asarray(centers, dtype=np.float64))
    return band_powers_between(eeg, rate, c - window / 2, c + window / 2)
