"""Peripheral physiology features of MMME Table 6 over windows (default 10 s around an apex).

Every signal is preprocessed and run through NeuroKit2 once per recording (`derive_physio`):
R-peaks, pulse peaks, breathing extrema, SCRs and the tonic level become short derived series, and
window features are read off them (`window_features`), so many windows cost little more
than one. Features of channels that are absent are left out of the result.

NaN means "not defined in this window", never 0:
- HRV indices need >= MIN_BEATS R-peaks inside the window (3 intervals); SDNN etc. from
  `nk.hrv_time`, SD1/SD2, PSS and PIP from `nk.hrv_nonlinear`.
- LF/HF come from `nk.hrv_frequency` with its defaults (Welch on the 100 Hz-interpolated
  R-R series, lowest frequency 4 / window length): HF needs windows >= ~15 s and LF >= ~40 s,
  so at the paper's 10 s every spectral index is NaN, as Table 3 shows "-" for
  long-window metrics. LFn, HFn and LF/HF are NaN unless both LF and HF exist, because
  NeuroKit2 otherwise normalises by the bands it has (HFn = 1.0 with LF missing).
- An SCR belongs to the window holding its peak. SCR amplitude / rise / half-recovery
  means are NaN in windows without one (half-recovery also when the SCR never got back to
  half its amplitude); the peak count is then 0.
- A window reaching past the recording is cut to the samples that exist.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import neurokit2 as nk
import numpy as np

from analysis.preprocessing import TARGET_RATE, lowpass, preprocess_physio

MIN_BEATS = 4  # fewer peaks and NeuroKit2's HRV functions fail or return NaN anyway
SCL_CUTOFF_HZ = 0.05  # tonic/phasic split (NeuroKit2 and AcqKnowledge default)
SCR_MIN_US = 0.01  # smallest SCR counted, the usual minimum amplitude (Boucsein 2012)

FEATURES_BY_CHANNEL: dict[str, tuple[str, ...]] = {
    "PPG": ("PPG_Rate_Mean",),
    "ECG": (
        "ECG_Rate_Mean",
        "HRV_SDNN",
        "HRV_SDSD",
        "HRV_RMSSD",
        "HRV_LF",
        "HRV_HF",
        "HRV_LFn",
        "HRV_HFn",
        "HRV_LFHF",
        "HRV_SD1SD2",
        "HRV_PSS",
        "HRV_PIP",
    ),
    "RSP": ("RSP_Rate_Mean", "RSP_Rate_SD", "RSP_Inhale_Exhale_Ratio"),
    "SKT": ("SKT_Mean", "SKT_SD", "SKT_Min", "SKT_Max"),
    "EDA": (
        "EDA_SCL_Change",
        "EDA_SCR_Peaks",
        "EDA_SCR_Amplitude_Mean",
        "EDA_SCR_RiseTime_Mean",
        "EDA_SCR_HalfRecovery_Mean",
    ),
}
_HRV_TIME = ("HRV_SDNN", "HRV_SDSD", "HRV_RMSSD")
_HRV_FREQ = ("HRV_LF", "HRV_HF", "HRV_LFn", "HRV_HFn", "HRV_LFHF")
_HRV_NONLINEAR = ("HRV_SD1SD2", "HRV_PSS", "HRV_PIP")


@dataclass(frozen=True)
class Beats:
    """Heart beats (ECG R-peaks or PPG systolic peaks) and the rate interpolated between them."""

    peaks: np.ndarray  # sample indices
    rate_bpm: np.ndarray  # per sample, monotone-cubic between beats


@dataclass(frozen=True)
class Breaths:
    """Breathing extrema, per-sample breathing rate and per-breath amplitude ratio."""

    peaks: np.ndarray  # sample indices of end-inhalation
    rate_bpm: np.ndarray  # breaths per minute, per sample
    inhale_exhale: np.ndarray  # per peak: (peak - trough before) / (peak - trough after)


@dataclass(frozen=True)
class Electrodermal:
    """Tonic skin-conductance level and the SCRs found on the phasic part."""

    tonic: np.ndarray  # µS per sample
    scr_peaks: np.ndarray  # sample indices
    scr_amplitude: np.ndarray  # µS, peak minus onset of the phasic signal
    scr_rise_time: np.ndarray  # s, onset -> peak
    scr_half_recovery: np.ndarray  # s, peak -> half amplitude (NaN if never reached)


@dataclass(frozen=True)
class PhysioDerived:
    """Everything windows are read from, for one clip at the processing rate."""

    rate: float
    n_samples: int
    ecg: Beats | None = None
    ppg: Beats | None = None
    rsp: Breaths | None = None
    eda: Electrodermal | None = None
    skt: np.ndarray | None = None  # preprocessed °C

    @property
    def channels(self) -> tuple[str, ...]:
        """Channels present, in Table 6 order."""
        have = {"PPG": self.ppg, "ECG": self.ecg, "RSP": self.rsp, "SKT": self.skt, "EDA": self.eda}
        return tuple(c for c in FEATURES_BY_CHANNEL if have[c] is not None)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the features `window_features` returns for this clip."""
        return tuple(f for c in self.channels for f in FEATURES_BY_CHANNEL[c])

    def heart_rate(self) -> tuple[np.ndarray, np.ndarray]:
        """ECG heart rate: (times in s from the first sample, bpm), monotone-cubic between
        R-peaks at the processing rate; ValueError without an ECG."""
        if self.ecg is None:
            raise ValueError("no ECG channel: no heart rate")
        return np.arange(self.n_samples) / self.rate, self.ecg.rate_bpm


