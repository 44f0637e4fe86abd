"""A simulated-lab recording through the real recorder: LSL on loopback, a pty trigger box."""

from __future__ import annotations

import queue
import socket
import time
from collections.abc import Callable

import numpy as np
import pytest

from app.cli.record import RecordOptions, record_simulated
from core.clock import local_clock
from core.devices import CameraInfo, CameraLosses, Frame
from drivers.lsl import LslInlet
from drivers.sim.eeg import EEG_LABELS_64
from recordings.recorder import Recorder, RecorderError
from recordings.store.ground_truth import read_ground_truth
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session
from recordings.summary import format_summary, summarize
from tests.recordings.store_helpers import CAMERA, make_frame

SYNC = 255


@pytest.fixture(scope="module")
def simulated_session(record_sim_session):
    return record_sim_session("SIM01", duration=4.0, segment_length=2.0, seed=3, width=320,
                              height=240)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll until condition() holds; the deadline only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {timeout:g} s"
        time.sleep(0.05)


@pytest.mark.slow
def test_every_stream_recorded_with_names_units_rates(simulated_session):
    with open_session(simulated_session) as s:
        assert s.complete and s.metadata.simulated
        eeg, physio = s.streams["SynAmps"], s.streams["MP160"]
        assert eeg.labels == [*EEG_LABELS_64, "TRIGGER"] and eeg.units[:2] == ["µV", "µV"]
        assert physio.labels == ["ECG", "EDA", "RSP", "SKT", "PPG", "DIGITAL"]
        assert physio.units[:5] == ["mV", "µS", "V", "°C", "V"]
        # The senders declare each channel's type; the trigger lines are STIM.
        assert eeg.channel_types == ["EEG"] * 64 + ["STIM"]
        assert physio.channel_types == ["ECG", "EDA", "RESP", "TEMP", "PPG", "STIM"]
        assert all(s.hostname == socket.gethostname() for s in (eeg, physio))
        for stream in (eeg, physio):
            assert stream.nominal_rate == 1000.0
            # 4 s at 1000 Hz, plus what the inlet buffered since connect() (no upper bound:
            # connecting takes longer on a busy machine).
            assert len(stream) >= 3700
            device = stream.times("device_time")[:]
            # The device clock ticks at 1000 Hz on its own (drifting) clock, without gaps.
            np.testing.assert_allclose(np.diff(device), 1e-3, rtol=1e-4)
            assert len(stream.gaps) == 0 and stream.samples_lost == 0
            assert len(stream.clock_offsets) >= 1


@pytest.mark.slow
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


@pytest.mark.slow
def test_camera_segments_have_no_dropped_frames(simulated_session):
    with open_session(simulated_session) as s:
        assert s.segment_names() == ["segment001", "segment002"]
        segments = [s.segment(name) for name in s.segment_names()]
        for seg in segments:
            assert seg.complete and seg.dropped_frames == 0 and seg.lost_frames == 0
            assert seg.frame(0).shape == (240, 320) and seg.pixel_format == "bayer_rg8"
            # No frame missing inside a segment; the camera's own clock ticks once per frame
            # period (1/150 s).
            np.testing.assert_array_equal(np.diff(seg.column("frame_number")), 1)
            np.testing.assert_allclose(np.diff(seg.column("device_time")), 1 / 150, rtol=1e-3)
        first, second = (seg.column("frame_number") for seg in segments)
        assert second[0] == first[-1] + 1  # the second took over from the first, no gap
        assert len(first) + len(second) >= 3.7 * 150  # the two 2 s segments hold the 4 s


@pytest.mark.slow
def test_one_second_segments_hold_every_frame_of_the_recording(record_sim_session):
    folder = record_sim_session("SIM07", duration=5.0, segment_length=1.0, seed=7, width=160,
                                height=120)
    with open_session(folder) as s:
        segments = [s.segment(name) for name in s.segment_names()]
        assert len(segments) == 5 and all(seg.complete for seg in segments)
        numbers = np.concatenate([seg.column("frame_number") for seg in segments])
        np.testing.assert_array_equal(np.diff(numbers), 1)  # contiguous across every switch
        assert len(numbers) >= 4.7 * 150
        assert sum(seg.dropped_frames + seg.lost_frames for seg in segments) == 0


class HandFedCamera:
    """A camera that delivers the frames a test puts in, frame numbers of its choosing, and
    counts the losses the test sets."""

    info: CameraInfo = CAMERA
    dropped_frames = 0

    def __init__(self) -> None:
        self.frames: queue.Queue[Frame] = queue.Queue()
        self.counted = CameraLosses()

    def losses(self) -> CameraLosses:
        """What the test set as the camera's counters."""
        return self.counted

    def open(self) -> None:
        """Nothing to open."""

    def start(self) -> None:
        """Nothing to start."""

    def read(self, timeout: float) -> Frame | None:
        """The next frame put in, or None after timeout seconds."""
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> None:
        """Nothing to stop."""

    def close(self) -> None:
        """Nothing to close."""


