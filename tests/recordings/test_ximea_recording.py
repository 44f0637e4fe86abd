"""The simulated lab recorded through the XIMEA driver path: XimeaCamera -> XIMEA's binding
(xiapipy) -> our libm3api double, whose sensor is the simulated lab's face camera."""

from __future__ import annotations

import numpy as np
import pytest

from app.cli.record import RecordOptions, run_recording
from drivers.ximea import XimeaCamera, XimeaSettings
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session

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
