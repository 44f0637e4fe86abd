"""The simulated lab recorded through the XIMEA driver path: XimeaCamera -> XIMEA's binding
(xiapipy) -> our libm3api double, whose sensor is the simulated lab's face camera."""

from __future__ import annotations

import numpy as np
import pytest

from app.cli.record import RecordOptions, run_recording
from core.devices import CameraLosses
from drivers.ximea import XimeaCamera, XimeaSettings
from recordings.recorder import Recorder
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session
from recordings.summary import format_summary, summarize
from tests.recordings.test_recorder import wait_for

SECONDS = 10.0


@pytest.mark.slow
def test_ten_seconds_at_150_fps_through_xiapi_drop_nothing(m3api, sim_lab, tmp_path):
    lab = sim_lab(seed=5, duration=SECONDS + 30, width=640, height=480,
                  pixel_format="bayer_gb8", start=True)
    m3api.reset(bandwidth_mbps=3600, source=lab.camera())
    camera = XimeaCamera(XimeaSettings(width=640, height=480, frame_rate=150.0))
    folder = tmp_path / "XIM01_s01"
    options = RecordOptions(folder, SessionMetadata("XIM01"), duration=SECONDS,
                            segment_length=SECONDS)
    streams = {"eeg": lab.eeg_stream(), "physio": lab.physio_stream()}
    recorder = run_recording(options, streams, camera, lab.trigger_box(), progress=False)
    assert recorder is not None and recorder.failure is None
    assert camera.dropped_frames == 0 and camera.counters.api_skipped == 0
    with open_session(folder) as s:
        (name,) = s.segment_names()
        seg = s.segment(name)
        assert seg.complete and seg.dropped_frames == 0 and seg.lost_frames == 0
        # The camera's CFA, read through xiAPI, is what the segment says to demosaic with.
        assert seg.pixel_format == "bayer_gb8"
        numbers = seg.column("frame_number")
        assert numbers[0] == 1 and len(numbers) >= 0.97 * SECONDS * 150
        np.testing.assert_array_equal(np.diff(numbers), 1)
        # The device clock, through the 40-bit tsSec/tsUSec, ticks once per 1/150 s.
        np.testing.assert_allclose(np.diff(seg.column("device_time")), 1 / 150, rtol=1e-3)
        gpi = seg.column("gpi_level")
        assert gpi.max() == 1 and 0 < gpi.sum() < len(gpi) // 10  # the sync pulses, sampled


def test_skipped_frames_and_missed_triggers_reach_the_session_file(m3api, tmp_path):
    period = round(1e6 / 150)
    # 120 triggers at 150 Hz; four more 1.3 ms after one, inside its exposure: missed, no frame.
    extra = [i * period + 1300 for i in (20, 40, 60, 80)]
    m3api.reset(triggers_us=sorted([i * period for i in range(120)] + extra),
                transport_lost={10, 11}, api_lost={50, 120})  # 120: the last, so no gap after
    camera = XimeaCamera(XimeaSettings(width=64, height=48, trigger_mode="hardware",
                                       sync_gpi_port=None))
    folder = tmp_path / "XIM02_s01"
    recorder = Recorder(folder, SessionMetadata("XIM02"), streams={}, camera=camera)
    recorder.connect()
    recorder.start(first_segment=("trial001", 1))
    delivered = 120 - 4
    wait_for(lambda: recorder.status().frames == delivered and not m3api.camera().triggers,
             "every trigger to be taken")
    recorder.stop()
    with open_session(folder) as s:
        seg = s.segment("trial001")
        assert len(seg.column("frame_number")) == delivered and seg.frame_gaps == 3
        assert seg.camera_losses == CameraLosses(transport_skipped=2, api_skipped=2,
                                                 missed_triggers=4)
        assert seg.dropped_frames == 4 + 4 == seg.attrs["dropped_frames"]
        assert s.file["segments"]["dropped_frames"][0] == 8
        info = summarize(s)
    assert (info["dropped_frames"], info["missed_triggers"], info["api_skipped"]) == (8, 4, 2)
    assert "8 dropped (4 skipped by the camera, 4 missed triggers)" in format_summary(info)
