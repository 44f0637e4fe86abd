"""Preprocessing, physiology window features and EEG band powers on signals with known answers."""

from __future__ import annotations

import neurokit2 as nk
import numpy as np
import pytest
import scipy.signal as ss

from analysis import features_physio
from analysis.features_eeg import BAND_NAMES, band_powers_between, eeg_band_powers, eeg_channels
from analysis.features_physio import (
    FEATURES_BY_CHANNEL,
    derive_physio,
    hr_slope_at,
    mean_hr_slope,
    physio_features,
    skt_stats,
)
from analysis.preprocessing import LOWPASS_HZ, TARGET_RATE, downsample, preprocess_signal
from drivers.sim.physio import PHYSIO_LABELS, simulate_physio
from drivers.sim.scenario import make_scenario

FS = 1000.0


def _t(seconds: float, rate: float = FS) -> np.ndarray:
    return np.arange(int(seconds * rate)) / rate


def _amplitude(y: np.ndarray, f: float, rate: float) -> float:
    """Amplitude of the f Hz component (least squares, edges trimmed)."""
    t = np.arange(len(y)) / rate
    k = slice(len(y) // 10, -len(y) // 10)
    basis = np.column_stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)])[k]
    coef, *_ = np.linalg.lstsq(basis, y[k], rcond=None)
    return float(np.hypot(*coef))


# --- preprocessing -----------------------------------------------------------------------

def test_downsample_to_200_hz_keeps_levels_at_the_edges() -> None:
    x = 6.0 + 0.01 * _t(20.0)  # EDA-like level and drift
    y = downsample(x, FS)
    assert len(y) == 4000
    # Line padding: no edge transient from zero padding on a 6 µS level.
    np.testing.assert_allclose(y, 6.0 + 0.01 * _t(20.0, TARGET_RATE), atol=1e-6)


@pytest.mark.parametrize("name", sorted(LOWPASS_HZ))
def test_lowpass_passes_below_and_stops_above_cutoff(name: str) -> None:
    fc = LOWPASS_HZ[name]
    t = _t(60.0)
    f_pass, f_stop = 0.3 * fc, 2.0 * fc
    y = preprocess_signal(name, np.sin(2 * np.pi * f_pass * t) + np.sin(2 * np.pi * f_stop * t),
                          FS)
    assert _amplitude(y, f_pass, TARGET_RATE) == pytest.approx(1.0, abs=0.01)
    # 4th order forwards and backwards: |H(2 fc)|^2 = 1 / (1 + 2^8) ~ 0.004.
    assert _amplitude(y, f_stop, TARGET_RATE) < 0.006


def test_ecg_lowpass_spectrum_of_white_noise() -> None:
    x = np.random.default_rng(1).standard_normal(int(60 * FS))
    y = preprocess_signal("ECG", x, FS)
    f, p = ss.welch(y, fs=TARGET_RATE, nperseg=1024)
    passband = p[(f > 5) & (f < 30)].mean()
    assert p[(f > 60) & (f < 95)].mean() < 1e-3 * passband  # > 30 dB down above 60 Hz
    # Forwards and backwards: amplitude 0.5 (power 0.25) at the cut-off.
    assert p[(f > 38) & (f < 42)].mean() == pytest.approx(0.25 * passband, rel=0.15)


def test_detrend_only_on_ac_channels() -> None:
    ramp = 33.0 + 0.01 * _t(30.0)
    skt = preprocess_signal("SKT", ramp, FS)
    np.testing.assert_allclose(skt, 33.0 + 0.01 * _t(30.0, TARGET_RATE), atol=1e-6)
    rsp = preprocess_signal("RSP", ramp, FS)
    assert np.abs(rsp).max() < 1e-6


# --- physiology features -----------------------------------------------------------------

def test_heart_rate_of_simulated_ecg_at_70_bpm() -> None:
    ecg = nk.ecg_simulate(duration=60, sampling_rate=1000, heart_rate=70, random_state=1)
    f = physio_features({"ECG": ecg}, FS, np.array([10.0, 20.0, 30.0, 40.0, 50.0]))
    np.testing.assert_allclose(f["ECG_Rate_Mean"], 70.0, atol=1.0)
    # ECGSYN adds RSA/Mayer variability of ~10-15 ms SDNN; 10 s holds ~11 beats.
    assert np.all((f["HRV_SDNN"] > 3) & (f["HRV_SDNN"] < 30))
    assert np.all(np.isfinite(f["HRV_SD1SD2"]) & np.isfinite(f["HRV_PIP"]))
    assert set(f) == set(FEATURES_BY_CHANNEL["ECG"])
    t, hr = derive_physio({"ECG": ecg}, FS).heart_rate()
    assert t[1] - t[0] == pytest.approx(1 / TARGET_RATE)
    assert np.median(hr) == pytest.approx(70.0, abs=1.0)


