"""Simulated-lab signal generators: clocks, scenario, physiology, trigger levels, EEG."""

from __future__ import annotations

import itertools
import json

import neurokit2 as nk
import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt, welch

from analysis.features_physio import physio_features
from core.expressions import EMOTION_AUS
from drivers.sim.clocks import DeviceClock, random_clock
from drivers.sim.eeg import EEG_LABELS_64, simulate_eeg
from drivers.sim.expression import Expression
from drivers.sim.physio import (
    PHYSIO_LABELS,
    PHYSIO_UNITS,
    physio_drive,
    simulate_physio,
    trigger_channel,
)
from drivers.sim.scenario import (
    EVENT_CODES,
    MIN_GAP_S,
    SYNC_CODE,
    Episode,
    Scenario,
    make_scenario,
)

# -- shared, computed once: the expensive parts of this file ------------------------------


@pytest.fixture(scope="module")
def session() -> Scenario:
    """Fifteen minutes: seven clips (one per emotion) and ~50 MEs for per-apex statistics."""
    return make_scenario(1, 900.0, micro_per_minute=8.0)


@pytest.fixture(scope="module")
def physio(session: Scenario) -> np.ndarray:
    return simulate_physio(session, rate=1000.0)[0]


@pytest.fixture(scope="module")
def eeg250(session: Scenario) -> np.ndarray:
    return simulate_eeg(session, rate=250.0)


# -- clocks -------------------------------------------------------------------------------


def test_clock_offset_and_drift_are_exact() -> None:
    c = DeviceClock(offset_s=12.5, drift_ppm=40.0)
    t = np.array([0.0, 1.0, 100.0, 3600.0])
    np.testing.assert_allclose(c.device_time(t), 12.5 + (1 + 40e-6) * t, rtol=0, atol=1e-12)
    # One hour at +40 ppm gains exactly 144 ms.
    assert c.device_time(3600.0) - 12.5 - 3600.0 == pytest.approx(0.144, abs=1e-9)
    np.testing.assert_allclose(c.physical_time(c.device_time(t)), t, atol=1e-9)


def test_clock_resets_restart_from_new_offset() -> None:
    c = DeviceClock(offset_s=100.0, drift_ppm=-20.0, resets=(50.0, 80.0),
                    reset_offsets_s=(3.0, 7.0))
    rate = 1 - 20e-6
    t = np.array([0.0, 49.999, 50.0, 60.0, 80.0, 90.0])
    want = [100.0, 100.0 + rate * 49.999, 3.0, 3.0 + rate * 10, 7.0, 7.0 + rate * 10]
    np.testing.assert_allclose(c.device_time(t), want, rtol=0, atol=1e-12)
    assert c.segment_of(t).tolist() == [0, 0, 1, 1, 2, 2]
    assert c.physical_time(3.0 + rate * 10, segment=1) == pytest.approx(60.0, abs=1e-9)
    segs = c.segments(120.0)
    assert [(s["start_phys"], s["end_phys"]) for s in segs] == [(0, 50), (50, 80), (80, 120)]
    for s in segs:  # a + b * t reproduces device_time inside each segment
        mid = (s["start_phys"] + s["end_phys"]) / 2
        assert s["a"] + s["b"] * mid == pytest.approx(float(c.device_time(mid)), abs=1e-9)
    # Without given offsets a restarted counter starts at zero.
    assert float(DeviceClock(5.0, resets=(10.0,)).device_time(10.0)) == 0.0
    with pytest.raises(ValueError):
        DeviceClock(resets=(5.0, 2.0))


def test_host_arrival_is_late_jittered_ordered_and_seeded() -> None:
    c = DeviceClock(latency_s=0.004, jitter_s=0.002)
    t = np.arange(20000) / 1000.0
    a = c.host_arrival(t, np.random.default_rng(3), monotonic=False)
    delay = a - t
    assert delay.min() >= 0.004
    assert delay.mean() == pytest.approx(0.006, abs=2e-4)  # latency + mean jitter
    assert np.any(np.diff(a) < 0)  # raw jitter reorders neighbours...
    m = c.host_arrival(t, np.random.default_rng(3))
    assert np.all(np.diff(m) >= 0) and np.all(m >= a)  # ...an in-order stream does not
    np.testing.assert_array_equal(m, c.host_arrival(t, np.random.default_rng(3)))


