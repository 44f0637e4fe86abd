"""OpenCVCamera on small generated video files (and the webcam error path)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.clock import local_clock
from core.devices import DeviceError
from drivers.interfaces import Camera
from drivers.opencv_camera import OpenCVCamera, _to_mono8

N_FRAMES, FPS, WIDTH, HEIGHT = 20, 20.0, 64, 48


def brightness(i: int) -> int:
    return 10 + 12 * i


def write_video(path: Path, fourcc: str) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for i in range(N_FRAMES):
        writer.write(np.full((HEIGHT, WIDTH, 3), brightness(i), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture(params=[("mp4v", "mp4"), ("MJPG", "avi")], ids=["mp4v", "mjpg"])
def video(request, tmp_path) -> Path:
    fourcc, ext = request.param
    return write_video(tmp_path / f"clip.{ext}", fourcc)


def read_all(cam: OpenCVCamera) -> list:
    frames = []
    while (frame := cam.read(0.01)) is not None:
        frames.append(frame)
    return frames


def test_file_frames_in_order_as_mono8(video):
    cam = OpenCVCamera(video, realtime=False)
    assert isinstance(cam, Camera)
    cam.open()
    info = cam.info
    assert (info.width, info.height, info.pixel_format) == (WIDTH, HEIGHT, "mono8")
    assert info.frame_rate == FPS and info.settings["frame_count"] == N_FRAMES
    cam.start()
    frames = read_all(cam)
    assert cam.finished
    assert len(frames) == N_FRAMES
    assert [f.frame_number for f in frames] == list(range(N_FRAMES))
    for i, f in enumerate(frames):
        assert f.image.dtype == np.uint8 and f.image.shape == (HEIGHT, WIDTH)
        assert f.image.flags["C_CONTIGUOUS"]
        assert abs(float(f.image.mean()) - brightness(i)) < 4  # lossy codecs
        assert f.gpi_level == 0
    assert [f.device_time for f in frames] == pytest.approx([i / FPS for i in range(N_FRAMES)])
    hosts = [f.host_time for f in frames]
    assert hosts == sorted(hosts)
    assert cam.dropped_frames == 0
    cam.close()


def test_realtime_paces_frames_at_the_recorded_rate(tmp_path):
    cam = OpenCVCamera(write_video(tmp_path / "clip.avi", "MJPG"))  # realtime by default
    cam.open()
    cam.start()
    asked = local_clock()
    frames = [cam.read(10.0)]
    # The next frame is due 50 ms later: a 5 ms read gives up (or, if this thread was held up
    # past its due time, brings frame 1, on time: checked below with the others).
    if (early := cam.read(0.005)) is not None:
        frames.append(early)
    while len(frames) < 6:
        frames.append(cam.read(10.0))
    assert [f.frame_number for f in frames] == [0, 1, 2, 3, 4, 5]
    device = np.array([f.device_time for f in frames])
    host = np.array([f.host_time for f in frames])
    np.testing.assert_allclose(np.diff(device), 1 / FPS)  # the file's own clock: 50 ms apart
    # Paced by it: no frame is handed over before its file time has passed since the first
    # read began (as fast as decoding would put all six within a few ms).
    assert np.all(host - asked >= device - device[0])
    cam.close()


def test_stop_and_start_resume_where_the_file_stopped(tmp_path):
    cam = OpenCVCamera(write_video(tmp_path / "clip.avi", "MJPG"), realtime=False)
    cam.open()
    cam.start()
    assert [cam.read(0.1).frame_number for _ in range(5)] == [0, 1, 2, 3, 4]
    cam.stop()
    with pytest.raises(DeviceError, match="not started"):
        cam.read(0.1)
    cam.start()
    assert cam.read(0.1).frame_number == 5
    cam.close()


def test_missing_file_error(tmp_path):
    with pytest.raises(DeviceError, match=r"Video file not found: .*nope\.mp4"):
        OpenCVCamera(tmp_path / "nope.mp4").open()


def test_undecodable_file_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(DeviceError, match=r"OpenCV cannot open|no readable frames"):
        OpenCVCamera(bad).open()


def test_missing_webcam_error():
    with pytest.raises(DeviceError, match="Cannot open webcam index 97"):
        OpenCVCamera(97).open()


def test_lifecycle_errors(tmp_path):
    cam = OpenCVCamera(tmp_path / "x.avi")
    assert cam.info.model == "OpenCV (not open)"
    with pytest.raises(DeviceError, match="call open"):
        cam.start()
    with pytest.raises(DeviceError, match="call open"):
        cam.read(0.1)


def test_source_parsing(tmp_path):
    assert OpenCVCamera(2).source == 2 and not OpenCVCamera(2).is_file
    assert OpenCVCamera("1").source == 1
    assert OpenCVCamera(str(tmp_path / "a.mp4")).source == tmp_path / "a.mp4"
    assert OpenCVCamera("~/a.mp4").source == Path.home() / "a.mp4"
    with pytest.raises(DeviceError, match="Invalid camera source"):
        OpenCVCamera(True)


def test_to_mono8_conversions():
    red = np.zeros((2, 3, 3), np.uint8)
    red[..., 2] = 255  # BGR order: pure red
    assert _to_mono8(red).tolist() == [[76] * 3] * 2  # 0.299 * 255
    bgra = np.dstack([red, np.full((2, 3), 9, np.uint8)])
    assert _to_mono8(bgra).tolist() == [[76] * 3] * 2
    assert _to_mono8(np.full((2, 3), 0x1234, np.uint16)).tolist() == [[0x12] * 3] * 2
    with pytest.raises(DeviceError, match="float32"):
        _to_mono8(np.zeros((2, 3), np.float32))
