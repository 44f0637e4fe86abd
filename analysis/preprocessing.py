"""Physiology preprocessing (MMME 4.1): downsample to 200 Hz, detrend, zero-phase low-pass.

Per channel (cut-offs in Hz, 4th-order Butterworth applied forwards and backwards, so the
cut-off is where the amplitude is halved, -6 dB, and the roll-off is 48 dB/octave):

| channel | detrend | low-pass | why |
|---|---|---|---|
| ECG | linear | 40 (DESIGN) | QRS energy sits below 40 Hz; removes EMG and mains |
| EDA | no | 5 (DESIGN) | SCRs rise over ~1 s; the level (µS) is a feature |
| RSP | linear | 1 (DESIGN) | breathing is 0.1-0.5 Hz |
| PPG | linear | 8 | pulse shape lives below ~8 Hz (NeuroKit2's Elgendi band edge) |
| SKT | no | 1 | temperature moves over seconds; only sensor noise is faster |

DESIGN says "detrend" for all, but a linear detrend would remove the skin-conductance
level and the absolute skin temperature, which Table 6 / Table 3 report (SCL change,
SKT mean/min/max in °C): EDA and SKT therefore keep their level.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.signal as ss

TARGET_RATE = 200.0  # Hz, MMME 4.1
FILTER_ORDER = 4  # doubled by forward-backward filtering
LOWPASS_HZ: dict[str, float] = {"ECG": 40.0, "EDA": 5.0, "RSP": 1.0, "PPG": 8.0, "SKT": 1.0}
DETRENDED: frozenset[str] = frozenset({"ECG", "RSP", "PPG"})


def downsample(x: np.ndarray, rate: float, target: float = TARGET_RATE) -> np.ndarray:
    """Resample `x` (along axis 0) from `rate` to `target` Hz with an anti-alias FIR."""
    if target > rate:
        raise ValueError(f"target rate {target} Hz is above the signal's {rate} Hz")
    ratio = Fraction(target / rate).limit_denominator(1000)
    if ratio == 1:
        return np.asarray(x, dtype=np.float64)
    # padtype="line" continues the signal's trend at the edges: zero padding would make
    # edge transients on signals with a large level (EDA ~6 µS, SKT ~33 °C).
    return ss.resample_poly(
        np.asarray(x, dtype=np.float64), ratio.numerator, ratio.denominator, axis=0, padtype="line"
    )


def detrend(x: np.ndarray) -> np.ndarray:
    """Remove the least-squares line (along axis 0)."""
    return ss.detrend(np.asarray(x, dtype=np.float64), axis=0, type="linear")


def lowpass(x: np.ndarray, rate: float, cutoff: float, order: int = FILTER_ORDER) -> np.ndarray:
    """Zero-phase Butterworth low-pass (along axis 0)."""
    x = np.asarray(x, dtype=np.float64)
    sos = ss.butter(order, cutoff, btype="lowpass", fs=rate, output="sos")
    # Odd padding continues a linear trend exactly, but only if it is longer than the
    # filter's memory (a few periods of the cut-off); scipy's default (15 samples) bends
    # slow channels (SKT at 1 Hz) at the clip edges.
    padlen = min(x.shape[0] - 1, int(np.ceil(3.0 * rate / cutoff)))
    return ss.sosfiltfilt(sos, x, axis=0, padlen=padlen)


def preprocess_signal(
    name: str, x: np.ndarray, rate: float, target: float = TARGET_RATE
) -> np.ndarray:
    """Downsample, detrend (AC channels) and low-pass one named channel (see module table)."""
    if name not in LOWPASS_HZ:
        raise ValueError(f"unknown physiology channel {name!r}; expected one of {list(LOWPASS_HZ)}")
    y = downsample(x, rate, target)
    if name in DETRENDED:
        y = detrend(y)
    return lowpass(y, target, LOWPASS_HZ[name])


def preprocess_physio(
    signals: dict[str, np.ndarray], rate: float, target: float = TARGET_RATE
) -> dict[str, np.ndarray]:
    """Preprocess every known channel of `signals` (name -> 1-D array); others are dropped."""
    return {
        name: preprocess_signal(name, x, rate, target)
        for name, x in signals.items()
        if name in LOWPASS_HZ
    }