def test_random_clock_ranges_and_round_trip() -> None:
    rng = np.random.default_rng(9)
    clocks = [random_clock(rng, 500.0, 30.0, 0.01, 0.001, resets=(5.0,)) for _ in range(50)]
    assert all(0 <= c.offset_s < 500 and abs(c.drift_ppm) <= 30 for c in clocks)
    assert len({c.offset_s for c in clocks}) == 50
    c = clocks[0]
    d = json.loads(json.dumps(c.to_dict()))
    assert DeviceClock.from_dict(d) == c


# -- scenario -----------------------------------------------------------------------------


def test_scenario_is_deterministic_and_serialisable() -> None:
    a, b = make_scenario(7, 300.0), make_scenario(7, 300.0)
    assert a.to_dict() == b.to_dict()
    assert make_scenario(8, 300.0).to_dict() != a.to_dict()
    d = json.loads(json.dumps(a.to_dict()))
    assert Scenario.from_dict(d) == a


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_expression_timing_rules(seed: int) -> None:
    s = make_scenario(seed, 900.0, micro_per_minute=5.0, macro_per_minute=2.0)
    micro = [e for e in s.expressions if e.kind == "micro"]
    macro = [e for e in s.expressions if e.kind == "macro"]
    assert len(micro) >= 15 and len(macro) >= 5
    for e in micro:
        assert 0.04 <= e.offset - e.onset <= 0.5
        assert 0 < e.apex - e.onset <= 0.25 and e.apex < e.offset
    for e in macro:
        assert 0.5 <= e.offset - e.onset <= 4.0 and e.onset < e.apex < e.offset
    ex = s.expressions
    assert all(b.onset - a.offset >= MIN_GAP_S for a, b in itertools.pairwise(ex))
    inside = 0
    for e in ex:
        ep = next(p for p in s.episodes if p.start <= e.onset < p.neutral_end)
        assert e.offset <= ep.neutral_end and e.emotion == ep.emotion
        assert set(e.aus) <= set(EMOTION_AUS[e.emotion])
        inside += ep.start <= e.onset and e.offset <= ep.end
    assert inside / len(ex) >= 0.75  # mostly during the clips


def test_trials_follow_the_cmrr_layout() -> None:
    s = make_scenario(4, 1200.0)
    assert len(s.episodes) == 10
    for ep in s.episodes:
        assert ep.end - ep.start == pytest.approx(60.0)
        assert ep.report_end - ep.end == pytest.approx(25.0)
        assert ep.neutral_end - ep.report_end == pytest.approx(30.0)
    for a, b in itertools.pairwise(s.episodes):
        assert b.start > a.neutral_end


def test_sync_train_and_event_edges() -> None:
    s = make_scenario(2, 300.0, sync_period=1.0)
    t, c = s.trigger_arrays()
    assert np.all(np.diff(t) >= 2 * s.pulse_width - 1e-12)  # pulse + equal gap, never overlap
    sync = t[c == SYNC_CODE]
    assert len(sync) == 300
    nominal = 0.5 + np.arange(len(sync))
    lag = sync - nominal
    assert lag.min() >= 0 and lag.max() <= 2 * s.pulse_width + 1e-9  # only queued behind one
    assert np.mean(lag == 0) > 0.95
    events = c[c != SYNC_CODE]
    assert np.all((events >= 1) & (events <= 127))
    assert len(events) == len(s.markers)
    for m in s.markers:
        k = np.flatnonzero((c == m.code) & (t >= m.t) & (t <= m.t + 2 * s.pulse_width + 1e-9))
        assert k.size >= 1, m
    onset_codes = {EVENT_CODES[f"stim_onset_{ep.emotion}"] for ep in s.episodes}
    assert onset_codes <= set(events.tolist())


# -- trigger levels -----------------------------------------------------------------------


