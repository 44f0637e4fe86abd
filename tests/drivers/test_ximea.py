"""XimeaCamera through XIMEA's own binding (xiapipy's xiapi.py, unmodified) over our double of
its native library libm3api (tests/drivers/m3api_double.py, an MQ022CG-CM)."""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np
import pytest

from core.clock import local_clock
from core.devices import CameraLosses, DeviceError
from drivers.interfaces import Camera
from drivers.ximea import TIMESTAMP_WRAP_S, XimeaCamera, XimeaSettings
from tests.drivers.m3api_double import (
    CNT_API_SKIPPED,
    RAW8,
    SENSOR_H,
    SENSOR_W,
    expected_pixels,
    needed_mbps,
)

SMALL = {"width": 64, "height": 48}


def open_camera(**settings) -> XimeaCamera:
    cam = XimeaCamera(XimeaSettings(**settings))  # the binding found by its import name
    cam.open()
    return cam


def read_all(cam: XimeaCamera, limit: int = 100) -> list:
    frames = []
    for _ in range(limit):
        frame = cam.read(0.01)
        if frame is None:
            break
        frames.append(frame)
    return frames


def test_is_a_camera():
    assert isinstance(XimeaCamera(), Camera)


def test_open_by_serial_applies_settings_in_a_valid_order(m3api):
    m3api.reset(serials=["11111111", "32301551"])
    cam = open_camera(serial="32301551", exposure_us=4000, gain_db=2.5, offset_x=64,
                      offset_y=32, width=640, height=480, buffers_queue_size=64)
    assert m3api.calls[0] == ("xiOpenDevice", "32301551", None)
    frame_bytes = 640 * 480
    # Offsets go to 0 before the ROI size, exposure before the frame rate it limits, the
    # acquisition buffer before the queue it bounds. Values as the C library receives them.
    assert m3api.set_calls() == [
        ("aeag", 0), ("imgdataformat", RAW8), ("offsetX", 0), ("offsetY", 0),
        ("width", 640), ("height", 480), ("offsetX", 64), ("offsetY", 32),
        ("exposure", 4000.0), ("gain", 2.5), ("trigger_source", 0), ("acq_timing_mode", 1),
        ("framerate", 150.0), ("gpi_selector", 1), ("gpi_mode", 0), ("buffer_policy", 0),
        ("acq_buffer_size", 65 * frame_bytes), ("buffers_queue_size", 64),
    ]
    info = cam.info
    assert (info.model, info.serial) == ("MQ022CG-CM", "32301551")
    # The camera's CFA (GBRG on an MQ022CG-CM), not an assumption, names the stored format.
    assert (info.width, info.height, info.pixel_format) == (640, 480, "bayer_gb8")
    assert info.settings["cfa"] == "XI_CFA_BAYER_GBRG"
    assert info.frame_rate == 150.0
    applied = info.settings["applied"]
    assert (applied["exposure_us"], applied["offset_x"], applied["offset_y"]) == (4000, 64, 32)
    assert applied["buffers_queue_size"] == 64 and info.settings["gpi_sync_mask"] == 1
    camera = info.settings["camera"]
    assert (camera["sensor_width"], camera["sensor_height"]) == (SENSOR_W, SENSOR_H)
    assert (camera["available_mbps"], camera["limit_mbps"]) == (3600, 3240)


@pytest.mark.parametrize(("model", "cfa", "image_format", "stored"), [
    ("MQ022CG-CM", "XI_CFA_BAYER_GBRG", "RAW8", "bayer_gb8"),
    ("MQ013CG-E2", "XI_CFA_BAYER_RGGB", "RAW8", "bayer_rg8"),
    ("MC050CG-SY", "XI_CFA_BAYER_GRBG", "RAW8", "bayer_gr8"),
    ("MX031CG-SY", "XI_CFA_BAYER_BGGR", "RAW8", "bayer_bg8"),
    ("MQ022MG-CM", "XI_CFA_NONE", "RAW8", "mono8"),
    ("MQ022CG-CM", "XI_CFA_BAYER_GBRG", "MONO8", "mono8"),
])
def test_pixel_format_follows_the_cameras_cfa(m3api, model, cfa, image_format, stored):
    m3api.reset(model=model, cfa=cfa)
    cam = open_camera(image_format=image_format, **SMALL)
    assert cam.info.pixel_format == stored and cam.info.model == model