def ecg_beats(ecg: np.ndarray, rate: float) -> Beats:
    """R-peaks of a preprocessed ECG (NeuroKit2 clean + peaks) and the interpolated heart rate."""
    cleaned = nk.ecg_clean(ecg, sampling_rate=rate)
    try:
        _, info = nk.ecg_peaks(cleaned, sampling_rate=rate)
    except (IndexError, ValueError):  # NeuroKit2's peak finders fail when there is no peak
        return _beats(np.zeros(0, np.int64), rate, len(ecg))
    return _beats(np.asarray(info["ECG_R_Peaks"], dtype=np.int64), rate, len(ecg))


def ppg_beats(ppg: np.ndarray, rate: float) -> Beats:
    """Systolic peaks of a preprocessed PPG (NeuroKit2 Elgendi) and the interpolated pulse rate."""
    cleaned = nk.ppg_clean(ppg, sampling_rate=rate)
    try:
        _, info = nk.ppg_peaks(cleaned, sampling_rate=rate)
    except (IndexError, ValueError):  # a flat pulse: "index 0 is out of bounds" in Elgendi
        return _beats(np.zeros(0, np.int64), rate, len(ppg))
    return _beats(np.asarray(info["PPG_Peaks"], dtype=np.int64), rate, len(ppg))


def _beats(peaks: np.ndarray, rate: float, n: int) -> Beats:
    if len(peaks) < 2:
        return Beats(peaks, np.full(n, np.nan))
    bpm = nk.signal_rate(
        peaks, sampling_rate=rate, desired_length=n, interpolation_method="monotone_cubic"
    )
    return Beats(peaks, np.asarray(bpm, dtype=np.float64))


def breaths(rsp: np.ndarray, rate: float) -> Breaths:
    """Breathing extrema (NeuroKit2 Khodadad 2018), rate and inhale/exhale amplitude ratios."""
    cleaned = np.asarray(nk.rsp_clean(rsp, sampling_rate=rate), dtype=np.float64)
    n = len(rsp)
    try:
        _, info = nk.rsp_peaks(cleaned, sampling_rate=rate)
    except IndexError:  # NeuroKit2 fails on a recording shorter than about one breath
        return Breaths(np.zeros(0, np.int64), np.full(n, np.nan), np.zeros(0))
    peaks = np.asarray(info["RSP_Peaks"], dtype=np.int64)
    troughs = np.asarray(info["RSP_Troughs"], dtype=np.int64)
    if len(troughs) < 2:
        return Breaths(peaks, np.full(n, np.nan), np.full(len(peaks), np.nan))
    bpm = np.asarray(nk.rsp_rate(cleaned, troughs=troughs, sampling_rate=rate), dtype=np.float64)
    # The trough before and after each peak; peaks at the clip edges lack one of them.
    after = np.searchsorted(troughs, peaks, side="right")
    ok = (after > 0) & (after < len(troughs))
    ratio = np.full(len(peaks), np.nan)
    pk = cleaned[peaks[ok]]
    inhale = pk - cleaned[troughs[after[ok] - 1]]
    exhale = pk - cleaned[troughs[after[ok]]]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio[ok] = np.where(exhale > 0, inhale / exhale, np.nan)
    return Breaths(peaks, bpm, ratio)


