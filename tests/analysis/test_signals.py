"""Signals as recorded: stretches between outages, their time axes, flat and short channels,
windows and epochs that never span a gap (analysis/signals.py, analysis/session_signals.py)."""

from __future__ import annotations

import neurokit2 as nk
import numpy as np
import pytest

from analysis.clips import Signals
from analysis.concordance import MEInterval
from analysis.features_physio import derive_physio, window_features
from analysis.session_signals import session_signals
from analysis.signals import FLAT, OK, SHORT, check_channel, stretches
from drivers.sim.physio import simulate_physio
from drivers.sim.scenario import make_scenario

RATE = 1000.0


def _received(true: np.ndarray, pull: float = 0.01, latency: float = 0.002) -> np.ndarray:
    """Host receipt times of samples taken at `true`: pulled every `pull` s, so the samples
    of one pull share its time (a step function, as the LSL driver stores host_time)."""
    return np.ceil(true / pull) * pull + latency


def test_a_stored_outage_splits_the_stream_and_each_part_keeps_its_true_times():
    index = np.concatenate([np.arange(0, 30_000), np.arange(36_000, 60_000)])  # 6 s lost
    true = 100.0 + index / RATE
    host = _received(true)
    hole = 30_000
    gaps = np.array([[host[hole - 1], host[hole]]])
    parts = stretches(host, host, true, gaps, RATE, receipt=True)
    assert [(p.start, p.stop) for p in parts] == [(0, 30_000), (30_000, 54_000)]
    # The first sample after the gap was taken at 136 s: the axis says so, where index / rate
    # would put it at 130 s. Receipts lag by 2-12 ms; the earliest ones set t0.
    assert parts[1].t0 == pytest.approx(136.0025, abs=0.001)
    assert parts[0].t0 == pytest.approx(100.0025, abs=0.001)
    assert parts[1].rate == pytest.approx(RATE, rel=1e-6)
    assert parts[0].end == pytest.approx(130.0025, abs=0.001)
    # Pulls delayed by up to 0.3 s (a busy host) move neither the rate nor t0.
    host[40_000:40_300] = host[40_300]
    late = stretches(host, host, true, gaps, RATE, receipt=True)
    assert late[1].t0 == pytest.approx(parts[1].t0, abs=1e-4)
    assert late[1].rate == pytest.approx(parts[1].rate, rel=1e-6)