def test_roi_defaults_to_rest_of_sensor_after_offset(m3api):
    cam = open_camera(offset_x=48, offset_y=88, frame_rate=100.0)
    assert (cam.info.width, cam.info.height) == (2000, 1000)


def test_frames_carry_metadata_and_are_copied_once(m3api, monkeypatch):
    m3api.reset(gpi_pattern=(0, 1, 1, 0), ts_start_us=2_000_000)
    handed_out = []
    real = m3api.xiapi.Image.get_image_data_numpy

    def spy(image, *args):
        handed_out.append(real(image, *args))
        return handed_out[-1]

    monkeypatch.setattr(m3api.xiapi.Image, "get_image_data_numpy", spy)
    cam = open_camera(frame_rate=100.0, **SMALL)
    cam.start()
    before = local_clock()
    frames = [cam.read(0.5) for _ in range(6)]
    assert [f.frame_number for f in frames] == [1, 2, 3, 4, 5, 6]
    assert [f.gpi_level for f in frames] == [0, 1, 1, 0, 0, 1]
    assert [f.device_time for f in frames] == pytest.approx([2.0 + 0.01 * i for i in range(6)])
    hosts = [f.host_time for f in frames]
    assert before <= hosts[0] and hosts == sorted(hosts) and hosts[-1] <= local_clock()
    ring = m3api.ring_addresses()
    for n, f in enumerate(frames, start=1):
        # The binding's fresh array is the frame: no copy by xiAPI (XI_BP_UNSAFE) nor melab.
        assert f.image is handed_out[n - 1] and f.image.ctypes.data not in ring
        # Frame 1 still holds its own pixels after xiAPI's two buffers were reused.
        np.testing.assert_array_equal(f.image, expected_pixels(n, 48, 64))
    assert m3api.safe_copies == 0 and cam.dropped_frames == 0


def test_safe_buffer_policy_costs_xiapi_a_copy_per_frame(m3api):
    cam = open_camera(buffer_policy="XI_BP_SAFE", **SMALL)
    cam.start()
    frames = [cam.read(0.1) for _ in range(3)]
    np.testing.assert_array_equal(frames[2].image, expected_pixels(3, 48, 64))
    assert m3api.safe_copies == 3


def test_drops_count_frame_gaps_and_xiapis_skipped_frame_counters(m3api):
    m3api.reset(frames=10, transport_lost={4, 5}, api_lost={8})
    cam = open_camera(**SMALL)
    cam.start()
    assert [f.frame_number for f in read_all(cam)] == [1, 2, 3, 6, 7, 9, 10]
    cam.stop()
    c = cam.counters
    assert (c.gaps, c.transport_skipped, c.api_skipped, c.missed_triggers) == (3, 2, 1, 0)
    assert cam.dropped_frames == 3
    # The last frame lost: no later frame shows a gap, xiAPI's counter does.
    m3api.scenario.transport_lost, m3api.scenario.api_lost = {10}, set()
    cam.start()
    assert len(read_all(cam)) == 9
    cam.stop()
    assert cam.counters.gaps == 0 and cam.dropped_frames == 1


def test_counters_are_read_while_recording(m3api, monkeypatch):
    m3api.reset(frames=400, api_lost={100})
    monkeypatch.setattr("drivers.ximea.COUNTER_POLL_FRAMES", 50)
    cam = open_camera(**SMALL)
    cam.start()
    for _ in range(120):
        cam.read(0.1)
    assert cam.counters.api_skipped == 1  # read at the 100th frame, before any stop()
    assert m3api.camera().counters[CNT_API_SKIPPED] == 1


def test_losses_reads_xiapis_counters_now(m3api):
    m3api.reset(frames=400, transport_lost={3}, api_lost={5, 6})
    cam = open_camera(**SMALL)
    assert cam.losses() == CameraLosses()  # not acquiring: nothing read
    cam.start()
    for _ in range(10):  # far fewer than COUNTER_POLL_FRAMES: read() has not polled yet
        cam.read(0.1)
    assert cam.counters.api_skipped == 0
    assert cam.losses() == CameraLosses(transport_skipped=1, api_skipped=2)
    assert cam.counters.gaps == 3 and cam.dropped_frames == 3  # the gaps are kept


