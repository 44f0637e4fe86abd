"""XIMEA camera driver over xiAPI's Python binding (the rig's MQ022CG-CM face camera).

The binding (`from ximea import xiapi`) loads XIMEA's native libm3api at import, so it is
imported only in open(): melab runs, and tests run, on machines without XIMEA's software.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

import numpy as np

from core.clock import local_clock
from core.devices import PIXEL_FORMATS, CameraInfo, DeviceError, Frame

# xiAPI status codes melab treats specially.
XI_TIMEOUT = 10
XI_ACQUISITION_STOPPED = 45
XI_NO_DEVICES_FOUND = 56
XI_DEVICE_LOCKED = 57
XI_UNKNOWN_PARAM = 100
XI_WRONG_PARAM_VALUE = 101

# tsSec/tsUSec come from a 32-bit microsecond counter (xiAPI: "typical range 0-4294 s"),
# so the camera clock wraps every ~71.6 min, shorter than a 42-trial session.
TIMESTAMP_WRAP_S = 2**32 / 1e6

IMAGE_FORMATS = {"RAW8": "XI_RAW8", "MONO8": "XI_MONO8"}
BAYER_FORMATS = tuple(f for f in PIXEL_FORMATS if f.startswith("bayer_"))
TRIGGER_MODES = ("free_run", "hardware")
# xiAPI documents XI_GPI_EXT_EVENT as "not implemented"; XI_GPI_OFF leaves the input free
# for triggering while its level is still sampled into each image's GPI_level.
SYNC_GPI_MODES = ("XI_GPI_OFF", "XI_GPI_EXT_EVENT")
BUFFER_POLICIES = ("XI_BP_SAFE", "XI_BP_UNSAFE")

MISSING_XIAPI = (
    "XIMEA camera support is not installed: {exc}. The Python module 'ximea' and XIMEA's "
    "native library libm3api are both needed. Install XIMEA's Software Package for this OS "
    "(Linux: XIMEA_Linux_SP from ximea.com, run its ./install; Windows: the XIMEA Windows "
    "Software Package), which provides the driver and libm3api, then make 'ximea' importable "
    "in melab's environment (pip install ximea-py, or copy the package's api/Python/v3/ximea "
    "folder). Check with: python -c 'from ximea import xiapi'. "
    "See https://www.ximea.com/support/wiki/apis/XiAPI_Python_Manual"
)


@dataclass(frozen=True)
class XimeaSettings:
    """How to find and configure the XIMEA camera; checked when created."""

    serial: str | None = None  # open this serial number; None: open by index
    index: int = 0
    image_format: str = "RAW8"  # RAW8 (Bayer as the sensor sees it) or MONO8
    bayer_pattern: str = "bayer_rg8"  # the CFA layout of RAW8 frames (MQ022CG-CM: RGGB)
    exposure_us: int = 5000
    gain_db: float = 0.0
    frame_rate: float | None = 150.0  # None: as fast as the camera can (free run only)
    offset_x: int = 0
    offset_y: int = 0
    width: int | None = None  # None: the sensor width minus offset_x
    height: int | None = None  # None: the sensor height minus offset_y
    trigger_mode: str = "free_run"  # free_run or hardware (one frame per rising edge)
    trigger_gpi_port: int = 1
    sync_gpi_port: int | None = 1  # input wired to the trigger box's sync line; None: none
    sync_gpi_mode: str = "XI_GPI_OFF"
    sync_gpi_mask: int | None = None  # bit of GPI_level carrying sync; None: 1 << (port - 1)
    buffer_policy: str = "XI_BP_SAFE"
    # ~0.85 s at 150 fps: absorbs the 0.3-0.8 s reader stalls seen on the target machines.
    buffers_queue_size: int = 128

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise DeviceError("Invalid XIMEA camera settings: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Each setting that cannot work, with what to do about it."""
        out: list[str] = []
        if self.serial is not None and not str(self.serial).strip():
            out.append("serial is empty: give the serial number or None to open by index")
        if self.index < 0:
            out.append(f"index={self.index} must be >= 0")
        if self.image_format not in IMAGE_FORMATS:
            out.append(f"image_format={self.image_format!r} must be one of {list(IMAGE_FORMATS)}")
        if self.bayer_pattern not in BAYER_FORMATS:
            out.append(f"bayer_pattern={self.bayer_pattern!r} must be one of {BAYER_FORMATS}")
        if self.exposure_us <= 0:
            out.append(f"exposure_us={self.exposure_us} must be > 0")
        if self.frame_rate is not None and self.frame_rate <= 0:
            out.append(f"frame_rate={self.frame_rate} must be > 0 (or None)")
        elif self.frame_rate and self.exposure_us > 1e6 / self.frame_rate:
            out.append(
                f"exposure_us={self.exposure_us} is longer than one frame at {self.frame_rate}"
                f" fps ({1e6 / self.frame_rate:.0f} us): shorten the exposure or lower frame_rate"
            )
        for name in ("offset_x", "offset_y", "width", "height"):
            value = getattr(self, name)
            if value is not None and (value < 0 or (name in ("width", "height") and value == 0)):
                out.append(f"{name}={value} must be positive")
        # An odd offset would shift the stored Bayer phase away from bayer_pattern.
        if self.image_format == "RAW8" and (self.offset_x % 2 or self.offset_y % 2):
            out.append(
                f"offset_x={self.offset_x}, offset_y={self.offset_y} must be even for RAW8, "
                "or the Bayer pattern of the stored frames changes"
            )
        if self.trigger_mode not in TRIGGER_MODES:
            out.append(f"trigger_mode={self.trigger_mode!r} must be one of {TRIGGER_MODES}")
        for name in ("trigger_gpi_port", "sync_gpi_port"):
            port = getattr(self, name)
            if port is not None and not 1 <= port <= 12:
                out.append(f"{name}={port} must be a GPI port number 1-12")
        if self.trigger_mode == "hardware" and self.sync_gpi_port == self.trigger_gpi_port:
            out.append(
                f"trigger and sync cannot share GPI port {self.trigger_gpi_port}: wire the sync "
                "line to another input or set sync_gpi_port=None (the xiQ has one input)"
            )
        if self.sync_gpi_mode not in SYNC_GPI_MODES:
            out.append(f"sync_gpi_mode={self.sync_gpi_mode!r} must be one of {SYNC_GPI_MODES}")
        if self.buffer_policy not in BUFFER_POLICIES:
            out.append(f"buffer_policy={self.buffer_policy!r} must be one of {BUFFER_POLICIES}")
        if self.buffers_queue_size < 1:
            out.append(f"buffers_queue_size={self.buffers_queue_size} must be >= 1")
        return out

    @property
    def pixel_format(self) -> str:
        """Pixel format of the frames as melab stores them."""
        return self.bayer_pattern if self.image_format == "RAW8" else "mono8"

    @property
    def gpi_mask(self) -> int:
        """Bit of Frame.gpi_level that carries the sync line (0 when none is wired)."""
        if self.sync_gpi_port is None:
            return 0
        if self.sync_gpi_mask is not None:
            return self.sync_gpi_mask
        return 1 << (self.sync_gpi_port - 1)

    @property
    def target(self) -> str:
        """Which camera, in words, for messages."""
        return f"serial number {self.serial}" if self.serial else f"index {self.index}"