def test_before_sync_the_axis_follows_a_device_sampling_fast_on_the_host_clock():
    # 100 ppm fast over 10 min: index / nominal would be 60 ms late at the end.
    n = 600_000
    true = 20.0 + np.arange(n) / (RATE * (1 + 100e-6))
    host = _received(true) + 0.2 * (np.arange(n) // 1000 % 97 == 0)  # and some stalls
    (part,) = stretches(host, host, np.arange(n) / RATE, np.zeros((0, 2)), RATE, receipt=True)
    assert part.rate == pytest.approx(RATE * (1 + 100e-6), rel=2e-6)
    assert part.t0 + (n - 1) / part.rate == pytest.approx(true[-1] + 0.0025, abs=0.001)


def test_a_device_clock_running_fast_stretches_the_axis():
    # After sync, session_time says each sample lasted 1.00005 ms (a clock 50 ppm slow).
    n = 600_000
    session = 5.0 + np.arange(n) / RATE * (1 + 50e-6)
    (part,) = stretches(session, session, np.arange(n) / RATE, np.zeros((0, 2)), RATE)
    assert part.rate == pytest.approx(RATE / (1 + 50e-6), rel=1e-9)
    assert part.end == pytest.approx(session[-1] + (1 + 50e-6) / RATE, abs=1e-6)


def test_breaks_no_outage_names_split_too():
    device = np.concatenate([np.arange(5000) / RATE + 50.0, np.arange(5000) / RATE])
    host = 10.0 + np.arange(10_000) / RATE
    none = np.zeros((0, 2))
    # Before sync the axis follows the device clock, which reset after 5000 samples.
    parts = stretches(host, host, device, none, RATE, receipt=True)
    assert [(p.start, p.stop) for p in parts] == [(0, 5000), (5000, 10_000)]
    assert parts[1].t0 == pytest.approx(15.0)
    # After sync session_time runs on across the reset: one stretch; a 2 s hole in it splits.
    assert len(stretches(host, host, device, none, RATE)) == 1
    session = host + 2.0 * (np.arange(10_000) >= 7000)
    parts = stretches(session, host, device, none, RATE)
    assert [(p.start, p.stop) for p in parts] == [(0, 7000), (7000, 10_000)]
    assert parts[1].t0 == pytest.approx(19.0)


def test_flat_channels_are_told_from_live_ones():
    rng = np.random.default_rng(0)
    n = int(60 * RATE)
    for name in ("ECG", "PPG", "RSP", "EDA", "SKT"):
        assert check_channel(name, np.full(n, 2.5), RATE) == FLAT  # nothing plugged in
        assert check_channel(name, np.zeros(n), RATE) == FLAT
    for name in ("ECG", "PPG", "RSP"):  # an open input: ADC noise only, no rhythm
        assert check_channel(name, 0.5 + 3e-4 * rng.standard_normal(n), RATE) == FLAT
        assert check_channel(name, np.round(rng.standard_normal(n)), RATE) == FLAT
    live = {
        "ECG": nk.ecg_simulate(duration=60, sampling_rate=1000, random_state=1),
        "PPG": nk.ppg_simulate(duration=60, sampling_rate=1000, random_state=1),
        "RSP": nk.rsp_simulate(duration=60, sampling_rate=1000, random_state=1),
        "EDA": nk.eda_simulate(duration=60, sampling_rate=1000, scr_number=3, random_state=1),
    }
    x, labels, _ = simulate_physio(make_scenario(3, duration=60.0))
    live |= {f"sim {c}": x[:, i].astype(float) for i, c in enumerate(labels)}
    for name, signal in live.items():
        assert check_channel(name.removeprefix("sim "), signal, RATE) == OK, name


def test_stretches_too_short_for_a_channel_have_not_enough_data():
    ecg = nk.ecg_simulate(duration=30, sampling_rate=1000, random_state=2)
    assert check_channel("ECG", ecg[:3000], RATE) == SHORT  # 3 s: under 4 s
    assert check_channel("ECG", ecg[:5000], RATE) == OK
    assert check_channel("RSP", ecg[:14_000], RATE) == SHORT
    assert check_channel("EDA", np.full(19_000, 5.0), RATE) == SHORT  # short before flat


def test_neurokit2_failures_on_flat_and_quiet_signals_become_empty_results():
    # NeuroKit2 0.3 raises IndexError in ppg_peaks on a constant pulse and ValueError
    # ("zero-size array") in eda_peaks when there is no SCR at all.
    derived = derive_physio({"PPG": np.zeros(10_000), "EDA": np.full(10_000, 5.0)}, RATE)
    assert len(derived.ppg.peaks) == 0 and np.isnan(derived.ppg.rate_bpm).all()
    assert len(derived.eda.scr_peaks) == 0
    values = window_features(derived, np.array([1.0]), np.array([9.0]))
    assert np.isnan(values["PPG_Rate_Mean"][0]) and values["EDA_SCR_Peaks"][0] == 0.0
    assert np.isnan(values["EDA_SCR_Amplitude_Mean"][0])


def _two_rates(gap: float = 6.0) -> Signals:
    """ECG at 60 bpm for 30 s, an outage of `gap` s, then 90 bpm for 30 s, on a session clock
    starting at 1000 s; the samples after the outage are stamped where they were taken."""
    first = nk.ecg_simulate(duration=30, sampling_rate=1000, heart_rate=60, random_state=1)
    second = nk.ecg_simulate(duration=30, sampling_rate=1000, heart_rate=90, random_state=2)
    n = len(first)
    times = 1000.0 + np.concatenate([np.arange(n), np.arange(n) + n + gap * RATE]) / RATE
    gaps = np.array([[times[n - 1], times[n]]])
    return Signals(np.concatenate([first, second])[:, None], ["ECG"], times, RATE, "Physio",
                   times, times, gaps)


def test_windows_read_one_side_of_a_gap_and_the_heart_rate_breaks_there():
    got = session_signals(_two_rates(), None, [], [])
    assert got is not None and len(got.physio) == 2
    assert got.physio_window(1040.0, 1050.0)["ECG_Rate_Mean"] == pytest.approx(90.0, abs=1.5)
    assert got.physio_window(1010.0, 1020.0)["ECG_Rate_Mean"] == pytest.approx(60.0, abs=1.5)
    # 1027-1037: 3 s before the gap, 1 s after it: only the longer side counts.
    assert got.physio_window(1027.0, 1037.0)["ECG_Rate_Mean"] == pytest.approx(60.0, abs=1.5)
    # Entirely in the gap: nothing.
    assert np.isnan(got.physio_window(1031.0, 1035.0)["ECG_Rate_Mean"])
    times, bpm = got.heart_rate()
    assert np.all(np.diff(times) > 0)  # one NaN, inside the gap, between the two parts
    assert np.isnan(bpm).sum() == 1 and 1030.0 < times[np.isnan(bpm)][0] < 1036.0
    after = (times > 1037.0) & np.isfinite(bpm)
    assert np.nanmean(bpm[after]) == pytest.approx(90.0, abs=1.5)
    assert not np.any(np.isfinite(bpm) & (times > 1030.0) & (times < 1035.999))
    gap_note = [n for n in got.notes if n.status == "gap"]
    assert len(gap_note) == 1 and gap_note[0].end - gap_note[0].start == pytest.approx(6.0,
                                                                                       abs=2e-3)


def test_concordance_epochs_never_span_a_gap():
    # MEs at 1020 s (5 s epochs fit before the gap), 1028 s (its after-epoch reaches into the
    # gap) and 1045 s (after it).
    mes = [MEInterval(a - 0.2, a, a + 0.2) for a in (1020.0, 1028.0, 1045.0)]
    got = session_signals(_two_rates(), None, mes, [])
    epochs = got.epochs([5.0])
    before = [e[5.0][0]["ECG_Rate_Mean"] for e in epochs]
    # 1028 s: its after-epoch would run to 1033 s, into the gap: skipped. 1020 and 1045 stay,
    # one in each piece.
    assert [len(b) for b in before] == [1, 1]
    assert before[0][0] == pytest.approx(60.0, abs=2.0)
    assert before[1][0] == pytest.approx(90.0, abs=2.0)


def test_a_clock_reset_is_noted_as_such_not_as_an_outage():
    ecg = nk.ecg_simulate(duration=20, sampling_rate=1000, random_state=3)
    host = 10.0 + np.arange(len(ecg)) / RATE
    device = np.where(np.arange(len(ecg)) < 8000, 900.0, -8.0) + np.arange(len(ecg)) / RATE
    signals = Signals(ecg[:, None], ["ECG"], host, RATE, "Physio", host, device,
                      np.zeros((0, 2)))
    got = session_signals(signals, None, [], [])
    (note,) = [n for n in got.notes if not n.channel]
    assert note.status == "clock reset" and note.end - note.start == pytest.approx(0, abs=2e-3)
    assert [n.status for n in got.notes if n.channel] == ["ok", "ok"]


def test_a_channel_read_around_a_gap_keeps_each_sample_at_its_time_and_breaks_once():
    recorded = _two_rates()
    got = session_signals(recorded, None, [], [])
    times, ecg = got.channel_between("ECG", 1028.0, 1040.0)
    assert np.all(np.diff(times) > 0) and np.isnan(ecg).sum() == 1  # the break, in the gap
    kept = np.isfinite(ecg)
    rows = np.searchsorted(recorded.times, times[kept] - 0.5 / RATE)  # the nearest stamp
    np.testing.assert_allclose(times[kept], recorded.times[rows], atol=1e-6)
    np.testing.assert_allclose(ecg[kept], recorded.samples[rows, 0], atol=1e-5)
    assert times[kept][0] == pytest.approx(1028.0, abs=1e-3)
    assert times[kept][-1] == pytest.approx(1040.0, abs=2e-3)
    assert got.channel_between("EDA", 1028.0, 1040.0) is None