def electrodermal(eda: np.ndarray, rate: float) -> Electrodermal:
    """Tonic level and SCRs of a preprocessed EDA (high-pass split, NeuroKit2 SCR peaks).

    The split is NeuroKit2's default "highpass" method (2nd-order Butterworth at 0.05 Hz,
    as in AcqKnowledge), but run through `lowpass` for its long edge padding: with
    NeuroKit2's own padding the 20 s filter memory bent the tonic level over the last
    ~10 s of a clip (SCL change halved on a steady ramp). NeuroKit2 drops SCRs smaller
    than 10 % of the clip's largest, so the whole clip is processed at once; SCRs below
    SCR_MIN_US are dropped too, since without a real SCR the 10 % rule keeps noise.
    """
    tonic = lowpass(eda, rate, SCL_CUTOFF_HZ, order=2)
    try:
        _, info = nk.eda_peaks(eda - tonic, sampling_rate=rate)
    except ValueError:  # no SCR at all: "zero-size array to reduction operation maximum"
        empty = np.zeros(0)
        return Electrodermal(tonic, np.zeros(0, np.int64), empty, empty, empty)
    peaks = np.asarray(info["SCR_Peaks"], dtype=np.float64)
    amplitude = np.asarray(info["SCR_Amplitude"], dtype=np.float64)
    ok = np.isfinite(peaks) & (amplitude >= SCR_MIN_US)
    return Electrodermal(
        tonic=tonic,
        scr_peaks=peaks[ok].astype(np.int64),
        scr_amplitude=amplitude[ok],
        scr_rise_time=np.asarray(info["SCR_RiseTime"], dtype=np.float64)[ok],
        scr_half_recovery=np.asarray(info["SCR_RecoveryTime"], dtype=np.float64)[ok],
    )


def derive_physio(
    signals: dict[str, np.ndarray], rate: float, target: float = TARGET_RATE
) -> PhysioDerived:
    """Preprocess raw channels (ECG, EDA, RSP, SKT, PPG; others ignored) and derive their series."""
    clean = preprocess_physio(signals, rate, target)
    if not clean:
        raise ValueError(f"no physiology channel among {sorted(signals)}")
    n = min(len(x) for x in clean.values())
    clean = {k: v[:n] for k, v in clean.items()}
    return PhysioDerived(
        rate=target,
        n_samples=n,
        ecg=ecg_beats(clean["ECG"], target) if "ECG" in clean else None,
        ppg=ppg_beats(clean["PPG"], target) if "PPG" in clean else None,
        rsp=breaths(clean["RSP"], target) if "RSP" in clean else None,
        eda=electrodermal(clean["EDA"], target) if "EDA" in clean else None,
        skt=clean.get("SKT"),
    )


def window_features(
    derived: PhysioDerived, starts: np.ndarray, stops: np.ndarray
) -> dict[str, np.ndarray]:
    """Features over windows [start, stop) in seconds from the clip start: name -> (windows,)."""
    starts = np.atleast_1d(np.asarray(starts, dtype=np.float64))
    stops = np.atleast_1d(np.asarray(stops, dtype=np.float64))
    if starts.shape != stops.shape:
        raise ValueError("starts and stops differ in shape")
    out = {name: np.full(len(starts), np.nan) for name in derived.feature_names}
    fs = derived.rate
    lo = np.clip(np.ceil(starts * fs), 0, derived.n_samples).astype(np.int64)
    hi = np.clip(np.ceil(stops * fs), 0, derived.n_samples).astype(np.int64)
    for w, (i0, i1) in enumerate(zip(lo, hi, strict=True)):
        if i1 - i0 < 2:
            continue
        row: dict[str, float] = {}
        if derived.ppg is not None:
            row["PPG_Rate_Mean"] = _mean(derived.ppg.rate_bpm[i0:i1])
        if derived.ecg is not None:
            row["ECG_Rate_Mean"] = _mean(derived.ecg.rate_bpm[i0:i1])
            row |= _hrv(_inside(derived.ecg.peaks, i0, i1), fs)
        if derived.rsp is not None:
            r = derived.rsp.rate_bpm[i0:i1]
            row["RSP_Rate_Mean"] = _mean(r)
            row["RSP_Rate_SD"] = _sd(r)
            sel = (derived.rsp.peaks >= i0) & (derived.rsp.peaks < i1)
            row["RSP_Inhale_Exhale_Ratio"] = _mean(derived.rsp.inhale_exhale[sel])
        if derived.skt is not None:
            row |= skt_stats(derived.skt[i0:i1])
        if derived.eda is not None:
            row |= _eda(derived.eda, i0, i1)
        for name, value in row.items():
            out[name][w] = value
    return out