class XimeaCamera:
    """drivers.interfaces.Camera for a XIMEA camera through xiAPI."""

    def __init__(
        self, settings: XimeaSettings | None = None, xiapi_module: ModuleType | None = None
    ) -> None:
        self.settings = settings or XimeaSettings()
        self._xiapi = xiapi_module  # injected for tests; otherwise imported in open()
        self._cam: Any = None
        self._img: Any = None
        self._info: CameraInfo | None = None
        self._acquiring = False
        self._dropped = 0
        self._last_nframe: int | None = None
        self._ts_prev: tuple[float, float] | None = None  # (raw device time, host time)
        self._ts_offset = 0.0

    # -- Camera interface -----------------------------------------------------------------
    @property
    def info(self) -> CameraInfo:
        """Model, serial, geometry and applied settings; before open(), the requested ones."""
        if self._info is not None:
            return self._info
        # Never raise here: typing's isinstance(cam, Camera) reads this property on 3.11.
        s = self.settings
        return CameraInfo(
            model="XIMEA (not open)",
            serial=s.serial or "",
            width=s.width or 0,
            height=s.height or 0,
            pixel_format=s.pixel_format,
            frame_rate=float(s.frame_rate or 0.0),
            settings=asdict(s),
        )

    @property
    def dropped_frames(self) -> int:
        """Frames the camera numbered but never delivered since the last start()."""
        return self._dropped

    def open(self) -> None:
        """Open the camera, apply the settings and read back what the camera accepted."""
        if self._cam is not None:
            return
        xiapi = self._load_xiapi()
        s = self.settings
        cam = xiapi.Camera(dev_id=s.index)
        try:
            if s.serial:
                cam.open_device_by_SN(str(s.serial))
            else:
                cam.open_device()
        except xiapi.Xi_error as exc:
            raise self._error(exc, "opening the camera", cam=cam) from exc
        try:
            self._configure(cam)
            self._info = self._read_info(cam)
            self._img = xiapi.Image()
        except BaseException:
            _close_quietly(cam)
            raise
        self._cam = cam
        # A new handle: the camera clock may have restarted, so forget the unwrap state.
        self._ts_prev, self._ts_offset = None, 0.0

    def start(self) -> None:
        """Start acquisition; acq_nframe and the dropped-frame count restart."""
        cam = self._need_open("start()")
        if self._acquiring:
            return
        self._call(cam, "start_acquisition", "starting acquisition")
        self._acquiring = True
        self._dropped = 0
        self._last_nframe = None

    def read(self, timeout: float) -> Frame | None:
        """Next frame, or None when none arrived within timeout seconds."""
        cam = self._need_open("read()")
        if not self._acquiring:
            raise DeviceError("XIMEA camera is not acquiring: call start() before read()")
        try:
            cam.get_image(self._img, max(1, round(timeout * 1000)))
        except self._xiapi.Xi_error as exc:
            if getattr(exc, "status", None) == XI_TIMEOUT:
                return None
            raise self._error(exc, "reading a frame") from exc
        host_time = local_clock()
        img = self._img
        data = img.get_image_data_numpy()
        if data.dtype != np.uint8 or data.ndim != 2:
            raise DeviceError(
                f"XIMEA camera delivered {data.dtype} images of shape {data.shape}; melab needs "
                "8-bit single-plane frames: use image_format RAW8 or MONO8"
            )
        # The API reuses the image buffer for the next frame, so keep a copy.
        image = np.array(data, dtype=np.uint8, order="C", copy=True)
        frame_number = int(img.acq_nframe)
        self._count_drops(frame_number)
        raw_time = int(img.tsSec) + int(img.tsUSec) * 1e-6
        return Frame(
            image=image,
            frame_number=frame_number,
            device_time=self._unwrap(raw_time, host_time),
            host_time=host_time,
            gpi_level=int(img.GPI_level),
        )

    def stop(self) -> None:
        """Stop acquisition (no-op when not acquiring)."""
        if self._cam is None or not self._acquiring:
            return
        self._acquiring = False
        self._call(self._cam, "stop_acquisition", "stopping acquisition")

    def close(self) -> None:
        """Stop and release the camera so other programs can open it."""
        if self._cam is None:
            return
        cam, self._cam = self._cam, None
        if self._acquiring:
            self._acquiring = False
            _call_quietly(cam, "stop_acquisition")
        try:
            self._call(cam, "close_device", "closing the camera")
        finally:
            self._img = None

    # -- helpers --------------------------------------------------------------------------
    def _load_xiapi(self) -> ModuleType:
        if self._xiapi is None:
            try:
                from ximea import xiapi
            except (ImportError, OSError) as exc:  # OSError: libm3api missing at import
                raise DeviceError(MISSING_XIAPI.format(exc=exc)) from exc
            self._xiapi = xiapi
        return self._xiapi

    def _need_open(self, action: str) -> Any:
        if self._cam is None:
            raise DeviceError(f"XIMEA camera is not open: call open() before {action}")
        return self._cam

    def _configure(self, cam: Any) -> None:
        s = self.settings
        # Fixed exposure and gain: automatic control would change brightness within a trial.
        self._call(cam, "disable_aeag", "switching off auto exposure/gain")
        self._set(cam, "imgdataformat", IMAGE_FORMATS[s.image_format], "image_format")
        # Offsets first to 0: the camera bounds width by (sensor - offset) and vice versa.
        self._set(cam, "offsetX", 0, "offset_x")
        self._set(cam, "offsetY", 0, "offset_y")
        width = s.width if s.width is not None else self._get(cam, "width_maximum") - s.offset_x
        height = s.height if s.height is not None else self._get(cam, "height_maximum") - s.offset_y
        self._set(cam, "width", int(width), "width")
        self._set(cam, "height", int(height), "height")
        self._set(cam, "offsetX", s.offset_x, "offset_x")
        self._set(cam, "offsetY", s.offset_y, "offset_y")
        # Exposure before frame rate: the highest frame rate depends on the exposure.
        self._set(cam, "exposure", int(s.exposure_us), "exposure_us")
        self._set(cam, "gain", float(s.gain_db), "gain_db")
        if s.trigger_mode == "hardware":
            self._set(cam, "gpi_selector", _port(s.trigger_gpi_port), "trigger_gpi_port")
            self._set(cam, "gpi_mode", "XI_GPI_TRIGGER", "trigger_mode")
            self._set(cam, "trigger_source", "XI_TRG_EDGE_RISING", "trigger_mode")
            self._set(cam, "trigger_selector", "XI_TRG_SEL_FRAME_START", "trigger_mode")
            self._set(cam, "acq_timing_mode", "XI_ACQ_TIMING_MODE_FREE_RUN", "trigger_mode")
        else:
            self._set(cam, "trigger_source", "XI_TRG_OFF", "trigger_mode")
            if s.frame_rate:
                self._set(cam, "acq_timing_mode", "XI_ACQ_TIMING_MODE_FRAME_RATE", "frame_rate")
                self._set(cam, "framerate", float(s.frame_rate), "frame_rate")
            else:
                self._set(cam, "acq_timing_mode", "XI_ACQ_TIMING_MODE_FREE_RUN", "frame_rate")
        if s.sync_gpi_port is not None:
            self._set(cam, "gpi_selector", _port(s.sync_gpi_port), "sync_gpi_port")
            self._set(cam, "gpi_mode", s.sync_gpi_mode, "sync_gpi_mode")
        self._set(cam, "buffer_policy", s.buffer_policy, "buffer_policy")
        self._set(cam, "buffers_queue_size", int(s.buffers_queue_size), "buffers_queue_size")

    def _read_info(self, cam: Any) -> CameraInfo:
        s = self.settings
        free_run_rate = s.trigger_mode == "free_run"
        frame_rate = float(self._get(cam, "framerate")) if free_run_rate else s.frame_rate
        applied = {
            "exposure_us": self._get(cam, "exposure"),
            "gain_db": self._get(cam, "gain"),
            "width": self._get(cam, "width"),
            "height": self._get(cam, "height"),
            "offset_x": self._get(cam, "offsetX"),
            "offset_y": self._get(cam, "offsetY"),
            "frame_rate": frame_rate,
        }
        settings = {
            **asdict(self.settings),
            "applied": applied,
            "xiapi_image_format": IMAGE_FORMATS[s.image_format],
            "gpi_sync_mask": s.gpi_mask,
            "device_time": "camera timestamp at start of sensor read-out (tsSec + tsUSec)",
            "device_time_wrap_s": TIMESTAMP_WRAP_S,
            "frame_number": "acq_nframe (restarts at 1 on each start)",
        }
        return CameraInfo(
            model=_text(self._call(cam, "get_device_name", "reading the model name")),
            serial=_text(self._call(cam, "get_device_sn", "reading the serial number")),
            width=int(applied["width"]),
            height=int(applied["height"]),
            pixel_format=s.pixel_format,
            frame_rate=float(frame_rate or 0.0),
            settings=settings,
        )

    def _set(self, cam: Any, param: str, value: Any, field: str) -> None:
        try:
            getattr(cam, "set_" + param)(value)
        except self._xiapi.Xi_error as exc:
            raise self._error(exc, f"setting {param}", cam, param, value, field) from exc

    def _get(self, cam: Any, param: str) -> Any:
        return self._call(cam, "get_" + param, f"reading {param}")

    def _call(self, cam: Any, method: str, action: str) -> Any:
        try:
            return getattr(cam, method)()
        except self._xiapi.Xi_error as exc:
            raise self._error(exc, action, cam) from exc

    def _error(
        self,
        exc: Exception,
        action: str,
        cam: Any = None,
        param: str | None = None,
        value: Any = None,
        field: str | None = None,
    ) -> DeviceError:
        """Turn an xiAPI error into a DeviceError that says what to check or change."""
        status = getattr(exc, "status", None)
        s = self.settings
        if status == XI_NO_DEVICES_FOUND:
            count = _devices_seen(cam)
            return DeviceError(
                f"No XIMEA camera found with {s.target} (xiAPI status 56; cameras seen: "
                f"{count}). Check: the USB 3 cable is firmly plugged into a USB 3 port on the "
                "PC (not a hub); the camera's status LED is on; XIMEA's software package is "
                "installed and xiCOP lists the camera; the serial number matches the camera "
                "label or xiCOP"
            )
        if status == XI_DEVICE_LOCKED:
            return DeviceError(
                f"XIMEA camera with {s.target} is in use by another program (xiAPI status 57): "
                "close xiCamTool, xiCOP, another melab or Python session using it, then retry; "
                "if nothing else runs, unplug and replug the camera"
            )
        if status == XI_UNKNOWN_PARAM:
            what = f"parameter {param!r} (XimeaSettings.{field})" if param else f"{action!r}"
            return DeviceError(
                f"This XIMEA camera does not support {what} (xiAPI status 100, unknown "
                "parameter): use a setting this model supports, or update XIMEA's software "
                "package if the model should support it"
            )
        if status == XI_WRONG_PARAM_VALUE:
            limits = _limits(cam, param) if param else ""
            ports = " (xiQ cameras have one input: port 1)" if param == "gpi_selector" else ""
            return DeviceError(
                f"XIMEA camera rejected {param}={value!r}{limits}{ports} (xiAPI status 101, "
                f"wrong parameter value): change XimeaSettings.{field}"
            )
        if status == XI_ACQUISITION_STOPPED:
            return DeviceError(
                "XIMEA acquisition is stopped (xiAPI status 45) while " + action + ": call "
                "start() before read(), and do not stop() from another thread during read()"
            )
        return DeviceError(
            f"XIMEA camera error while {action} (xiAPI status {status}: {exc}); look the "
            "status up in xiAPI's error codes, and unplug/replug the camera if it persists"
        )

    def _count_drops(self, frame_number: int) -> None:
        # acq_nframe restarts at 1 with each acquisition, so a first frame > 1 is a drop too.
        expected = 1 if self._last_nframe is None else self._last_nframe + 1
        if frame_number > expected:
            self._dropped += frame_number - expected
        self._last_nframe = frame_number

    def _unwrap(self, raw: float, host: float) -> float:
        # The host clock tells how much time passed, hence how many 32-bit wraps happened,
        # even across a stop()/start() pause longer than the wrap period.
        if self._ts_prev is not None:
            prev_raw, prev_host = self._ts_prev
            wraps = round(((host - prev_host) - (raw - prev_raw)) / TIMESTAMP_WRAP_S)
            self._ts_offset += wraps * TIMESTAMP_WRAP_S
        self._ts_prev = (raw, host)
        return raw + self._ts_offset


def _port(number: int) -> str:
    return f"XI_GPI_PORT{number}"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _limits(cam: Any, param: str) -> str:
    """The camera's accepted range for a parameter, when it reports one."""
    parts = []
    for bound in ("minimum", "maximum", "increment"):
        try:
            parts.append(f"{bound} {getattr(cam, f'get_{param}_{bound}')()}")
        except Exception:  # not every parameter has bounds; the message still helps without
            continue
    return f" (camera accepts {', '.join(parts)})" if parts else ""


def _devices_seen(cam: Any) -> str:
    try:
        return str(cam.get_number_devices())
    except Exception:  # only decorates an error message
        return "unknown"


def _call_quietly(cam: Any, method: str) -> None:
    # Cleanup after another error: that first error is the one worth reporting.
    with contextlib.suppress(Exception):
        getattr(cam, method)()


def _close_quietly(cam: Any) -> None:
    _call_quietly(cam, "close_device")