def test_hardware_trigger_counts_missed_triggers(m3api):
    period = round(1e6 / 150)
    # Triggers 1.3 ms after an accepted one fall into its 5 ms exposure: missed, no frame.
    triggers = [0, period, period + 1300, 2 * period, 2 * period + 700, 3 * period]
    m3api.reset(triggers_us=triggers, ts_start_us=0)
    cam = open_camera(trigger_mode="hardware", sync_gpi_port=None, **SMALL)
    assert ("gpi_mode", 1) in m3api.set_calls() and ("trigger_source", 1) in m3api.set_calls()
    assert not any(name == "framerate" for name, _ in m3api.set_calls())
    assert m3api.camera().gpi_modes == {1: 1}  # port 1 triggers
    cam.start()
    frames = read_all(cam)
    assert [f.device_time for f in frames] == pytest.approx([0, period / 1e6, 2 * period / 1e6,
                                                             3 * period / 1e6])
    assert [f.frame_number for f in frames] == [1, 2, 3, 4]  # no gap shows a missed trigger
    cam.stop()
    assert cam.counters.missed_triggers == 2 and cam.dropped_frames == 2


def test_two_input_camera_triggers_on_one_port_and_samples_sync_on_the_other(m3api):
    m3api.reset(model="MC023CG-SY", gpi_ports=2)
    cam = open_camera(trigger_mode="hardware", trigger_gpi_port=1, sync_gpi_port=2, **SMALL)
    assert m3api.camera().gpi_modes == {1: 1, 2: 0}
    assert cam.info.settings["gpi_sync_mask"] == 0b10 and cam.info.frame_rate == 150.0


@pytest.mark.parametrize(("settings", "named"), [
    ({"sync_gpi_port": 2}, "sync_gpi_port=2"),
    ({"trigger_mode": "hardware", "trigger_gpi_port": 2, "sync_gpi_port": None},
     "trigger_gpi_port=2"),
])
def test_ports_the_model_lacks_are_refused_before_configuring(m3api, settings, named):
    with pytest.raises(DeviceError, match=r"has 1 digital input\(s\) \(GPI port 1\)") as err:
        open_camera(**settings, **SMALL)
    assert named in str(err.value)
    assert not any(name == "gpi_selector" for name, _ in m3api.set_calls())
    assert m3api.cams == {}  # closed again


def test_timeout_returns_none_and_passes_milliseconds(m3api):
    m3api.reset(frames=3, timeout_calls={2})
    cam = open_camera(**SMALL)
    cam.start()
    assert cam.read(0.25).frame_number == 1
    assert cam.read(0.25) is None
    assert [cam.read(0.25).frame_number for _ in range(2)] == [2, 3]
    assert cam.read(0.25) is None  # no more frames
    assert ("xiGetImage", None, 250) in m3api.calls


def test_device_time_unwraps_the_40_bit_microsecond_counter(m3api):
    m3api.reset(ts_start_us=2**40 - 25_000)
    cam = open_camera(frame_rate=100.0, **SMALL)
    cam.start()
    times = [f.device_time for f in read_all(cam, 6)]
    start = (2**40 - 25_000) / 1e6
    assert times == pytest.approx([start + 0.01 * i for i in range(6)], abs=1e-6)
    assert cam.info.settings["device_time_wrap_s"] == TIMESTAMP_WRAP_S == 2**40 / 1e6
    # 2^32 us is no wrap on this counter: time runs straight through it.
    m3api.reset(ts_start_us=2**32 - 15_000)
    cam = open_camera(frame_rate=100.0, **SMALL)
    cam.start()
    times = [f.device_time for f in read_all(cam, 4)]
    assert times == pytest.approx([(2**32 - 15_000) / 1e6 + 0.01 * i for i in range(4)])