def physio_features(
    signals: dict[str, np.ndarray], rate: float, centers: np.ndarray, window: float = 10.0
) -> dict[str, np.ndarray]:
    """Table 6 features in windows of `window` s centred on `centers` (s from the clip start)."""
    derived = derive_physio(signals, rate)
    c = np.atleast_1d(np.asarray(centers, dtype=np.float64))
    return window_features(derived, c - window / 2, c + window / 2)


def skt_stats(x: np.ndarray) -> dict[str, float]:
    """Skin-temperature mean, sample SD (ddof=1), min and max of one window."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return {"SKT_Mean": np.nan, "SKT_SD": np.nan, "SKT_Min": np.nan, "SKT_Max": np.nan}
    return {
        "SKT_Mean": float(x.mean()),
        "SKT_SD": float(x.std(ddof=1)),
        "SKT_Min": float(x.min()),
        "SKT_Max": float(x.max()),
    }


def _eda(e: Electrodermal, i0: int, i1: int) -> dict[str, float]:
    sel = (e.scr_peaks >= i0) & (e.scr_peaks < i1)
    return {
        # Sum of the SCL derivative over the window = last minus first level.
        "EDA_SCL_Change": float(e.tonic[i1 - 1] - e.tonic[i0]),
        "EDA_SCR_Peaks": float(sel.sum()),
        "EDA_SCR_Amplitude_Mean": _mean(e.scr_amplitude[sel]),
        "EDA_SCR_RiseTime_Mean": _mean(e.scr_rise_time[sel]),
        "EDA_SCR_HalfRecovery_Mean": _mean(e.scr_half_recovery[sel]),
    }


def _inside(peaks: np.ndarray, i0: int, i1: int) -> np.ndarray:
    return peaks[(peaks >= i0) & (peaks < i1)]


def _hrv(peaks: np.ndarray, rate: float) -> dict[str, float]:
    """NeuroKit2 HRV indices of the R-peaks inside one window (NaN where undefined)."""
    out = dict.fromkeys(_HRV_TIME + _HRV_FREQ + _HRV_NONLINEAR, np.nan)
    if len(peaks) < MIN_BEATS:
        return out
    # Short windows make NeuroKit2 and numpy warn about empty bands and 0/0: the NaNs
    # they produce are the answer, the warnings are noise in a batch run.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = nk.hrv_time(peaks, sampling_rate=rate)
        f = nk.hrv_frequency(peaks, sampling_rate=rate)
        try:
            nl = nk.hrv_nonlinear(peaks, sampling_rate=rate)
        except (ZeroDivisionError, ValueError, IndexError):
            # Identical intervals (possible at 5 ms resolution) break its entropy and
            # fragmentation code; the three indices we keep are undefined there too.
            nl = None
    for name in _HRV_TIME:
        out[name] = float(t[name].iloc[0])
    for name in _HRV_FREQ:
        out[name] = float(f[name].iloc[0])
    if not (np.isfinite(out["HRV_LF"]) and np.isfinite(out["HRV_HF"])):
        out["HRV_LFn"] = out["HRV_HFn"] = out["HRV_LFHF"] = np.nan
    if nl is not None:
        for name in _HRV_NONLINEAR:
            out[name] = float(nl[name].iloc[0])
    return out


def _mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else np.nan


def _sd(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.std(ddof=1)) if len(x) > 1 else np.nan


def hr_slope_at(times: np.ndarray, t: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """Heart-rate slope (bpm/s) at `times`, the v_s of MMME eq. 12."""
    slope = np.gradient(hr, t)
    return np.interp(np.asarray(times, dtype=np.float64), t, slope)


def mean_hr_slope(t: np.ndarray, hr: np.ndarray, start: float | None = None,
                  end: float | None = None) -> float:
    """Clip mean of the heart-rate slope (bpm/s) over [start, end], Mean_HR_slope of eq. 12."""
    slope = np.gradient(hr, t)
    inside = (t >= (t[0] if start is None else start)) & (t <= (t[-1] if end is None else end))
    return float(np.nanmean(slope[inside] if inside.any() else slope))
