"""OpenCV camera: a webcam or a video file behind the melab Camera interface (mono8 frames).

For rehearsing the protocol and demos without the XIMEA camera, and for replaying a clip.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.clock import local_clock
from core.devices import CameraInfo, CameraLosses, DeviceError, Frame

# A webcam that fails this many reads in a row is taken as gone (unplugged, taken over).
MAX_WEBCAM_FAILURES = 50


class OpenCVCamera:
    """drivers.interfaces.Camera reading a webcam (int index) or a video file (path) with OpenCV."""

    def __init__(
        self,
        source: int | str | os.PathLike[str],
        realtime: bool = True,
        frame_rate: float | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> None:
        """Pace a file at its recorded rate unless realtime=False; rate and size: webcam only."""
        self.source = _parse_source(source)
        self.realtime = realtime
        self.requested = {"frame_rate": frame_rate, "width": width, "height": height}
        self._cap: Any = None
        self._info: CameraInfo | None = None
        self._running = False
        self._index = 0  # frame_number of the next frame delivered
        self._pending: tuple[np.ndarray, float] | None = None  # decoded, not yet delivered
        self._prev_msec = -1.0
        self._fps = 0.0
        self._eof = False
        self._failures = 0
        self._first_shape: tuple[int, int] = (0, 0)
        self._origin: tuple[float, float] | None = None  # (host time, device time) for pacing

    @property
    def is_file(self) -> bool:
        """True for a video file source, False for a webcam."""
        return isinstance(self.source, Path)

    @property
    def finished(self) -> bool:
        """True once a file source has delivered its last frame."""
        return self._eof and self._pending is None

    # -- Camera interface -----------------------------------------------------------------
    @property
    def info(self) -> CameraInfo:
        """Source, geometry and rate (before open(): what was asked for)."""
        if self._info is not None:
            return self._info
        # Never raise here: typing's isinstance(cam, Camera) reads this property on 3.11.
        return CameraInfo(
            model="OpenCV (not open)",
            serial=str(self.source),
            width=self.requested["width"] or 0,
            height=self.requested["height"] or 0,
            pixel_format="mono8",
            frame_rate=float(self.requested["frame_rate"] or 0.0),
        )

    @property
    def dropped_frames(self) -> int:
        """Always 0: OpenCV cannot tell when a webcam skipped frames, and files lose none."""
        return 0

    def losses(self) -> CameraLosses:
        """None known: OpenCV has no skipped-frame or trigger counters."""
        return CameraLosses()

    def open(self) -> None:
        """Open the webcam or file; fails with a DeviceError saying what to check."""
        if self._cap is not None:
            return
        cap = self._open_file() if self.is_file else self._open_webcam()
        try:
            self._info = self._describe(cap)
        except BaseException:
            cap.release()
            raise
        self._cap = cap

    def start(self) -> None:
        """Start delivering frames (a file resumes where it stopped)."""
        if self._cap is None:
            raise DeviceError("OpenCV camera is not open: call open() before start()")
        self._running = True
        self._origin = None  # pacing restarts from the next frame

    def read(self, timeout: float) -> Frame | None:
        """Next frame, or None when none arrived within timeout seconds (or the file ended)."""
        if self._cap is None or not self._running:
            raise DeviceError("OpenCV camera is not started: call open() and start() first")
        return self._read_file(timeout) if self.is_file else self._read_webcam()

    def stop(self) -> None:
        """Stop delivering frames."""
        self._running = False

    def close(self) -> None:
        """Release the webcam or file."""
        self._running = False
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    # -- files ----------------------------------------------------------------------------
    def _open_file(self) -> Any:
        path = self.source
        if not path.is_file():
            raise DeviceError(f"Video file not found: {path}. Check the path and file name.")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            raise DeviceError(
                f"OpenCV cannot open the video file {path}: its container or codec is not "
                "supported here. Convert it, e.g. ffmpeg -i IN -c:v mjpeg -q:v 2 OUT.avi"
            )
        self._fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._index, self._prev_msec, self._eof = 0, -1.0, False
        self._pending = self._decode(cap)
        if self._pending is None:
            cap.release()
            raise DeviceError(f"The video file {path} has no readable frames (empty or damaged)")
        return cap

    def _decode(self, cap: Any) -> tuple[np.ndarray, float] | None:
        ok, raw = cap.read()
        if not ok:
            self._eof = True
            return None
        msec = float(cap.get(cv2.CAP_PROP_POS_MSEC))
        frame_index = self._index  # decoding happens only when nothing is pending
        # The container's timestamp when it advances; else the index at the nominal rate.
        if msec > self._prev_msec and (msec > 0 or frame_index == 0):
            device_time = msec / 1000.0
            self._prev_msec = msec
        else:
            device_time = frame_index / self._fps if self._fps > 0 else float(frame_index)
        return _to_mono8(raw), device_time

    def _read_file(self, timeout: float) -> Frame | None:
        if self._pending is None and not self._eof:
            self._pending = self._decode(self._cap)
        if self._pending is None:  # end of file: behave like a camera with nothing to send
            time.sleep(max(0.0, timeout))
            return None
        image, device_time = self._pending
        if self.realtime:
            now = local_clock()
            if self._origin is None:
                self._origin = (now, device_time)
            due = self._origin[0] + (device_time - self._origin[1])
            if due - now > timeout:
                time.sleep(max(0.0, timeout))
                return None
            if due > now:
                time.sleep(due - now)
        host_time = local_clock()
        frame = Frame(image, self._index, device_time, host_time, 0)
        self._index += 1
        self._pending = None
        return frame

    # -- webcams --------------------------------------------------------------------------
    def _open_webcam(self) -> Any:
        index = self.source
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise DeviceError(
                f"Cannot open webcam index {index}: check that it is plugged in, that no other "
                f"program uses it, and (Linux) that /dev/video{index} exists and is readable "
                "by this user (group 'video')"
            )
        props = {
            "frame_rate": cv2.CAP_PROP_FPS,
            "width": cv2.CAP_PROP_FRAME_WIDTH,
            "height": cv2.CAP_PROP_FRAME_HEIGHT,
        }
        for name, prop in props.items():
            if self.requested[name]:
                cap.set(prop, float(self.requested[name]))  # a request: the camera may round it
        ok, raw = cap.read()
        if not ok:
            cap.release()
            raise DeviceError(
                f"Webcam index {index} opened but delivers no frames: another program may be "
                "using it; close that program or unplug and replug the webcam"
            )
        self._first_shape = raw.shape[:2]
        self._fps = float(cap.get(cv2.CAP_PROP_FPS) or self.requested["frame_rate"] or 0.0)
        self._index, self._failures = 0, 0
        return cap

    def _read_webcam(self) -> Frame | None:
        # cap.read() blocks for about one frame period; OpenCV offers no finer timeout.
        ok, raw = self._cap.read()
        host_time = local_clock()
        if not ok:
            self._failures += 1
            if self._failures >= MAX_WEBCAM_FAILURES:
                raise DeviceError(
                    f"Webcam index {self.source} stopped delivering frames "
                    f"({self._failures} failed reads): check the cable and that no other "
                    "program took it over"
                )
            return None
        self._failures = 0
        # A webcam has no clock of its own that OpenCV exposes: receipt time is all there is.
        frame = Frame(_to_mono8(raw), self._index, host_time, host_time, 0)
        self._index += 1
        return frame

    # -- shared ---------------------------------------------------------------------------
    def _describe(self, cap: Any) -> CameraInfo:
        if self.is_file:
            height, width = self._pending[0].shape
            settings = {
                "source": str(self.source),
                "realtime": self.realtime,
                "frame_count": int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
                "device_time": "position in the file (CAP_PROP_POS_MSEC), seconds",
            }
            model = "OpenCV video file"
        else:
            height, width = self._first_shape
            settings = {
                "source": int(self.source),
                "requested": dict(self.requested),
                "device_time": "host receipt time (webcams expose no clock)",
            }
            model = f"OpenCV webcam ({cap.getBackendName()})"
        settings["backend"] = cap.getBackendName()
        return CameraInfo(
            model=model,
            serial=str(self.source),
            width=int(width),
            height=int(height),
            pixel_format="mono8",
            frame_rate=self._fps,
            settings=settings,
        )


def _parse_source(source: int | str | os.PathLike[str]) -> int | Path:
    """A webcam index for ints (and digit strings that are not files), else a file path."""
    if isinstance(source, bool):
        raise DeviceError(f"Invalid camera source {source!r}: give a webcam index or a file path")
    if isinstance(source, int):
        return source
    if isinstance(source, str) and source.strip().isdigit() and not Path(source).exists():
        return int(source)
    return Path(source).expanduser()


def _to_mono8(raw: np.ndarray) -> np.ndarray:
    """A decoded OpenCV image as a contiguous uint8 (height, width) gray image."""
    if raw.dtype == np.uint16:
        raw = (raw >> 8).astype(np.uint8)  # keep the most significant bits
    elif raw.dtype != np.uint8:
        raise DeviceError(f"Unsupported decoded pixel type {raw.dtype}: expected 8 or 16 bit")
    if raw.ndim == 3 and raw.shape[2] == 3:
        raw = cv2.cvtColor(raw, cv2.COLOR_BGR2GRAY)
    elif raw.ndim == 3 and raw.shape[2] == 4:
        raw = cv2.cvtColor(raw, cv2.COLOR_BGRA2GRAY)
    elif raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[:, :, 0]
    elif raw.ndim != 2:
        raise DeviceError(f"Unsupported decoded image shape {raw.shape}")
    return np.ascontiguousarray(raw)