@pytest.mark.parametrize(("mbps", "refused"), [(3600, False), (2400, True), (1800, True)])
def test_bandwidth_preflight_at_full_frame_150_fps(m3api, mbps, refused):
    m3api.reset(bandwidth_mbps=mbps)
    if not refused:
        assert open_camera().info.frame_rate == 150.0
        return
    with pytest.raises(DeviceError) as err:
        open_camera()
    limit = int(0.9 * mbps)
    msg = str(err.value)
    assert f"this USB controller measured {mbps:,} Mbit/s (xiAPI uses up to {limit:,})" in msg
    assert f"150 fps at 2048x1088 needs {needed_mbps(2048, 1088, 150):,.0f}" in msg
    assert "needs 2,674" in msg and "use a dedicated USB3 controller" in msg
    top = limit / needed_mbps(2048, 1088, 1)
    assert f"at most {top:.1f} fps at 2048x1088" in msg
    assert not any(name == "framerate" for name, _ in m3api.set_calls())
    assert m3api.cams == {}


def test_a_lower_roi_fits_the_slow_controller(m3api):
    m3api.reset(bandwidth_mbps=1800)
    cam = open_camera(height=600)  # 2048x600 at 150 fps: 1,475 of 1,620 Mbit/s
    assert cam.info.frame_rate == 150.0 and cam.info.settings["camera"]["needed_mbps"] < 1620


def test_sensor_limit_is_told_apart_from_bandwidth(m3api):
    # 2048x1000 at 190 fps needs 3,113 of 3,240 Mbit/s, but the sensor reads 1000 rows at
    # most 170 * 1088 / 1000 = 185 times a second.
    with pytest.raises(DeviceError, match=r"190 fps is above this camera's maximum of 185.0 fps"
                                          r" at 2048x1000 with exposure 4000 us: reduce"):
        open_camera(frame_rate=190.0, exposure_us=4000, height=1000)


def test_report_describes_camera_and_link(m3api):
    m3api.reset(bandwidth_mbps=1800)
    report = XimeaCamera(XimeaSettings(height=1080, width=2040)).report()
    text = "\n".join(report.lines())
    for part in ("MQ022CG-CM", "32301551", "XI_CFA_BAYER_GBRG (stored as bayer_gb8)",
                 "sensor           2048x1088", "measured 1,800 Mbit/s", "limit 1,620 Mbit/s",
                 "91.9 fps", "NOT POSSIBLE"):
        assert part in text
    assert m3api.cams == {}  # released again


def test_buffer_queue_sized_after_acq_buffer_and_capped_by_the_camera(m3api):
    binding = m3api.xiapi.Camera()
    binding.open_device()
    with pytest.raises(m3api.xiapi.Xi_error) as err:  # xiAPI's default buffer: a few frames
        binding.set_buffers_queue_size(128)
    assert err.value.status == 114
    binding.close_device()
    cam = open_camera(buffers_queue_size=1000)  # 1000 full frames exceed acq_buffer_size's max
    calls = m3api.set_calls()
    assert ("acq_buffer_size", 2**31 - 1) in calls
    applied = (2**31 - 1) // (SENSOR_W * SENSOR_H)
    assert calls[-1] == ("buffers_queue_size", applied)
    assert cam.info.settings["applied"]["buffers_queue_size"] == applied


@pytest.mark.parametrize(("settings", "scenario", "status", "message"), [
    ({"exposure_us": 2_000_000, "frame_rate": None}, {}, 11,
     r"exposure=2000000 \(camera accepts minimum 28, maximum 1000000, increment 1\)"),
    ({"gain_db": 9.0}, {}, 114, r"gain=9 \(camera accepts minimum -1.5, maximum 6"),
    ({"width": 642, "height": 480}, {}, 114, r"width=642 .*increment 4"),
    ({}, {"unsupported": {"gain"}}, 106,
     r"does not support parameter 'gain' \(XimeaSettings.gain_db\)"),
    ({}, {"unknown": {"acq_buffer_size"}}, 100, "does not support parameter 'acq_buffer_size'"),
])
def test_xiapi_statuses_become_actions(m3api, settings, scenario, status, message):
    m3api.reset(**scenario)
    with pytest.raises(DeviceError, match=message) as err:
        open_camera(**settings)
    assert f"xiAPI status {status}," in str(err.value)
    assert "change XimeaSettings." in str(err.value) or "use a setting this model" in str(err.value)
    assert m3api.cams == {}  # the camera is closed again