def test_trigger_channel_levels_on_known_samples() -> None:
    st = 0.0005 + np.arange(100) / 1000.0  # samples at 0.5 ms, 1.5 ms, ...
    out = trigger_channel(np.array([0.0102, 0.0500]), np.array([7, 255]), st, width_s=0.01)
    assert out.dtype == np.float32
    # 10.2 ms lies between samples 9 (9.5 ms) and 10 (10.5 ms): sample 10 is the first high.
    assert np.flatnonzero(out == 7).tolist() == list(range(10, 20))
    # 50.0 ms falls between 49.5 and 50.5 ms, so samples 50..59 carry 255.
    assert np.flatnonzero(out == 255).tolist() == list(range(50, 60))
    assert np.count_nonzero(out) == 20
    on_grid = trigger_channel(np.array([0.0205]), np.array([3]), st)
    assert np.flatnonzero(on_grid).tolist() == list(range(20, 30))  # edge on a sample counts


def test_trigger_channel_through_a_device_clock() -> None:
    s = make_scenario(5, 60.0)
    clock = DeviceClock(offset_s=1234.0, drift_ppm=80.0)
    edges, codes = s.trigger_arrays()
    rate = 1000.0
    sample_dev = 1234.0 + np.arange(int(60 * rate)) / rate  # the device samples its own grid
    level = trigger_channel(clock.device_time(edges), codes, sample_dev, s.pulse_width)
    rises = np.flatnonzero(np.diff(np.concatenate(([0.0], level))) > 0)
    assert len(rises) == len(edges)
    np.testing.assert_array_equal(level[rises], codes.astype(np.float32))
    lag = sample_dev[rises] - clock.device_time(edges)
    assert lag.min() >= 0 and lag.max() < 1 / rate


# -- physiology ---------------------------------------------------------------------------


def test_physio_shapes_units_and_determinism(session: Scenario, physio: np.ndarray) -> None:
    assert physio.shape == (900_000, 5) and physio.dtype == np.float32
    again, labels, units = simulate_physio(session, rate=1000.0)
    np.testing.assert_array_equal(again, physio)
    assert labels == PHYSIO_LABELS == ("ECG", "EDA", "RSP", "SKT", "PPG")
    assert units == PHYSIO_UNITS == ("mV", "µS", "V", "°C", "V")
    ecg, eda, rsp, skt, ppg = physio.T
    assert 0.9 < np.percentile(ecg, 99.95) < 1.6  # lead II R waves ~1.2 mV
    assert eda.min() > 0.5 and eda.max() < 20
    assert skt.min() > 30 and skt.max() < 36
    assert 0.5 < np.ptp(rsp) < 2 and 0.3 < np.percentile(ppg, 99) < 1.0
    other = simulate_physio(make_scenario(2, 900.0, micro_per_minute=8.0), rate=1000.0)[0]
    assert not np.allclose(other[:1000], physio[:1000])