def test_a_hole_in_the_frame_numbers_at_a_segment_switch_is_counted(tmp_path):
    camera = HandFedCamera()
    recorder = Recorder(tmp_path / "s", SessionMetadata("P08"), streams={}, camera=camera)
    recorder.connect()
    recorder.start(first_segment=("trial001", 1))
    for n in range(1, 11):
        camera.frames.put(make_frame(n))
    wait_for(lambda: recorder.status().frames == 10, "the first 10 frames")
    recorder.start_segment("trial002", trial=2)  # takes over from trial001
    for n in range(14, 21):  # frames 11-13 never arrive
        camera.frames.put(make_frame(n))
    wait_for(lambda: recorder.status().frames == 17, "the next 7 frames")
    status = recorder.status()
    recorder.stop()
    assert status.dropped_frames == 3 and status.lost_frames == 0
    with open_session(tmp_path / "s") as s:
        first, second = s.segment("trial001"), s.segment("trial002")
        numbers = np.concatenate([first.column("frame_number"), second.column("frame_number")])
        np.testing.assert_array_equal(numbers, [*range(1, 11), *range(14, 21)])
        assert first.dropped_frames == 0 and second.dropped_frames == 3
        info = summarize(s)
    assert info["dropped_frames"] == 3 and info["segments"]["trial002"]["dropped_frames"] == 3
    assert "17 frames, 3 dropped, 0 lost" in format_summary(info)


def test_the_cameras_own_loss_counts_go_to_the_segment_recording_then(tmp_path):
    camera = HandFedCamera()
    recorder = Recorder(tmp_path / "s", SessionMetadata("P08"), streams={}, camera=camera)
    recorder.connect()
    recorder.start(first_segment=("trial001", 1))
    for n in range(1, 11):
        camera.frames.put(make_frame(n))
    wait_for(lambda: recorder.status().frames == 10, "the first 10 frames")
    camera.counted = CameraLosses(missed_triggers=2)  # two triggers made no frame
    # Read while no frame comes (each read timeout), and shown live.
    wait_for(lambda: recorder.status().camera_losses == camera.counted, "the missed triggers")
    recorder.start_segment("trial002", trial=2)
    for n in range(11, 16):
        camera.frames.put(make_frame(n))
    wait_for(lambda: recorder.status().frames == 15, "the next 5 frames")
    camera.counted = CameraLosses(transport_skipped=1, missed_triggers=2)  # the last frame
    recorder.stop()  # the counters are read when the segment stops (if not just before)
    with open_session(tmp_path / "s") as s:
        first, second = s.segment("trial001"), s.segment("trial002")
        assert first.camera_losses == CameraLosses(missed_triggers=2)
        assert (first.frame_gaps, first.dropped_frames) == (0, 2)
        # Read at the stop: lost after frame 15, so no later frame shows a gap for it.
        assert second.camera_losses == CameraLosses(transport_skipped=1)
        assert (second.frame_gaps, second.dropped_frames) == (0, 1)
        np.testing.assert_array_equal(first.file["camera_losses"][:], [[10, 0, 0, 2]])
        np.testing.assert_array_equal(second.file["camera_losses"][:], [[15, 1, 0, 0]])
        assert (first.attrs["missed_triggers"], second.attrs["transport_skipped"]) == (2, 1)
        index = s.file["segments"][:]
        np.testing.assert_array_equal(index["dropped_frames"], [2, 1])
        info = summarize(s)
    assert (info["dropped_frames"], info["missed_triggers"], info["transport_skipped"]) == (3, 2, 1)
    assert "15 frames, 3 dropped (1 skipped by the camera, 2 missed triggers), 0 lost" in (
        format_summary(info))


@pytest.mark.slow
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


@pytest.mark.slow
def test_replayed_session_re_records_the_same_samples_and_frames(simulated_session, tmp_path):
    from app.cli.record import record_replay

    again = tmp_path / "replayed"
    options = RecordOptions(again, SessionMetadata("SIM01"), duration=0.0, segment_length=60.0)
    asked = local_clock()
    record_replay(options, simulated_session, progress=False)
    with open_session(simulated_session) as original, open_session(again) as copy:
        assert copy.metadata.simulated and "replay of" in copy.metadata.notes
        for name in ("SynAmps", "MP160"):
            a, b = original.streams[name], copy.streams[name]
            assert b.labels == a.labels and b.units == a.units
            assert b.nominal_rate == a.nominal_rate and b.type == a.type
            np.testing.assert_array_equal(b.samples[:], a.samples[:])
            np.testing.assert_array_equal(b.times("device_time")[:], a.times("device_time")[:])
            # Delivered at the recorded timing: nothing reaches the new recording before
            # the time it was received in the original, counted from the replay's start
            # (all at once would put late samples seconds early).
            lag = b.times()[:] - a.times()[:]
            assert lag.min() >= asked - original.attrs["start_time"]
        frames = [original.segment(n) for n in original.segment_names()]
        (replayed,) = [copy.segment(n) for n in copy.segment_names()]
        for column in ("frame_number", "device_time", "gpi_level"):
            np.testing.assert_array_equal(
                replayed.column(column), np.concatenate([f.column(column) for f in frames]))
        np.testing.assert_array_equal(
            replayed.frames(), np.concatenate([f.frames() for f in frames]))