def test_no_device_and_locked_messages(m3api):
    m3api.reset(serials=[])
    with pytest.raises(DeviceError, match="No XIMEA camera found") as err:
        open_camera()
    assert "cable" in str(err.value) and "serial number" in str(err.value)
    m3api.reset(serials=["11111111"])
    with pytest.raises(DeviceError, match=r"serial number 999 .*cameras seen: 1"):
        open_camera(serial="999")
    m3api.reset(locked={"32301551"})
    with pytest.raises(DeviceError, match="in use by another program"):
        open_camera()


def test_acquisition_stopped_and_other_statuses(m3api, monkeypatch):
    cam = open_camera(**SMALL)
    cam.start()
    m3api.camera().acquiring = False  # e.g. stopped behind the driver's back
    with pytest.raises(DeviceError, match=r"stopped \(xiAPI status 45\)"):
        cam.read(0.1)
    monkeypatch.setattr(m3api, "xiGetImage", lambda *args: 13)
    with pytest.raises(DeviceError, match="xiAPI status 13"):
        cam.read(0.1)


def test_lifecycle_errors_and_close_releases(m3api):
    cam = XimeaCamera(XimeaSettings(**SMALL))
    assert cam.info.model == "XIMEA (not open)" and cam.info.width == 64  # requested values
    with pytest.raises(DeviceError, match="call open"):
        cam.start()
    cam.open()
    with pytest.raises(DeviceError, match="call start"):
        cam.read(0.1)
    cam.start()
    cam.close()
    assert [c[0] for c in m3api.calls[-2:]] == ["xiStopAcquisition", "xiCloseDevice"]
    assert m3api.cams == {}
    cam.close()  # idempotent


def test_ximea_py_import_name_is_the_fallback(m3api, monkeypatch):
    alias = ModuleType("ximea")
    alias.xiapi = m3api.xiapi  # what ximea-py installs: the same xiapi.py under `ximea`
    monkeypatch.setitem(sys.modules, "xiapipy.xiapi", None)  # XIMEA's own name missing
    monkeypatch.setitem(sys.modules, "ximea", alias)
    monkeypatch.setitem(sys.modules, "ximea.xiapi", m3api.xiapi)
    cam = open_camera(**SMALL)
    assert cam.info.model == "MQ022CG-CM"


def test_missing_binding_and_missing_native_library(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "xiapipy.xiapi", None)
    monkeypatch.setitem(sys.modules, "ximea", None)
    with pytest.raises(DeviceError, match=r"pip install xiapipy") as err:
        XimeaCamera().open()
    assert "libm3api" in str(err.value) and "ximea-py" in str(err.value)
    pkg = tmp_path / "ximea"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    # What the binding does without XIMEA's native package installed.
    (pkg / "xiapi.py").write_text("raise OSError('libm3api.so.2: cannot open shared object')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ximea")
    try:
        with pytest.raises(DeviceError, match=r"libm3api\.so\.2: cannot open.*Software Package"):
            XimeaCamera().open()
    finally:
        for name in ("ximea.xiapi", "ximea"):
            sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exposure_us": 8000}, "shorten the exposure or lower frame_rate"),
        ({"offset_x": 3}, "must be even for RAW8"),
        ({"trigger_mode": "hardware"}, "cannot share GPI port 1"),
        ({"trigger_mode": "hardware", "frame_rate": None, "sync_gpi_port": None},
         "needs frame_rate"),
        ({"image_format": "RGB24"}, "image_format='RGB24'"),
        ({"buffer_policy": "XI_BP_FAST"}, "buffer_policy"),
        ({"width": 0}, "width=0 must be positive"),
    ],
)
def test_invalid_settings_are_refused_early(kwargs, message):
    with pytest.raises(DeviceError, match=message):
        XimeaSettings(**kwargs)


def test_valid_setting_variants():
    assert XimeaSettings(frame_rate=None, exposure_us=20_000).frame_rate is None
    assert XimeaSettings(offset_x=3, image_format="MONO8").offset_x == 3
    assert XimeaSettings(trigger_mode="hardware", sync_gpi_port=None).gpi_mask == 0
    assert XimeaSettings(sync_gpi_port=1, sync_gpi_mask=0x40).gpi_mask == 0x40
