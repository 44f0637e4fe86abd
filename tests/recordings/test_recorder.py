"""A simulated-lab recording through the real recorder: LSL on loopback, a pty trigger box."""

from __future__ import annotations

import time

import numpy as np
import pytest

from app.cli.record import RecordOptions, record_simulated
from drivers.lsl import LslInlet
from drivers.sim.eeg import EEG_LABELS_64
from recordings.recorder import Recorder, RecorderError
from recordings.store.ground_truth import read_ground_truth
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session

SYNC = 255


@pytest.fixture(scope="module")
def simulated_session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim") / "SIM01_s01"
    options = RecordOptions(folder, SessionMetadata("SIM01"), duration=4.0, segment_length=2.0)
    record_simulated(options, seed=3, width=320, height=240, progress=False)
    return folder


def test_every_stream_recorded_with_names_units_rates(simulated_session):
    with open_session(simulated_session) as s:
        assert s.complete and s.metadata.simulated
        eeg, physio = s.streams["SynAmps"], s.streams["MP160"]
        assert eeg.labels == [*EEG_LABELS_64, "TRIGGER"] and eeg.units[:2] == ["µV", "µV"]
        assert physio.labels == ["ECG", "EDA", "RSP", "SKT", "PPG", "DIGITAL"]
        assert physio.units[:5] == ["mV", "µS", "V", "°C", "V"]
        for stream in (eeg, physio):
            assert stream.nominal_rate == 1000.0
            assert 3700 <= len(stream) <= 4300  # 4 s at 1000 Hz
            device = stream.times("device_time")[:]
            # The device clock ticks at 1000 Hz on its own (drifting) clock, without gaps.
            np.testing.assert_allclose(np.diff(device), 1e-3, rtol=1e-4)
            assert len(stream.gaps) == 0 and stream.samples_lost == 0
            assert len(stream.clock_offsets) >= 1


def test_trigger_edges_reach_eeg_physio_and_camera(simulated_session):
    with open_session(simulated_session) as s:
        trigger_log = s.streams["TriggerBox"]
        codes = trigger_log.samples[:, 0]
        assert np.count_nonzero(codes == SYNC) >= 3  # a 1 s sync train over 4 s
        for name, channel in (("SynAmps", "TRIGGER"), ("MP160", "DIGITAL")):
            stream = s.streams[name]
            levels = stream.samples[:, stream.labels.index(channel)]
            high = np.concatenate(([0], (levels == SYNC).astype(int), [0]))
            rising = np.flatnonzero(np.diff(high) == 1)
            falling = np.flatnonzero(np.diff(high) == -1)
            # Every logged sync pulse is in the stream (the last may fall after its last sample).
            logged = np.count_nonzero(codes == SYNC)
            assert logged - 1 <= len(rising) <= logged
            # A 10 ms pulse at 1000 Hz lasts 10 samples.
            np.testing.assert_array_equal((falling - rising)[:-1], 10)
        gpi = np.concatenate([s.segment(n).column("gpi_level") for n in s.segment_names()])
        assert gpi.max() == 1 and 0 < gpi.sum() < len(gpi) // 10


def test_camera_segments_have_no_dropped_frames(simulated_session):
    with open_session(simulated_session) as s:
        assert s.segment_names() == ["segment001", "segment002"]
        for name in s.segment_names():
            seg = s.segment(name)
            assert seg.complete and seg.dropped_frames == 0 and seg.lost_frames == 0
            assert 270 <= seg.n_frames <= 310  # 2 s at 150 fps
            numbers = seg.column("frame_number")
            np.testing.assert_array_equal(np.diff(numbers), 1)
            assert seg.frame(0).shape == (240, 320) and seg.pixel_format == "bayer_rg8"


def test_ground_truth_is_stored_and_marked(simulated_session):
    with open_session(simulated_session) as s:
        truth = read_ground_truth(s.file)
        assert s.file["ground_truth"].attrs["simulation_ground_truth"]
    assert truth is not None
    assert set(truth["clocks"]) == {"eeg", "physio", "camera", "trigger"}
    assert truth["scenario"]["seed"] == 3 and truth["scenario"]["episodes"]
    for e in truth["scenario"]["expressions"]:
        assert e["onset_frame"] <= e["apex_frame"] <= e["offset_frame"]
    assert all(e[1] in range(1, 256) for e in truth["edges"])


def test_missing_device_is_named_and_nothing_is_recorded(tmp_path):
    recorder = Recorder(tmp_path / "s", SessionMetadata("P01"),
                        streams={"eeg": LslInlet(name="no-such-eeg-stream")})
    with pytest.raises(RecorderError, match=r"eeg:.*no-such-eeg-stream"):
        recorder.connect(timeout=0.3)
    assert not (tmp_path / "s").exists()