@pytest.mark.slow
def test_live_status_and_a_stream_outage_during_recording(tmp_path, sim_lab):
    lab = sim_lab(seed=4, duration=60, start=True)
    told: list[str] = []
    recorder = Recorder(tmp_path / "s", SessionMetadata("P02", simulated=True),
                        streams={"eeg": lab.eeg_stream(), "physio": lab.physio_stream()},
                        camera=lab.camera(), trigger=lab.trigger_box(),
                        on_message=told.append)
    recorder.connect()
    recorder.start(first_segment=("trial001", 1))

    def receiving() -> bool:
        now = recorder.status()
        return now.frames >= 300 and all(x.rate > 0 for x in now.streams)

    wait_for(receiving, "2 s of frames and samples from every stream")
    before = recorder.status()
    early, status, late = local_clock(), recorder.status(), local_clock()
    lab.interrupt("physio", 1.5)
    # liblsl reconnects to the returning outlet within a few seconds (more when busy).
    wait_for(lambda: any("no data" in m for m in told), "the physio stream to come back")
    time.sleep(0.5)  # some samples after the outage
    recorder.stop()

    assert status.frames >= 300 and status.dropped_frames == 0 and status.lost_frames == 0
    assert 0 <= status.queue_fill <= 1 and status.disk_free > 0
    assert status.recording_time_left > 60
    by_name = {s.name: s for s in status.streams}
    for role in ("eeg", "physio"):
        assert by_name[role].rate > 0 and by_name[role].connected
        assert 0 <= by_name[role].last_sample_age < status.elapsed
    assert any("physio" in m and "no data" in m for m in told)
    with open_session(tmp_path / "s") as s:
        seg = s.segment("trial001")
        np.testing.assert_array_equal(np.diff(seg.column("frame_number")), 1)
        # The camera's own clock: one frame every 1/150 s.
        np.testing.assert_allclose(np.diff(seg.column("device_time")), 1 / 150, rtol=1e-3)
        # camera_fps is half the frames received in the 2 s before the status was taken.
        # The segment holds every frame in order: the first `before.frames - 1` had arrived
        # by then, and none stamped after it had.
        host = seg.column("host_time")
        assert np.count_nonzero(host[:before.frames - 1] >= late - 2.0) <= 2 * status.camera_fps
        assert 2 * status.camera_fps <= np.count_nonzero((host >= early - 2.0) & (host <= late))

        # The EEG lost nothing: its amplifier's clock ticks every 1 ms from first to last.
        eeg = s.streams[lab.eeg_info.name]
        np.testing.assert_allclose(np.diff(eeg.times("device_time")[:]), 1e-3, rtol=1e-3)
        # The physio outage is a hole, not made-up samples: the amplifier's own clock jumps by
        # the 1.5 s it was away (less one sample period), 1 ms steps on either side...
        physio = s.streams[lab.physio_info.name]
        steps = np.diff(physio.times("device_time")[:])
        hole = int(np.argmax(steps))
        assert steps[hole] >= 1.49
        np.testing.assert_allclose(np.delete(steps, hole), 1e-3, rtol=1e-3)
        # ...and a gap was recorded across it: last sample before, first sample after. (A
        # machine too busy to read for 0.5 s adds gaps without a hole: no data, none lost.)
        received = physio.times()[:]
        assert (received[hole], received[hole + 1]) in [tuple(g) for g in physio.gaps]


def test_trigger_box_edges_are_stored_during_recording_without_lsl_streams(tmp_path, sim_lab):
    """A camera + trigger box rig: the box's edges reach the file while recording (a crash
    would keep them), not only at stop()."""
    lab = sim_lab(seed=5, duration=30, start=True)
    recorder = Recorder(tmp_path / "s", SessionMetadata("P03", simulated=True), streams={},
                        camera=lab.camera(), trigger=lab.trigger_box())
    recorder.connect()
    recorder.start(first_segment=("trial001", 1))
    codes: list[np.ndarray] = []

    def in_the_file() -> bool:
        # the first probe, then sync pulses every ~1 s; edges are flushed every 0.1 s
        with open_session(tmp_path / "s") as live:
            codes.append(live.streams["TriggerBox"].samples[:, 0])
        return SYNC in codes[-1] and len(codes[-1]) >= 3

    wait_for(in_the_file, "sync edges in the session file while recording")
    recorder.stop()


def test_simulated_recording_longer_than_the_lab_is_refused_before_anything_starts(tmp_path):
    options = RecordOptions(tmp_path / "s", SessionMetadata("P04"), duration=3600.0,
                            segment_length=2.0)
    with pytest.raises(ValueError, match="--simulate records at most 870 s"):
        record_simulated(options, progress=False)
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
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
