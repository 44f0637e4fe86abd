"""XimeaCamera against our fake xiAPI (tests/drivers/fake_xiapi): settings, frames, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from core.clock import local_clock
from core.devices import DeviceError
from drivers.interfaces import Camera
from drivers.ximea import XimeaCamera, XimeaSettings

FAKE_DIR = Path(__file__).parent / "fake_xiapi"


def _forget_ximea() -> None:
    for name in ("ximea.xiapi", "ximea"):
        sys.modules.pop(name, None)


@pytest.fixture
def fake(monkeypatch):
    """The fake xiapi module, importable as `ximea.xiapi` for the duration of a test."""
    monkeypatch.syspath_prepend(str(FAKE_DIR))
    _forget_ximea()
    from ximea import xiapi

    xiapi.reset()
    yield xiapi
    _forget_ximea()


SMALL = {"width": 64, "height": 48}


def open_camera(fake, **settings) -> XimeaCamera:
    cam = XimeaCamera(XimeaSettings(**settings), xiapi_module=fake)
    cam.open()
    return cam


def set_calls(fake_cam) -> list[tuple]:
    return [c for c in fake_cam.calls if c[0].startswith("set_") or c[0] == "disable_aeag"]


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


def test_open_by_serial_applies_settings_in_a_valid_order(fake):
    fake.reset(serials=["11111111", "32301551"])
    cam = open_camera(
        fake,
        serial="32301551",
        exposure_us=4000,
        gain_db=2.5,
        frame_rate=150.0,
        offset_x=64,
        offset_y=32,
        width=640,
        height=480,
        buffers_queue_size=64,
    )
    fcam = fake.cameras[-1]
    assert fcam.calls[0] == ("open_device_by_SN", "32301551")
    # Offsets go to 0 before the ROI size, exposure before the frame rate it limits.
    assert set_calls(fcam) == [
        ("disable_aeag",),
        ("set_imgdataformat", "XI_RAW8"),
        ("set_offsetX", 0),
        ("set_offsetY", 0),
        ("set_width", 640),
        ("set_height", 480),
        ("set_offsetX", 64),
        ("set_offsetY", 32),
        ("set_exposure", 4000),
        ("set_gain", 2.5),
        ("set_trigger_source", "XI_TRG_OFF"),
        ("set_acq_timing_mode", "XI_ACQ_TIMING_MODE_FRAME_RATE"),
        ("set_framerate", 150.0),
        ("set_gpi_selector", "XI_GPI_PORT1"),
        ("set_gpi_mode", "XI_GPI_OFF"),
        ("set_buffer_policy", "XI_BP_SAFE"),
        ("set_buffers_queue_size", 64),
    ]
    assert fcam.aeag is False
    info = cam.info
    assert (info.model, info.serial) == ("MQ022CG-CM", "32301551")
    assert (info.width, info.height, info.pixel_format) == (640, 480, "bayer_rg8")
    assert info.frame_rate == 150.0
    applied = info.settings["applied"]
    assert (applied["exposure_us"], applied["offset_x"], applied["offset_y"]) == (4000, 64, 32)
    assert info.settings["gpi_sync_mask"] == 1
    assert info.settings["buffers_queue_size"] == 64


def test_open_by_index_full_sensor_mono(fake):
    fake.reset(serials=["11111111", "22222222"])
    cam = open_camera(fake, index=1, image_format="MONO8", bayer_pattern="bayer_gr8")
    fcam = fake.cameras[-1]
    assert fcam.calls[0] == ("open_device", 1)
    assert cam.info.serial == "22222222"
    assert (cam.info.width, cam.info.height) == (fake.SENSOR_WIDTH, fake.SENSOR_HEIGHT)
    assert cam.info.pixel_format == "mono8"
    assert fcam.get_imgdataformat() == "XI_MONO8"


def test_roi_defaults_to_rest_of_sensor_after_offset(fake):
    cam = open_camera(fake, offset_x=48, offset_y=88)
    assert (cam.info.width, cam.info.height) == (2000, 1000)


def test_hardware_trigger_and_sync_on_separate_ports(fake):
    fake.reset(gpi_ports=(1, 2))
    cam = open_camera(fake, trigger_mode="hardware", trigger_gpi_port=1, sync_gpi_port=2, **SMALL)
    fcam = fake.cameras[-1]
    calls = set_calls(fcam)
    assert ("set_trigger_source", "XI_TRG_EDGE_RISING") in calls
    assert ("set_trigger_selector", "XI_TRG_SEL_FRAME_START") in calls
    assert ("set_acq_timing_mode", "XI_ACQ_TIMING_MODE_FREE_RUN") in calls
    assert not any(c[0] == "set_framerate" for c in calls)
    fcam.set_gpi_selector("XI_GPI_PORT1")
    assert fcam.get_gpi_mode() == "XI_GPI_TRIGGER"
    fcam.set_gpi_selector("XI_GPI_PORT2")
    assert fcam.get_gpi_mode() == "XI_GPI_OFF"
    assert cam.info.frame_rate == 150.0  # the nominal trigger rate
    assert cam.info.settings["gpi_sync_mask"] == 0b10


def test_frames_carry_metadata_and_own_their_pixels(fake):
    fake.reset(gpi_pattern=(0, 1, 1, 0), ts_start_us=2_000_000)
    cam = open_camera(fake, frame_rate=100.0, **SMALL)
    cam.start()
    before = local_clock()
    frames = [cam.read(0.5) for _ in range(6)]
    after = local_clock()
    assert [f.frame_number for f in frames] == [1, 2, 3, 4, 5, 6]
    assert [f.gpi_level for f in frames] == [0, 1, 1, 0, 0, 1]
    assert [f.device_time for f in frames] == pytest.approx([2.0 + 0.01 * i for i in range(6)])
    hosts = [f.host_time for f in frames]
    assert before <= hosts[0] and hosts == sorted(hosts) and hosts[-1] <= after
    for n, f in enumerate(frames, start=1):
        assert f.image.dtype == np.uint8 and f.image.shape == (48, 64)
        # Frame 1 must still hold its own pixels after the buffer was reused five times.
        np.testing.assert_array_equal(f.image, fake.expected_pixels(n, 48, 64))
    assert cam.dropped_frames == 0


def test_dropped_frames_come_from_acq_nframe_gaps(fake):
    fake.reset(frames=10, drop={1, 4, 5, 8})
    cam = open_camera(fake, **SMALL)
    cam.start()
    frames = read_all(cam)
    assert [f.frame_number for f in frames] == [2, 3, 6, 7, 9, 10]
    assert cam.dropped_frames == 4
    cam.stop()
    fake.scenario.drop = set()
    cam.start()  # a new acquisition: numbering and the drop count restart
    assert cam.read(0.1).frame_number == 1
    assert cam.dropped_frames == 0


def test_timeout_returns_none_and_passes_milliseconds(fake):
    fake.reset(frames=3, timeout_calls={2})
    cam = open_camera(fake, **SMALL)
    cam.start()
    assert cam.read(0.25).frame_number == 1
    assert cam.read(0.25) is None
    assert cam.read(0.25).frame_number == 2
    assert cam.read(0.25).frame_number == 3
    assert cam.read(0.25) is None  # no more frames
    assert ("get_image", 250) in fake.cameras[-1].calls


def test_device_time_unwraps_the_32_bit_microsecond_counter(fake):
    fake.reset(ts_start_us=2**32 - 25_000)
    cam = open_camera(fake, frame_rate=100.0, **SMALL)
    cam.start()
    times = [f.device_time for f in read_all(cam, 6)]
    start = (2**32 - 25_000) / 1e6
    assert times == pytest.approx([start + 0.01 * i for i in range(6)], abs=1e-6)


def test_settings_land_in_camera_info_for_the_session_file(fake):
    cam = open_camera(fake, exposure_us=3000, **SMALL)
    s = cam.info.settings
    assert s["exposure_us"] == 3000 and s["image_format"] == "RAW8"
    assert s["device_time_wrap_s"] == pytest.approx(4294.967296)


def test_no_device_message_lists_what_to_check(fake):
    fake.reset(serials=[])
    with pytest.raises(DeviceError, match="No XIMEA camera found") as err:
        open_camera(fake)
    assert "cable" in str(err.value) and "serial number" in str(err.value)
    fake.reset(serials=["11111111"])
    with pytest.raises(DeviceError, match=r"serial number 999 .*cameras seen: 1"):
        open_camera(fake, serial="999")


def test_locked_camera_message(fake):
    fake.reset(locked={"32301551"})
    with pytest.raises(DeviceError, match="in use by another program"):
        open_camera(fake)


def test_wrong_value_names_parameter_value_limits_and_closes(fake):
    with pytest.raises(DeviceError) as err:
        open_camera(fake, gain_db=99.0)
    msg = str(err.value)
    assert "gain=99.0" in msg and "maximum 12.0" in msg and "XimeaSettings.gain_db" in msg
    fcam = fake.cameras[-1]
    assert fcam.calls[-1] == ("close_device",) and fcam.serial is None


def test_wrong_roi_reports_camera_increment(fake):
    with pytest.raises(DeviceError, match=r"width=641 .*increment 4"):
        open_camera(fake, width=641, height=480)


def test_missing_gpi_port_is_explained(fake):
    with pytest.raises(DeviceError, match=r"gpi_selector='XI_GPI_PORT2'.*one input"):
        open_camera(fake, trigger_mode="hardware", trigger_gpi_port=1, sync_gpi_port=2)


def test_unknown_parameter_message(fake):
    fake.reset(unsupported={"buffers_queue_size"})
    with pytest.raises(DeviceError, match="does not support parameter 'buffers_queue_size'"):
        open_camera(fake)


def test_acquisition_stopped_and_other_statuses(fake, monkeypatch):
    cam = open_camera(fake, **SMALL)
    cam.start()
    fcam = fake.cameras[-1]
    fcam.stop_acquisition()  # e.g. stopped behind the driver's back
    with pytest.raises(DeviceError, match=r"stopped \(xiAPI status 45\)"):
        cam.read(0.1)

    def broken(image, timeout):
        raise fake.Xi_error(13)

    monkeypatch.setattr(fcam, "get_image", broken)
    with pytest.raises(DeviceError, match="xiAPI status 13"):
        cam.read(0.1)


def test_lifecycle_errors_and_close_releases(fake):
    cam = XimeaCamera(XimeaSettings(**SMALL), xiapi_module=fake)
    assert cam.info.model == "XIMEA (not open)" and cam.info.width == 64  # requested values
    with pytest.raises(DeviceError, match="call open"):
        cam.start()
    cam.open()
    with pytest.raises(DeviceError, match="call start"):
        cam.read(0.1)
    cam.start()
    cam.close()
    fcam = fake.cameras[-1]
    assert fcam.calls[-2:] == [("stop_acquisition",), ("close_device",)]
    assert fcam.serial is None
    cam.close()  # idempotent


def test_lazy_import_finds_the_module_on_the_path(fake):
    cam = XimeaCamera(XimeaSettings(**SMALL))  # nothing injected: `from ximea import xiapi`
    cam.open()
    assert cam.info.model == "MQ022CG-CM"
    cam.close()


def test_missing_python_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "ximea", None)  # makes the import fail
    with pytest.raises(DeviceError, match=r"ximea-py") as err:
        XimeaCamera().open()
    assert "libm3api" in str(err.value)


def test_missing_native_library(monkeypatch, tmp_path):
    pkg = tmp_path / "ximea"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    # What the real binding does without XIMEA's native package installed.
    (pkg / "xiapi.py").write_text(
        "raise OSError('libm3api.so.2: cannot open shared object file')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _forget_ximea()
    try:
        with pytest.raises(DeviceError, match=r"libm3api\.so\.2: cannot open.*Software Package"):
            XimeaCamera().open()
    finally:
        _forget_ximea()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exposure_us": 8000}, "shorten the exposure or lower frame_rate"),
        ({"offset_x": 3}, "must be even for RAW8"),
        ({"trigger_mode": "hardware"}, "cannot share GPI port 1"),
        ({"image_format": "RGB24"}, "image_format='RGB24'"),
        ({"bayer_pattern": "bayer_xx8"}, "bayer_pattern='bayer_xx8'"),
        ({"sync_gpi_mode": "XI_GPI_TRIGGER"}, "sync_gpi_mode"),
        ({"width": 0}, "width=0 must be positive"),
    ],
)
def test_invalid_settings_are_refused_early(kwargs, message):
    with pytest.raises(DeviceError, match=message):
        XimeaSettings(**kwargs)


def test_valid_setting_variants():
    assert XimeaSettings(frame_rate=None, exposure_us=20_000).pixel_format == "bayer_rg8"
    assert XimeaSettings(offset_x=3, image_format="MONO8").pixel_format == "mono8"
    assert XimeaSettings(trigger_mode="hardware", sync_gpi_port=None).gpi_mask == 0
    assert XimeaSettings(sync_gpi_port=1, sync_gpi_mask=0x40).gpi_mask == 0x40