def test_replayed_session_re_records_the_same_samples_and_frames(simulated_session, tmp_path):
    from app.cli.record import record_replay

    again = tmp_path / "replayed"
    options = RecordOptions(again, SessionMetadata("SIM01"), duration=0.0, segment_length=60.0)
    record_replay(options, simulated_session, progress=False)
    with open_session(simulated_session) as original, open_session(again) as copy:
        assert copy.metadata.simulated and "replay of" in copy.metadata.notes
        for name in ("SynAmps", "MP160"):
            a, b = original.streams[name], copy.streams[name]
            assert b.labels == a.labels and b.units == a.units
            assert b.nominal_rate == a.nominal_rate and b.type == a.type
            np.testing.assert_array_equal(b.samples[:], a.samples[:])
            np.testing.assert_array_equal(b.times("device_time")[:], a.times("device_time")[:])
            # Delivered at the recorded timing: receipt times keep their spacing (0.25 s slack).
            lag = b.times()[:] - a.times()[:]
            assert np.ptp(lag) < 0.25
        frames = [original.segment(n) for n in original.segment_names()]
        (replayed,) = [copy.segment(n) for n in copy.segment_names()]
        for column in ("frame_number", "device_time", "gpi_level"):
            np.testing.assert_array_equal(
                replayed.column(column), np.concatenate([f.column(column) for f in frames]))
        np.testing.assert_array_equal(
            replayed.frames(), np.concatenate([f.frames() for f in frames]))


def test_live_status_and_a_stream_outage_during_recording(tmp_path):
    from drivers.sim.lab import SimLabConfig, SimulatedLab

    lab = SimulatedLab(SimLabConfig(seed=4, duration=20, width=160, height=120,
                                    name_prefix="outage"))
    lab.start()
    told = []
    try:
        recorder = Recorder(tmp_path / "s", SessionMetadata("P02", simulated=True),
                            streams={"eeg": lab.eeg_stream(), "physio": lab.physio_stream()},
                            camera=lab.camera(), trigger=lab.trigger_box(),
                            on_message=told.append)
        recorder.connect()
        recorder.start(first_segment=("trial001", 1))
        time.sleep(2.0)
        status = recorder.status()
        lab.interrupt("physio", 1.5)
        # liblsl reconnects to the returning outlet within a few seconds; wait for that.
        deadline = time.monotonic() + 10
        while not any("no data" in m for m in told) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        recorder.stop()
    finally:
        lab.stop()
    assert status.camera_fps == pytest.approx(150, abs=15) and status.frames >= 250
    assert status.dropped_frames == 0 and status.lost_frames == 0
    assert 0 <= status.queue_fill < 0.5 and status.disk_free > 0
    assert status.recording_time_left > 60
    by_name = {s.name: s for s in status.streams}
    for role in ("eeg", "physio"):
        assert by_name[role].rate == pytest.approx(1000, rel=0.1)
        assert by_name[role].last_sample_age < 0.5 and by_name[role].connected
    assert any("physio" in m and "no data" in m for m in told)
    with open_session(tmp_path / "s") as s:
        gaps = s.streams["outageMP160"].gaps
        assert len(gaps) == 1 and 1.2 < gaps[0, 1] - gaps[0, 0] < 8
        assert len(s.streams["outageSynAmps"].gaps) == 0
        host = s.streams["outageMP160"].times()[:]
        assert np.max(np.diff(host)) > 1.2  # the outage is a hole, not made-up samples


def test_trigger_box_edges_are_stored_during_recording_without_lsl_streams(tmp_path):
    """A camera + trigger box rig: the box's edges reach the file while recording (a crash
    would keep them), not only at stop()."""
    from drivers.sim.lab import SimLabConfig, SimulatedLab

    lab = SimulatedLab(SimLabConfig(seed=5, duration=20, width=160, height=120,
                                    name_prefix="camonly"))
    lab.start()
    try:
        recorder = Recorder(tmp_path / "s", SessionMetadata("P03", simulated=True), streams={},
                            camera=lab.camera(), trigger=lab.trigger_box())
        recorder.connect()
        recorder.start(first_segment=("trial001", 1))
        time.sleep(2.8)  # the first probe, then sync pulses every ~1 s, flushed every 0.5 s
        with open_session(tmp_path / "s") as live:
            codes = live.streams["TriggerBox"].samples[:, 0]
        recorder.stop()
    finally:
        lab.stop()
    assert SYNC in codes and len(codes) >= 3


def test_simulated_recording_longer_than_the_lab_is_refused_before_anything_starts(tmp_path):
    options = RecordOptions(tmp_path / "s", SessionMetadata("P04"), duration=3600.0,
                            segment_length=2.0)
    with pytest.raises(ValueError, match="--simulate records at most 870 s"):
        record_simulated(options, progress=False)
    assert not (tmp_path / "s").exists()


def test_melab_record_command_records_and_syncs_the_simulated_lab(tmp_path, capsys):
    from app.cli.main import main

    assert main(["record", "--simulate", "--duration", "3", "--size", "160x120",
                 "--segment-length", "2", "--participant", "P05", "--out", str(tmp_path)]) == 0
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("P05_s01_")
    with open_session(folder) as s:
        assert s.metadata.participant == "P05" and s.metadata.simulated
        assert len(s.segment_names()) >= 1
        for stream in s.streams.values():
            assert "session_time" in stream.group  # synced when the recording closed
    assert "Sync:" in capsys.readouterr().out
    assert main(["record", "--simulate", "--out", str(tmp_path)]) == 2  # no --duration
    assert "--duration is required" in capsys.readouterr().err