def test_spectral_hrv_is_nan_in_short_windows_and_defined_in_long_ones() -> None:
    ecg = nk.ecg_simulate(duration=60, sampling_rate=1000, heart_rate=70, random_state=1)
    f = physio_features({"ECG": ecg}, FS, np.array([15.0, 30.0]), window=10.0)
    for name in ("HRV_LF", "HRV_HF", "HRV_LFn", "HRV_HFn", "HRV_LFHF"):
        assert np.isnan(f[name]).all(), name
    f = physio_features({"ECG": ecg}, FS, np.array([30.0]), window=60.0)
    lf, hf = f["HRV_LF"][0], f["HRV_HF"][0]
    assert lf > 0 and hf > 0
    assert f["HRV_LFHF"][0] == pytest.approx(lf / hf)
    assert f["HRV_LFn"][0] + f["HRV_HFn"][0] <= 1.0


def test_pulse_rate_of_simulated_ppg() -> None:
    ppg = nk.ppg_simulate(duration=60, sampling_rate=1000, heart_rate=70, random_state=1)
    f = physio_features({"PPG": ppg}, FS, np.array([10.0, 30.0, 50.0]))
    np.testing.assert_allclose(f["PPG_Rate_Mean"], 70.0, atol=1.0)
    assert list(f) == ["PPG_Rate_Mean"]


def test_breathing_rate_and_symmetric_amplitudes() -> None:
    t = _t(60.0)
    rsp = np.sin(2 * np.pi * 0.25 * t)  # 15 breaths/min, inhale depth = exhale depth
    f = physio_features({"RSP": rsp}, FS, np.array([15.0, 30.0, 45.0]))
    np.testing.assert_allclose(f["RSP_Rate_Mean"], 15.0, atol=0.2)
    assert np.all(f["RSP_Rate_SD"] < 0.2)
    np.testing.assert_allclose(f["RSP_Inhale_Exhale_Ratio"], 1.0, atol=0.03)


def test_skt_stats_exact() -> None:
    s = skt_stats(np.array([30.0, 31.0, 32.0, 33.0]))
    assert s == {"SKT_Mean": 31.5, "SKT_SD": pytest.approx(np.sqrt(5 / 3)), "SKT_Min": 30.0,
                 "SKT_Max": 33.0}
    assert np.isnan(skt_stats(np.array([30.0]))["SKT_Mean"])


def test_skt_window_of_a_ramp() -> None:
    skt = 33.0 + 0.01 * _t(60.0)
    f = physio_features({"SKT": skt}, FS, np.array([30.0]))  # window [25, 35) s at 200 Hz
    t = 25.0 + np.arange(2000) / TARGET_RATE
    assert f["SKT_Mean"][0] == pytest.approx(33.0 + 0.01 * t.mean(), abs=1e-6)
    assert f["SKT_SD"][0] == pytest.approx(0.01 * t.std(ddof=1), abs=1e-6)
    assert f["SKT_Min"][0] == pytest.approx(33.25, abs=1e-6)
    assert f["SKT_Max"][0] == pytest.approx(33.0 + 0.01 * t[-1], abs=1e-6)


def _planted_eda(onsets: list[float], amps: list[float], seconds: float = 60.0) -> np.ndarray:
    """Tonic 5 µS plus Bateman SCRs (rise 0.75 s, decay 4 s: peak ~1.55 s after onset)."""
    t = _t(seconds)
    eda = 5.0 + 0.003 * np.random.default_rng(0).standard_normal(len(t))
    for on, a in zip(onsets, amps, strict=True):
        tau = np.clip(t - on, 0.0, None)
        k = np.exp(-tau / 4.0) - np.exp(-tau / 0.75)
        eda += a * k / k.max()
    return eda


def test_scr_count_amplitude_and_timing_of_planted_scrs() -> None:
    eda = _planted_eda([8.0, 13.0, 30.0], [0.5, 0.3, 0.4])
    f = physio_features({"EDA": eda}, FS, np.array([10.0, 30.0, 50.0]), window=20.0)
    np.testing.assert_array_equal(f["EDA_SCR_Peaks"], [2, 1, 0])
    # Isolated SCR at 30 s: the high-pass phasic split shaves ~8 % off its 0.4 µS.
    assert f["EDA_SCR_Amplitude_Mean"][1] == pytest.approx(0.4, rel=0.12)
    assert f["EDA_SCR_RiseTime_Mean"][1] == pytest.approx(1.55, abs=0.2)
    assert f["EDA_SCR_HalfRecovery_Mean"][1] == pytest.approx(3.1, abs=0.4)
    # Amplitude is peak minus onset: the 0.3 µS SCR starts on the 0.5 µS one's decay.
    assert 0.25 < f["EDA_SCR_Amplitude_Mean"][0] < 0.4
    assert np.isnan(f["EDA_SCR_Amplitude_Mean"][2])  # no SCR: undefined, not 0


