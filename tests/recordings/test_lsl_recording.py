"""Any number of LSL streams through the recorder: real pylsl outlets on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import numpy as np
import pytest

from core.devices import StreamInfo
from drivers.lsl import LslInlet
from drivers.lsl_outlet import LslOutlet
from recordings.markers import MARKER_EVENT
from recordings.recorder import Recorder, RecorderError
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session
from tests.conftest import unique_prefix


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll until condition() holds; the deadline only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {timeout:g} s"
        time.sleep(0.05)


def counted(recorder: Recorder, role: str) -> int:
    """Samples of a stream the recorder has written so far."""
    return next(s.samples for s in recorder.status().streams if s.name == role)


def test_extra_streams_and_a_marker_stream_are_recorded_bit_exact(tmp_path, senders):
    amp = senders("Amp2", "EEG", 8, 500.0, types=("EEG",) * 7 + ("STIM",))
    gaze = senders("Gaze", "Gaze", 3, 250.0)
    markers = senders("Markers", "Markers", 1, 0.0)
    streams = {"amp": LslInlet(source_id=amp.info.source_id),
               "gaze": LslInlet(type="Gaze", hostname=socket.gethostname(),
                                name=gaze.info.name),
               "markers": LslInlet(name=markers.info.name)}
    recorder = Recorder(tmp_path / "s", SessionMetadata("P10"), streams=streams)
    recorder.connect()
    recorder.start()
    wait_for(lambda: all(counted(recorder, role) >= 10 for role in streams),
             "samples of every stream and ten markers")
    recorder.stop()

    with open_session(tmp_path / "s") as s:
        for sender in (amp, gaze):
            view = s.streams[sender.info.name]
            samples = view.samples[:]
            index = samples[:, 0].astype(np.int64)
            np.testing.assert_array_equal(np.diff(index), 1)  # nothing missing in between
            np.testing.assert_array_equal(samples, sender.values(index))
            np.testing.assert_array_equal(view.times("device_time")[:], sender.stamp(index))
            assert view.labels == list(sender.info.channel_labels)
            assert view.units == list(sender.info.channel_units)
            assert view.hostname == socket.gethostname()
            assert f"<name>{sender.info.name}</name>" in view.header_xml
            assert view.samples_lost == 0 and len(view.gaps) == 0
        # The trigger channel's type, as the sender declared it, is in the session.
        assert s.streams[amp.info.name].channel_types == ["EEG"] * 7 + ["STIM"]
        assert s.streams[gaze.info.name].channel_types == [""] * 3

        view = s.streams[markers.info.name]
        values = list(view.samples[:, 0])
        index = np.array([int(v.split()[1]) for v in values])
        np.testing.assert_array_equal(np.diff(index), 1)
        assert values == [f"marker {i}" for i in index]
        device = view.times("device_time")[:]
        host = view.times("host_time")[:]
        np.testing.assert_array_equal(device, markers.stamp(index))
        # Every marker is also an event, with both raw times.
        events = [e for e in s.events if e.kind == MARKER_EVENT]
        assert [e.payload["value"] for e in events] == values
        assert [e.payload["device_time"] for e in events] == list(device)
        assert [e.payload["host_time"] for e in events] == list(host)
        assert {e.payload["stream"] for e in events} == {markers.info.name}
        for event in events:
            if event.payload["time_from"] == "lsl_clock_offset":
                # Sender on this computer: the same clock, an offset of ~0.
                assert abs(event.time - event.payload["device_time"]) < 0.005
            else:
                assert event.payload["time_from"] == "host_receipt"
                assert event.time == event.payload["host_time"]
        devices = s.metadata.devices
        assert devices["gaze"]["hostname"] == socket.gethostname()


@pytest.mark.slow
def test_a_restarted_sender_loses_at_most_0_1_s_and_the_loss_is_counted(tmp_path, senders):
    amp = senders("Counter", "EEG", 2, 1000.0)
    told: list[str] = []
    recorder = Recorder(tmp_path / "s", SessionMetadata("P11"),
                        streams={"amp": LslInlet(source_id=amp.info.source_id)},
                        on_message=told.append)
    recorder.connect()
    recorder.start()
    wait_for(lambda: counted(recorder, "amp") >= 300, "300 samples")
    amp.restart(pause=0.3)
    wait_for(lambda: any("samples lost" in m for m in told), "the sender to be back")
    after = counted(recorder, "amp")
    wait_for(lambda: counted(recorder, "amp") >= after + 300, "300 samples after the return")
    stats = recorder.stop()

    with open_session(tmp_path / "s") as s:
        view = s.streams[amp.info.name]
        index = view.samples[:, 0].astype(np.int64)
        steps = np.diff(index)
        (hole,) = np.flatnonzero(steps != 1)
        # Sent after the restart and not recorded: at most 0.1 s at 1000 Hz.
        assert amp.restarts[0] <= index[hole + 1] <= amp.restarts[0] + 100
        missing = int(steps[hole] - 1)
        assert view.samples_lost == missing == s.attrs["samples_lost"]
        assert stats.samples_lost == {amp.info.name: missing}
        host = view.times("host_time")[:]
        np.testing.assert_array_equal(view.gaps, [[host[hole], host[hole + 1]]])
        np.testing.assert_array_equal(view.times("device_time")[:], amp.stamp(index))
    assert any(f"{missing} samples lost" in m for m in told)


def test_two_streams_with_one_name_are_refused_before_anything_is_written(tmp_path):
    prefix = unique_prefix("clash")
    outlets = [LslOutlet(StreamInfo(f"{prefix}Markers", "Markers", f"{prefix}{i}", ("m",),
                                    ("",), 0.0, "string")) for i in (1, 2)]
    cases = {
        "both named": {"stim": LslInlet(source_id=f"{prefix}1"),
                       "type=Markers": LslInlet(source_id=f"{prefix}2")},
        "select the same stream": {"a": LslInlet(source_id=f"{prefix}1"),
                                   "b": LslInlet(source_id=f"{prefix}1")},
    }
    try:
        for problem, streams in cases.items():
            recorder = Recorder(tmp_path / "s", SessionMetadata("P12"), streams=streams)
            recorder.connect()
            try:
                with pytest.raises(RecorderError, match=problem) as caught:
                    recorder.start()
                assert f"{prefix}Markers" in str(caught.value)
                assert not (tmp_path / "s").exists()
            finally:
                for stream in streams.values():
                    stream.close()
    finally:
        for outlet in outlets:
            outlet.close()
