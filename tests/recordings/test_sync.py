"""Trigger-based synchronization: known answers from simulated sessions (docs/sync.md)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time

import h5py
import numpy as np
import pytest

from app.cli.main import main
from drivers.sim.clocks import DeviceClock
from recordings.simulated.sync_session import SyncSimConfig, simulate_session
from recordings.store.reader import open_session
from recordings.sync.box_map import fit_box_map, uplink_delay
from recordings.sync.edges import box_log, camera_edges, stream_edges
from recordings.sync.fallback import offsets_fallback
from recordings.sync.interval_fit import interval_fit
from recordings.sync.synchronize import synchronize

needs_socat = pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed")

# Known clocks: offsets of seconds to ~15 min, drift at the +-100 ppm limits, resets.
HARD_CLOCKS = {
    "eeg": DeviceClock(812.25, 100.0, resets=(50.0,), reset_offsets_s=(3.5,)),
    "physio": DeviceClock(351.0, 60.0),
    "camera": DeviceClock(47.875, -100.0, resets=(70.0,), reset_offsets_s=(0.0,)),
    "trigger": DeviceClock(123456.789, -80.0),
}


def hard_config(**changes) -> SyncSimConfig:
    """120 s, 10 ms mean arrival jitter, resets, lost and spurious edges, lost sync reports,
    and a peripheral stream recorded without its trigger channel."""
    settings = dict(seed=11, duration=120.0, jitter_s=0.010, latency_s=0.005,
                    lost_edges=0.1, spurious_per_minute=6.0, lost_sync_reports=0.1,
                    no_trigger=("physio",), clocks=HARD_CLOCKS, dropped_frames=20)
    settings.update(changes)
    return SyncSimConfig(**settings)


def session_times(folder) -> dict[str, np.ndarray]:
    with open_session(folder) as s:
        out = {name: s.streams[name].times("session_time")[:] for name in ("SynAmps", "MP160")}
        out["camera"] = np.concatenate(
            [s.segment(n).column("session_time") for n in s.segment_names()])
        out["TriggerBox"] = s.streams["TriggerBox"].times("session_time")[:]
    return out


def raw_digest(folder) -> str:
    """Hash of every raw dataset (samples, device/host times, frames, GPI, offsets)."""
    h = hashlib.sha256()
    with open_session(folder) as s:
        for name, stream in sorted(s.streams.items()):
            for key in ("samples", "device_time", "host_time", "clock_offsets", "gaps"):
                data = stream.group[key][:]
                h.update(name.encode() + key.encode() + np.ascontiguousarray(data).tobytes()
                         if data.dtype.kind != "O" else str(data.tolist()).encode())
        for name in s.segment_names():
            seg = s.segment(name)
            for key in ("frames", "frame_number", "device_time", "host_time", "gpi_level"):
                h.update(np.ascontiguousarray(seg.file[key][:]).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def hard(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sync") / "hard"
    sim = simulate_session(folder, hard_config())
    before = raw_digest(folder)
    report = synchronize(folder)
    return sim, report, before


def test_trigger_sync_meets_targets_with_offsets_drift_jitter_and_a_reset(hard):
    sim, report, _ = hard
    times = session_times(sim.folder)
    eeg = np.abs(times["SynAmps"] - sim.truth["SynAmps"]) * 1e3
    cam = np.abs(times["camera"] - sim.truth["camera"]) * 1e3
    assert report.streams["SynAmps"].method == "trigger"
    assert report.streams["camera"].method == "trigger"
    assert np.percentile(eeg, 99) <= 0.5 and eeg.max() <= 0.5
    assert cam.max() <= 1.0  # every frame within 1 ms of its true exposure start
    # The box log itself: its edges land on their true session times.
    box = np.abs(times["TriggerBox"] - sim.box_truth) * 1e3
    assert box.max() < 0.2


def test_resets_split_the_fit_exactly_where_the_clock_restarted(hard):
    sim, report, _ = hard
    times = session_times(sim.folder)
    for name in ("SynAmps", "camera"):
        truth = sim.truth[name]
        restart = int(np.flatnonzero(np.diff(truth) > 0.4)[0]) + 1
        segments = report.streams[name].segments
        assert [(f.start_row, f.end_row) for f in segments] == [(0, restart),
                                                                  (restart, len(truth))]
        err = np.abs(times[name] - truth)
        for f in segments:
            assert f.n_edges >= 20 and f.max_residual == 0.0
            # The stored bound holds (it leaves out the box map's own ~0.05 ms).
            assert err[f.start_row:f.end_row].max() <= f.bound + 1e-4
    # Camera stamps are the camera clock itself: b = 1 / rate, drift known to < 10 ppm.
    rate = HARD_CLOCKS["camera"].rate
    assert [f.b * rate for f in report.streams["camera"].segments] == pytest.approx(
        [1.0, 1.0], abs=1e-5)


def test_lost_and_spurious_edges_are_left_out(hard):
    sim, report, _ = hard
    eeg = report.streams["SynAmps"]
    matches = eeg.fit.matches
    used = matches.used
    # Spurious pulses (random codes, 6 per minute) were found but not used.
    assert eeg.edges_found >= used.sum() + 8
    box_codes = report.streams["TriggerBox"].session_time  # session time of every box edge
    with open_session(sim.folder) as s:
        codes = s.streams["TriggerBox"].samples[:, 0].astype(int)
    assert np.all(codes[matches.ref[used]] == eeg.edges.code[used])
    # Every used edge is the pulse the box logged: within one sample of its true time.
    rows = eeg.edges.row[used]
    assert np.all(np.abs(sim.truth["SynAmps"][rows] - box_codes[matches.ref[used]]) < 1.0e-3)
    # About 10 % of pulses were lost by the device and 10 % of sync reports by the host.
    n_box = len(codes)
    assert 0.6 * n_box < used.sum() < 0.95 * n_box


def test_stream_without_trigger_uses_lsl_offsets_and_says_so(hard):
    sim, report, _ = hard
    physio = report.streams["MP160"]
    assert physio.method == "lsl_offsets" and physio.n_edges == 0
    assert any(w.startswith("MP160:") and "lsl_offsets" in w for w in report.warnings)
    assert not any(w.startswith("SynAmps:") for w in report.warnings)
    # Its LSL stamps were taken on arrival (5 ms + 10 ms mean jitter after the sample): the
    # offsets cannot see that delay, so the fallback is late by about that much.
    err = (session_times(sim.folder)["MP160"] - sim.truth["MP160"]) * 1e3
    assert 10.0 < np.median(err) < 20.0
    # What it claims is the spread of host receipt, not the offsets' fit residual.
    assert physio.bound * 1e3 > np.median(err) and physio.rms_residual < 1e-3


def test_lsl_offset_fallback_is_accurate_for_exactly_stamped_samples(tmp_path):
    sim = simulate_session(tmp_path / "s", SyncSimConfig(
        seed=4, duration=60.0, stamping="device", no_trigger=("eeg", "physio"),
        clocks={"eeg": DeviceClock(500.0, 90.0, resets=(30.0,), reset_offsets_s=(7.0,))}))
    report = synchronize(sim.folder)
    assert report.streams["SynAmps"].method == "lsl_offsets"
    assert len(report.streams["SynAmps"].segments) == 2  # one per clock of the reset
    err = (session_times(sim.folder)["SynAmps"] - sim.truth["SynAmps"]) * 1e3
    # Offsets with 0.3 ms Laplace noise, one every 5 s, robust fit: about a millisecond.
    assert np.median(np.abs(err)) < 0.5 and np.abs(err).max() < 2.0


@pytest.mark.parametrize("bias", [3.7, -3.7])
def test_offsets_that_do_not_describe_the_stamps_are_refused_and_accuracy_not_overclaimed(
        tmp_path, bias):
    # The peripheral stream has no trigger channel and stamps with a clock 3.7 s away from
    # the one its LSL clock offsets describe: the offsets alone would be 3,700 ms wrong.
    sim = simulate_session(tmp_path / "s", SyncSimConfig(
        seed=12, duration=60.0, no_trigger=("physio",), stamp_bias_s={"physio": bias}))
    report = synchronize(sim.folder)
    physio = report.streams["MP160"]
    assert physio.method == "host_time"
    warning = next(w for w in report.warnings if w.startswith("MP160:"))
    assert "do not describe this stream's timestamps" in warning and "3" in warning
    err = np.abs(session_times(sim.folder)["MP160"] - sim.truth["MP160"])
    # Within the receipt latency (5 ms + 10 ms mean jitter + pulls), and the accuracy
    # reported is no smaller than the error made (not the fit's 0.01 ms residual).
    assert err.max() < 0.05
    assert physio.bound >= err.max() and physio.bound > 0.01
    line = next(x for x in report.format().splitlines() if x.strip().startswith("MP160"))
    assert "at best" in line and "residual rms" not in line


def test_results_stored_beside_raw_data_and_rerun_replaces_them(hard, capsys):
    sim, _, before = hard
    assert raw_digest(sim.folder) == before  # raw samples, stamps, frames untouched
    with h5py.File(sim.folder / "session.h5", "r") as f:
        assert set(f["sync"]) == {"SynAmps", "MP160", "TriggerBox", "camera"}
        eeg = f["sync/SynAmps"]
        assert eeg.attrs["method"] == "trigger" and eeg.attrs["n_edges"] > 100
        segments = eeg["segments"][:]
        assert list(segments["method"].astype(str)) == ["trigger", "trigger"]
        assert set(segments.dtype.names) >= {"start_device", "end_device", "a", "b", "n_edges",
                                             "rms_residual", "max_residual"}
        edges = eeg["edges"][:]
        used = edges[edges["used"] == 1]
        assert np.all(np.abs(used["residual"]) < 1e-9)
        assert np.all(np.abs(used["t_session"] - sim.truth["SynAmps"][used["row"]]) < 1e-3)
        assert f["sync/MP160"].attrs["method"] == "lsl_offsets"
        assert f["sync/TriggerBox"].attrs["method"] == "reference"
        first = f["streams/SynAmps/session_time"][:]
    assert main(["sync", str(sim.folder)]) == 0
    out = capsys.readouterr().out
    assert "SynAmps" in out and "trigger" in out and "lsl_offsets" in out
    with h5py.File(sim.folder / "session.h5", "r") as f:
        np.testing.assert_array_equal(f["streams/SynAmps/session_time"][:], first)
        assert set(f["sync"]) == {"SynAmps", "MP160", "TriggerBox", "camera"}
    assert raw_digest(sim.folder) == before
    assert main(["info", str(sim.folder)]) == 0
    info = capsys.readouterr().out
    assert "Sync:" in info
    line = next(x for x in info.splitlines() if x.strip().startswith("SynAmps") and "edges" in x)
    assert "trigger" in line and "residual max 0.0 ms" in line
    assert any("MP160" in x and "lsl_offsets" in x for x in info.splitlines())


def test_info_and_sync_json_show_each_clock_offset_drift_and_residual(hard, capsys):
    sim, _, _ = hard
    assert main(["info", str(sim.folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["streams"]["SynAmps"]["units"] == ["µV", ""]  # per channel, in order
    eeg = info["sync"]["SynAmps"]
    assert eeg["trigger_channel"] == "TRIGGER" and eeg["trigger_found_by"] == "label"
    # The EEG clock: +100 ppm, offset 812.25 s, then reset 3.5 s behind; the camera's
    # -100 ppm around a reset; the peripheral stream (no trigger) +60 ppm from its offsets.
    t0 = sim.config.t0
    first, second = eeg["clocks"]
    assert first["rows"][0] == 0 and first["rows"][1] == second["rows"][0]
    # (Its stamps, taken on arrival with 10 ms jitter, are regularized per 50 s segment:
    # their line carries a few ppm of that jitter, which the fit maps exactly.)
    assert [c["drift_ppm"] for c in eeg["clocks"]] == pytest.approx([100.0, 100.0], abs=10)
    assert first["offset_s"] == pytest.approx(t0 - 812.25, abs=0.05)  # stamps on arrival
    assert first["method"] == "trigger" and first["max_residual_ms"] == 0.0
    assert 0 < first["bound_ms"] < 0.5
    camera = info["sync"]["camera"]["clocks"]
    # (Frames pin the rate to a few ppm: edges fall at 20 phases of the frame clock.)
    assert [c["drift_ppm"] for c in camera] == pytest.approx([-100.0, -100.0], abs=10)
    assert camera[0]["offset_s"] == pytest.approx(t0 - 47.875, abs=1e-3)
    (physio,) = info["sync"]["MP160"]["clocks"]
    assert physio["method"] == "lsl_offsets" and physio["drift_ppm"] == pytest.approx(60, abs=1)
    assert physio["bound_ms"] > 10  # the receipt spread it claims, not its tiny residual
    (box,) = info["sync"]["TriggerBox"]["clocks"]
    assert box["drift_ppm"] == pytest.approx(-80.0, abs=0.5)
    # The text shows the same, one line per clock segment under its stream.
    assert main(["info", str(sim.folder)]) == 0
    text = capsys.readouterr().out
    for clock in (first, second, *camera, physio, box):
        assert f"offset {clock['offset_s']:+.6f} s, drift {clock['drift_ppm']:+.3f} ppm" in text
    assert "units µV, -" in text
    # `melab sync --json` reports the clocks it has just fitted.
    assert main(["sync", str(sim.folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["streams"]["SynAmps"]["clocks"] == eeg["clocks"]


def test_small_reset_seen_only_in_the_edges_splits_the_fit(tmp_path):
    # The EEG restarts 0.2 s behind where its clock would have been: host time cannot tell
    # that from the 0.5 s restart gap, the edges can.
    clock = DeviceClock(100.0, 50.0, resets=(30.0,),
                        reset_offsets_s=(100.0 + 1.00005 * 30.0 - 0.2,))
    sim = simulate_session(tmp_path / "s", SyncSimConfig(
        seed=5, duration=60.0, clocks={"eeg": clock}, jitter_s=0.002))
    report = synchronize(sim.folder)
    segments = report.streams["SynAmps"].segments
    restart = int(np.flatnonzero(np.diff(sim.truth["SynAmps"]) > 0.4)[0]) + 1
    assert [f.start_row for f in segments] == [0, restart]
    err = np.abs(session_times(sim.folder)["SynAmps"] - sim.truth["SynAmps"]) * 1e3
    assert err.max() < 0.5


# --- units ---------------------------------------------------------------------------------

def test_the_same_code_queued_back_to_back_is_paired_edge_by_edge(tmp_path):
    """Four identical codes sent within 15 ms leave the box 20 ms apart; host receipt
    (10 ms mean jitter) cannot tell them apart, device time can: no split, no 20 ms error."""
    bursts = tuple((t + 0.005 * i, 12) for t in (20.0, 40.3, 61.7, 80.2) for i in range(4))
    sim = simulate_session(tmp_path / "s", SyncSimConfig(seed=3, duration=100.0,
                                                         extra_codes=bursts))
    report = synchronize(sim.folder)
    times = session_times(sim.folder)
    for name in ("SynAmps", "MP160", "camera"):
        assert report.streams[name].method == "trigger"
        assert len(report.streams[name].segments) == 1, name
        assert np.abs(times[name] - sim.truth[name]).max() < 5e-4, name


def test_stream_and_camera_edges_bracket_the_true_edge():
    rng = np.random.default_rng(0)
    rises = np.sort(rng.uniform(0.1, 9.9, 30))
    rises = rises[np.concatenate(([True], np.diff(rises) > 0.05))]
    t = 0.0003 + np.arange(10000) / 1000.0
    level = np.zeros(len(t))
    for r in rises:
        level[(t >= r) & (t < r + 0.010)] = 7
    edges = stream_edges(level, 50 + t, t, 1000.0)
    assert len(edges) == len(rises)
    assert np.all((edges.lo < 50 + rises) & (50 + rises <= edges.hi))
    assert np.all(edges.code == 7)
    assert np.all((edges.fall_lo < 50.01 + rises) & (50.01 + rises <= edges.fall_hi))
    # Camera at 150 fps: GPI latched at exposure start; one dropped frame is tolerated.
    ft = 0.001 + np.arange(1500) / 150.0
    gpi = np.zeros(len(ft), np.int64)
    for r in rises:
        gpi[(ft >= r) & (ft < r + 0.010)] = 1
    keep = np.ones(len(ft), bool)
    keep[500] = False
    cam = camera_edges(gpi[keep], 1, np.arange(1, 1501)[keep], ft[keep], ft[keep], 150.0)
    assert len(cam) >= len(rises) - 1
    truth = rises[np.argmin(np.abs(rises[:, None] - cam.mid), axis=0)]
    assert np.all((cam.lo < truth) & (truth <= cam.hi)) and np.all(cam.code == -1)


def test_interval_fit_is_sub_sample_and_rejects_an_outlier():
    rng = np.random.default_rng(1)
    y = np.sort(rng.uniform(0, 300, 200))  # reference (session) times of 200 edges
    alpha, beta = 812.123456, 1.0000731
    d = alpha + beta * y  # true device times; sampled at 1 kHz on the device clock
    phase = rng.uniform(0, 1e-3)
    hi = np.ceil((d - phase) * 1000) / 1000 + phase
    lo = hi - 1e-3
    lo[17], hi[17] = lo[17] + 0.004, hi[17] + 0.004  # a wrong edge, 4 samples off
    fit = interval_fit(lo, hi, y)
    assert not fit.kept[17] and fit.kept.sum() == 199
    t = np.linspace(0, 300, 7)
    err = (fit.alpha + fit.beta * t) - (alpha + beta * t)
    assert np.abs(err).max() < 0.05e-3  # 1 ms samples -> < 50 µs anywhere in 300 s
    assert 0 < fit.bound < 0.1e-3
    assert np.abs(err).max() <= fit.bound


BYTE = 10 / 115200  # seconds per byte on the serial line


def box_log_of(rng: np.random.Generator, busy_until: float = 0.0):
    """A trigger-box log of 600 s: 300 events with round trips, the 1.001 s sync train, and
    (until busy_until s) a host that takes the box's reports in 15-25 ms late.

    Returns the log, the box times and the true session times of its rows."""
    box_rate, box_offset, t0 = 1 - 60e-6, 9876.5, 4000.0
    n = 300
    edge = np.sort(rng.uniform(1, 600, n))  # true session times of event edges
    up = 7 * BYTE + 4e-4 + rng.exponential(3e-4, n)
    down = 11 * BYTE + 4e-4 + rng.exponential(3e-4, n)
    busy = rng.random(n) < 0.1  # the lines were busy: the edge (and ACK) came 15 ms later
    late_ack = np.where(edge < busy_until, rng.uniform(0.015, 0.025, n), 0.0)
    send = edge - up - np.where(busy, 0.015, 0)
    rtt = up + down + np.where(busy, 0.015, 0) + late_ack
    sync = t0 + 0.5 + np.arange(599) * 1.001 / box_rate
    late_sync = np.where(sync - t0 < busy_until, rng.uniform(0.015, 0.025, 599), 0.0)
    box_t = np.concatenate((edge + t0, sync))
    box = box_offset + box_rate * (box_t - t0)
    host = np.concatenate((send + t0, sync + 11 * BYTE + 4e-4 + rng.exponential(3e-4, 599)
                           + late_sync))
    codes = np.concatenate((np.full(n, 127), np.full(599, 255)))
    order = np.argsort(box)
    samples = np.column_stack((codes, np.concatenate((rtt, np.full(599, np.nan)))))[order]
    return samples, box[order], host[order], box_t[order], 1 / box_rate


def test_box_map_from_round_trips_with_and_without_them():
    samples, box, host, box_t, rate = box_log_of(np.random.default_rng(2))
    (seg,) = fit_box_map(box_log(samples, box, host))
    assert seg.method == "round_trip"
    assert seg.b == pytest.approx(rate, abs=1e-7)
    err = seg.a + seg.b * box - box_t
    assert np.abs(err).max() < 0.05e-3
    # The sync receipts' least latency: the 11-byte report plus the least USB latency.
    assert seg.sync_latency == pytest.approx(11 * BYTE + 4e-4, abs=1e-4)
    # A log without round trips (older recordings): send times and receipts, taken as
    # symmetric, still put the box clock on the session clock to a fraction of a ms.
    (old,) = fit_box_map(box_log(samples[:, :1], box, host))
    assert old.method == "symmetric"
    assert np.abs(old.a + old.b * box - box_t).max() < 0.5e-3
    # A box power cycle with events only, or sync reports only, gets its map too.
    events = samples[:, 0] == 127
    for part in (events, ~events):
        (seg,) = fit_box_map(box_log(samples[part], box[part], host[part]))
        assert np.abs(seg.a + seg.b * box[part] - box_t[part]).max() < 1e-3
    # The uplink estimate splits the UART part 7:11 and the rest evenly.
    assert uplink_delay(np.array([18 * BYTE + 1e-3]))[0] == pytest.approx(7 * BYTE + 5e-4)


@pytest.mark.parametrize(("busy_until", "max_error_ms"), [(30.0, 0.05), (200.0, 0.05),
                                                         (400.0, 0.3)])
def test_box_map_keeps_its_rate_when_the_host_takes_reports_in_late_for_a_while(busy_until,
                                                                              max_error_ms):
    # A busy host: reports (SYNC frames and ACKs) 15-25 ms late for the first 30 s, a third
    # or two thirds of the recording; a fit through every receipt tilts the rate by 20+ ppm.
    samples, box, host, box_t, rate = box_log_of(np.random.default_rng(5), busy_until)
    (seg,) = fit_box_map(box_log(samples, box, host))
    assert abs(seg.b / rate - 1) < 0.5e-6
    # Two thirds busy: most events then have long round trips too, which costs some offset.
    assert np.abs(seg.a + seg.b * box - box_t).max() < max_error_ms * 1e-3
    # The receipts' least-delay envelope alone (a log without events) keeps the rate as well.
    sync = samples[:, 0] == 255
    (receipts,) = fit_box_map(box_log(samples[sync], box[sync], host[sync]))
    assert receipts.method == "sync_receipt" and abs(receipts.b / rate - 1) < 0.5e-6


def test_session_with_a_busy_start_is_synchronized_to_a_fraction_of_a_millisecond(tmp_path):
    # The simulated box's reports reach the host 15-25 ms late for the first 20 s of 60 s.
    sim = simulate_session(tmp_path / "s", SyncSimConfig(
        seed=6, duration=60.0, report_delays=((0.0, 20.0, 0.015, 0.025),)))
    report = synchronize(sim.folder)
    times = session_times(sim.folder)
    assert np.abs(times["TriggerBox"] - sim.box_truth).max() < 0.1e-3
    for name in ("SynAmps", "MP160", "camera"):
        assert report.streams[name].method == "trigger"
        assert np.abs(times[name] - sim.truth[name]).max() < 0.5e-3, name


def test_offsets_fallback_follows_a_reset_and_rejects_offsets_that_do_not_fit():
    d = np.concatenate((100 + np.arange(20000) / 1000, 5 + np.arange(20000) / 1000))
    true = np.concatenate((7000 + np.arange(20000) / 1000, 7020.5 + np.arange(20000) / 1000))
    host = true + 0.02
    runs = [(0, 20000), (20000, 40000)]
    rec_t = np.array([7001.0, 7006.0, 7011.0, 7016.0, 7022.0, 7027.0, 7032.0, 7037.0])
    offsets = np.column_stack((rec_t, np.where(rec_t < 7020, 6900.0, 7015.5)))
    times, fits, _ = offsets_fallback(d, host, runs, offsets)
    assert [f.method for f in fits] == ["lsl_offsets", "lsl_offsets"]
    np.testing.assert_allclose(times, true, atol=1e-9)
    # The accuracy claimed is how far after the samples host receipt lies: 20 ms here.
    assert [f.bound for f in fits] == pytest.approx([0.02, 0.02], abs=1e-6)
    # Offsets that would put receipt 100 s before the sample: host receipt times instead.
    times, fits, refusals = offsets_fallback(d, host, runs, offsets - [0, 100.0])
    assert [f.method for f in fits] == ["host_time", "host_time"]
    assert len(refusals) == 2 and "100020 ms after the samples" in refusals[0]
    np.testing.assert_allclose(times, host, atol=1e-6)


@needs_socat
def test_serial_box_reports_round_trips_of_events_only():
    from drivers.sim.ptypair import PtyPair
    from drivers.sim.trigger_box import SimTriggerBox
    from drivers.trigger import SerialTriggerBox

    pair = PtyPair()
    box = SimTriggerBox(pair.b, box_offset=50.0)
    box.start()
    drv = SerialTriggerBox(pair.a)
    try:
        drv.open()
        drv.start_sync(0.05)
        sent = [drv.send(c) for c in (3, 127, 9)]
        time.sleep(0.12)
        drv.stop_sync()
    finally:
        drv.close()
        box.stop()
        pair.close()
    events = [e for e in drv.box_events() if e.kind == "event"]
    syncs = [e for e in drv.box_events() if e.kind == "sync"]
    edges = {round(e.box_time, 6): e for e in box.edges()}
    assert [e.code for e in events] == [3, 127, 9] and len(syncs) >= 2
    for e, t in zip(events, sent, strict=True):
        edge = edges[round(e.box_time, 6)]
        # The edge rose between the send and the ACK's receipt.
        assert e.host_time == t and 0 <= edge.host_time - t <= e.round_trip
    assert all(np.isnan(e.round_trip) for e in syncs)


@pytest.mark.slow
@needs_socat
def test_live_simulated_lab_recording_is_synchronized_to_its_ground_truth(record_sim_session):
    from core.codes import PROBE_CODE
    from recordings.store.ground_truth import read_ground_truth

    folder = record_sim_session("LIVE01", duration=8.0, segment_length=3.0, seed=6, width=160,
                                height=120)
    with open_session(folder) as s:
        truth = read_ground_truth(s.file)
        t0 = truth["t0"]
        box = s.streams["TriggerBox"]
        assert box.labels == ["code", "round_trip_s"]
        codes = box.samples[:, 0].astype(int)
        rtt = box.samples[:, 1]
        assert np.count_nonzero(codes == PROBE_CODE) >= 4  # clock probes went out
        assert np.all(np.isfinite(rtt[codes == PROBE_CODE])) and np.all(np.isnan(rtt[codes == 255]))
        for role, name in truth["streams"].items():
            stream = s.streams[name]
            # The lab is recorded through its own rig profile (rigs/simulated-lab.toml).
            assert s.file[f"sync/{name}"].attrs["trigger_found_by"] == "profile", name
            clock = DeviceClock.from_dict(truth["clocks"][role])
            expected = t0 + clock.physical_time(stream.times("device_time")[:])
            err = np.abs(stream.times("session_time")[:] - expected) * 1e3
            assert err.max() < 1.0, (name, err.max())
        fps = truth["camera"]["fps"]
        for name in s.segment_names():
            seg = s.segment(name)
            expected = t0 + (seg.column("frame_number") - 1) / fps
            err = np.abs(seg.column("session_time") - expected) * 1e3
            # A live 8 s recording gives the camera ~8 sync edges and its box link runs over a
            # pty on a busy host: 2 ms here; the 1 ms target is measured by bench_sync.py.
            assert err.max() < 2.0, (name, err.max())
        assert s.file["sync/camera"].attrs["method"] == "trigger"