def _rate_and_slope(ecg: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, info = nk.ecg_peaks(ecg.astype(float), sampling_rate=fs)
    peaks = info["ECG_R_Peaks"]
    rate = nk.signal_rate(peaks, sampling_rate=fs, desired_length=len(ecg),
                          interpolation_method="monotone_cubic")
    return peaks / fs, rate, np.gradient(rate) * fs


def test_heart_rate_follows_the_design(session: Scenario, physio: np.ndarray) -> None:
    fs = 1000.0
    peaks, rate, slope = _rate_and_slope(physio[:, 0], fs)
    drive = physio_drive(session)
    inner = drive.beats[(drive.beats > 1.0) & (drive.beats < session.duration - 1.0)]
    found = peaks[(peaks > 1.0) & (peaks < session.duration - 1.0)]
    assert len(found) == len(inner)  # NeuroKit2 misses none and invents none
    assert np.max(np.abs(found - inner)) < 0.005  # every R peak where it was placed
    assert rate.mean() == pytest.approx(drive.hr.mean(), abs=1.0)
    assert 60 < rate.mean() < 85
    t = np.arange(len(rate)) / fs
    apexes = session.apexes("micro")
    rng = np.random.default_rng(0)
    above, above_random = [], []
    for ep in session.episodes:  # clip = one trial, as in eq. 12
        clip = (t >= ep.start) & (t < ep.neutral_end)
        mean_slope = slope[clip].mean()
        for a in apexes[(apexes >= ep.start) & (apexes < ep.neutral_end)]:
            above.append(slope[round(a * fs)] > mean_slope)
        for a in rng.uniform(ep.start, ep.end, 40):
            above_random.append(slope[round(a * fs)] > mean_slope)
    assert len(above) >= 40
    assert np.mean(above) >= 0.70  # MMME: 73 % of ME apexes
    assert np.mean(above_random) < 0.6  # what the Candidate Clip Filter relies on
    # Heart rate 1-3 s after an apex is higher than just before it.
    i = np.round(apexes * fs).astype(int)
    after = np.array([rate[k + 1000:k + 3000].mean() for k in i])
    before = np.array([rate[k - 2000:k].mean() for k in i])
    assert np.mean(after - before) > 2.0


def test_eda_has_scrs_after_expressions(session: Scenario, physio: np.ndarray) -> None:
    eda = physio[::10, 1].astype(float)  # 100 Hz is plenty for skin conductance
    _, info = nk.eda_process(eda, sampling_rate=100)
    onsets = np.asarray(info["SCR_Onsets"], dtype=float) / 100.0
    onsets = onsets[np.isfinite(onsets)]

    def answered(times: np.ndarray) -> float:
        return float(np.mean([np.any((onsets > a + 0.5) & (onsets < a + 4.0)) for a in times]))

    assert answered(session.apexes(None)) >= 0.7
    # Aroused expressions answer with big SCRs; held-in laughter's are small, often missed.
    aroused = [e.apex for e in session.expressions
               if e.emotion in ("surprise", "fear", "anger", "disgust")]
    assert answered(np.array(aroused)) >= 0.85
    assert answered(np.random.default_rng(1).uniform(10, 890, 300)) < 0.5


def _one_emotion_session(emotion: str, seed: int) -> Scenario:
    """Four minutes of one clip's emotion with an ME every 12 s (one apart from the next)."""
    episodes = [Episode(0, emotion, 5.0, 235.0, 236.0, 240.0)]
    exprs = [Expression(t, t + 0.1, t + 0.3, "micro", emotion, aus=EMOTION_AUS[emotion][:1])
             for t in np.arange(15.0, 225.0, 12.0)]
    return Scenario(seed=seed, duration=240.0, episodes=episodes, expressions=exprs)


@pytest.mark.slow
def test_each_emotion_leaves_its_autonomic_signature() -> None:
    """What the peripheral classifiers learn: Kreibig-style patterns per emotion."""
    features = {}
    for emotion in ("happiness", "surprise", "fear"):
        rows = []
        for seed in (1, 2):
            scenario = _one_emotion_session(emotion, seed)
            x, labels, _ = simulate_physio(scenario, rate=1000.0)
            signals = {name: x[:, i].astype(float) for i, name in enumerate(labels)}
            values = physio_features(signals, 1000.0, scenario.apexes("micro"), 10.0)
            rows.append({k: np.nanmean(values[k]) for k in ("EDA_SCR_Amplitude_Mean",
                                                            "RSP_Rate_Mean", "SKT_Mean")})
        features[emotion] = {k: np.mean([r[k] for r in rows]) for k in rows[0]}
    happy, surprise, fear = features["happiness"], features["surprise"], features["fear"]
    # Surprise startles the skin: SCRs about four times those of held-in laughter.
    assert surprise["EDA_SCR_Amplitude_Mean"] > 2.5 * happy["EDA_SCR_Amplitude_Mean"]
    # Held-in laughter speeds breathing; a surprised gasp and hold slows it.
    assert happy["RSP_Rate_Mean"] > surprise["RSP_Rate_Mean"] + 1.0
    # Fear cools the fingers while happiness warms them (same participant, same start).
    assert happy["SKT_Mean"] - fear["SKT_Mean"] > 0.1


# -- EEG ----------------------------------------------------------------------------------


def test_eeg_labels() -> None:
    assert len(EEG_LABELS_64) == 64 == len(set(EEG_LABELS_64))
    assert EEG_LABELS_64[:3] == ("FP1", "FPZ", "FP2") and EEG_LABELS_64[-1] == "CB2"
    assert {"M1", "M2", "CZ", "OZ", "POZ"} <= set(EEG_LABELS_64)


def test_eeg_shape_determinism_and_alpha_peak() -> None:
    s = make_scenario(3, 60.0)
    x = simulate_eeg(s, rate=1000.0)
    assert x.shape == (60_000, 64) and x.dtype == np.float32
    np.testing.assert_array_equal(x, simulate_eeg(s, rate=1000.0))
    assert simulate_eeg(s, rate=1000.0, channels=32).shape == (60_000, 32)
    assert 3 < float(np.median(x.std(axis=0))) < 30  # µV, scalp EEG scale
    occ = [EEG_LABELS_64.index(c) for c in ("O1", "OZ", "O2")]
    f, p = welch(x[:, occ], fs=1000.0, nperseg=4000, axis=0)
    band = (f >= 2) & (f <= 40)
    for j in range(3):
        assert 9.0 <= f[band][np.argmax(p[band, j])] <= 11.0
        assert p[f == 10.0, j][0] > 5 * p[f == 15.0, j][0]
    fz = EEG_LABELS_64.index("FZ")
    _, pf = welch(x[:, fz], fs=1000.0, nperseg=4000)
    assert p[f == 10.0, 1][0] > 3 * pf[f == 10.0][0]  # alpha is posterior


def _band_power(x: np.ndarray, chans: tuple[str, ...], lo: float, hi: float,
                fs: float) -> np.ndarray:
    sos = butter(4, [lo, hi], btype="band", fs=fs, output="sos")
    idx = [EEG_LABELS_64.index(c) for c in chans]
    return (sosfiltfilt(sos, x[:, idx], axis=0) ** 2).mean(axis=1)


def _log_change(power: np.ndarray, apexes: np.ndarray, fs: float) -> np.ndarray:
    """log(power 0.2-2.8 s after / 2.8-0.2 s before) per apex."""
    out = []
    for a in apexes:
        k = round(a * fs)
        before = power[k - round(2.8 * fs):k - round(0.2 * fs)].mean()
        after = power[k + round(0.2 * fs):k + round(2.8 * fs)].mean()
        out.append(np.log(after / before))
    return np.array(out)


def _isolated(session: Scenario, apexes: np.ndarray) -> np.ndarray:
    """Apexes whose before/after epochs hold no other expression's response (as in 4.1)."""
    ev = session.apexes(None)
    return np.array([a for a in apexes if not np.any((ev > a - 6.1) & (ev < a))
                     and not np.any((ev > a) & (ev < a + 2.8))])


def test_eeg_band_power_changes_after_apexes(session: Scenario, eeg250: np.ndarray) -> None:
    fs = 250.0
    apexes = _isolated(session, session.apexes("micro"))
    assert len(apexes) >= 12
    alpha = _log_change(_band_power(eeg250, ("O1", "OZ", "O2"), 8, 14, fs), apexes, fs)
    theta = _log_change(_band_power(eeg250, ("FZ", "FCZ"), 4, 8, fs), apexes, fs)
    assert np.median(alpha) < -0.2 and np.mean(alpha < 0) > 0.6  # posterior alpha drops
    assert np.median(theta) > 0.2 and np.mean(theta > 0) > 0.6  # frontal theta rises
    # Random moments show no such change.
    rnd = np.random.default_rng(2).uniform(10, 890, 200)
    assert abs(np.median(_log_change(_band_power(eeg250, ("O1", "OZ", "O2"), 8, 14, fs),
                                     rnd, fs))) < 0.15


def test_eeg_frontal_asymmetry_tracks_valence(session: Scenario, eeg250: np.ndarray) -> None:
    fs = 250.0
    left = _band_power(eeg250, ("F3", "F5", "AF3"), 8, 14, fs)
    right = _band_power(eeg250, ("F4", "F6", "AF4"), 8, 14, fs)
    micro = [e for e in session.expressions if e.kind == "micro"]
    pos = np.array([e.apex for e in micro if e.emotion == "happiness"])
    neg = np.array([e.apex for e in micro if e.emotion in ("fear", "disgust", "sadness")])
    assert len(pos) >= 5 and len(neg) >= 5
    # Happiness takes alpha off the left, negative emotions off the right frontal cortex.
    asym_pos = _log_change(left, pos, fs) - _log_change(right, pos, fs)
    asym_neg = _log_change(left, neg, fs) - _log_change(right, neg, fs)
    assert asym_neg.mean() - asym_pos.mean() > 0.2