def test_scl_change_of_a_ramp_up_to_the_clip_edges_and_no_noise_scrs() -> None:
    t = _t(60.0)
    eda = 5.0 + 0.02 * t + 0.003 * np.random.default_rng(0).standard_normal(len(t))
    f = physio_features({"EDA": eda}, FS, np.array([5.0, 30.0, 55.0]))
    np.testing.assert_allclose(f["EDA_SCL_Change"], 0.2, atol=0.005)  # 0.02 µS/s x 10 s
    np.testing.assert_array_equal(f["EDA_SCR_Peaks"], 0)  # noise is not an SCR


def test_an_eda_without_any_peak_has_no_scr() -> None:
    """A few seconds of steady EDA (a short continuation after a crash): NeuroKit2 raised on
    its phasic part, which has no local maximum; now there is simply no SCR."""
    t = np.arange(0.0, 3.0, 1.0 / TARGET_RATE)
    for eda in (5.0 + 0.02 * t, 5.0 - 0.05 * t):
        found = features_physio.electrodermal(eda, TARGET_RATE)
        assert len(found.scr_peaks) == len(found.scr_amplitude) == 0
        assert len(found.tonic) == len(eda)


def test_signals_are_processed_once_for_many_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = features_physio.nk.ecg_peaks
    monkeypatch.setattr(features_physio.nk, "ecg_peaks",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    sc = make_scenario(2, duration=60.0)
    x, labels, _ = simulate_physio(sc)
    sig = {lb: x[:, i] for i, lb in enumerate(labels)} | {"DIGITAL": np.zeros(len(x))}
    f = physio_features(sig, FS, np.linspace(5.0, 55.0, 10))
    assert len(calls) == 1
    assert list(f) == [n for c in ("PPG", "ECG", "RSP", "SKT", "EDA")
                       for n in FEATURES_BY_CHANNEL[c]]
    assert all(v.shape == (10,) for v in f.values())
    assert set(PHYSIO_LABELS) == set(FEATURES_BY_CHANNEL)


def test_hr_slope_helpers() -> None:
    t = np.arange(0.0, 10.0, 0.01)
    hr = 60.0 + 2.0 * t + 3.0 * np.sin(t)
    slopes = hr_slope_at(np.array([1.0, np.pi]), t, hr)
    np.testing.assert_allclose(slopes, [2.0 + 3.0 * np.cos(1.0), -1.0], atol=1e-3)
    # Mean of the derivative = net change over the span.
    assert mean_hr_slope(t, hr) == pytest.approx((hr[-1] - hr[0]) / t[-1], abs=0.01)


def test_heart_rate_rises_at_simulated_me_apexes() -> None:
    sc = make_scenario(4, duration=180.0, micro_per_minute=8.0)
    x, labels, _ = simulate_physio(sc)
    t, hr = derive_physio({"ECG": x[:, labels.index("ECG")]}, FS).heart_rate()
    apexes = sc.apexes(None)
    above = hr_slope_at(apexes, t, hr) > mean_hr_slope(t, hr)
    assert len(apexes) >= 10
    assert above.mean() >= 0.7  # MMME 4.3: 73 % on real data; the simulator aims higher


# --- EEG ---------------------------------------------------------------------------------

def test_alpha_dominates_a_10_hz_sine_and_powers_are_in_uv2() -> None:
    t = _t(20.0)
    eeg = np.column_stack([10.0 * np.sin(2 * np.pi * 10.0 * t),
                           4.0 * np.sin(2 * np.pi * 20.0 * t), np.zeros_like(t)])
    p = eeg_band_powers(eeg, FS, np.array([5.0, 10.0, 15.0]))
    assert p.shape == (3, 3, len(BAND_NAMES))
    alpha, beta = BAND_NAMES.index("alpha"), BAND_NAMES.index("beta")
    np.testing.assert_allclose(p[:, 0, alpha], 50.0, rtol=0.02)  # A^2 / 2 µV²
    np.testing.assert_allclose(p[:, 1, beta], 8.0, rtol=0.02)
    others = np.delete(p[:, 0, :], alpha, axis=1)
    assert others.max() < 0.01 * 50.0
    assert np.all(p[:, 2, :] == 0.0)


def test_band_powers_of_short_or_outside_windows() -> None:
    eeg = np.random.default_rng(0).standard_normal((5000, 2))
    p = band_powers_between(eeg, FS, np.array([0.0, 4.5, 10.0]), np.array([3.0, 5.0, 12.0]))
    assert np.isfinite(p[0]).all()
    assert np.isnan(p[1]).all() and np.isnan(p[2]).all()  # 0.5 s; past the end
    # White noise of unit variance: density 2/fs per Hz, so a band of B Hz holds 2B/fs.
    np.testing.assert_allclose(p[0, :, BAND_NAMES.index("beta")], 2 * 16 / FS, rtol=0.25)


def test_trigger_channel_dropped() -> None:
    data, labels = eeg_channels(np.zeros((10, 3)), ["FZ", "CZ", "TRIGGER"])
    assert data.shape == (10, 2) and labels == ["FZ", "CZ"]
