"""XIMEA camera driver over xiAPI's Python binding (the rig's MQ022CG-CM face camera).

The binding (`from xiapipy import xiapi`, XIMEA's package; or `from ximea import xiapi`, the
ximea-py repackage) loads XIMEA's native libm3api at import, so it is imported only when a
camera opens: melab runs, and tests run, on machines without XIMEA's software.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import asdict, dataclass, replace
from types import ModuleType
from typing import Any

import numpy as np

from core.clock import local_clock
from core.devices import CameraInfo, CameraLosses, DeviceError, Frame
from drivers.ximea_errors import MISSING_XIAPI, XI_TIMEOUT, xiapi_error
from drivers.ximea_report import XimeaReport, pixel_format
from drivers.ximea_settings import IMAGE_FORMATS, XimeaSettings

__all__ = ["XimeaCamera", "XimeaCounters", "XimeaSettings"]

# tsSec/tsUSec come from the xiQ's 40-bit microsecond counter: it wraps every ~305 h, so a
# session never sees it wrap unless the camera stays powered for days; unwrapped anyway.
TIMESTAMP_WRAP_S = 2**40 / 1e6
# xiAPI's counters are read every this many frames, when a read times out and at stop().
COUNTER_POLL_FRAMES = 150
COUNTERS = {
    "transport_skipped": "XI_CNT_SEL_TRANSPORT_SKIPPED_FRAMES",  # lost on the USB link
    "api_skipped": "XI_CNT_SEL_API_SKIPPED_FRAMES",  # xiAPI's queue was full
    "missed_triggers": "XI_CNT_SEL_FRAME_MISSED_TRIGGER_DUETO_OVERLAP",  # no frame at all
}


@dataclass(frozen=True)
class XimeaCounters:
    """Frames lost since start(), as the frame numbers and xiAPI's counters tell."""

    gaps: int = 0  # holes in acq_nframe (frames the camera numbered, never delivered)
    transport_skipped: int = 0
    api_skipped: int = 0
    missed_triggers: int = 0  # hardware triggers during the previous frame: never numbered

    @property
    def losses(self) -> CameraLosses:
        """xiAPI's counters (the Camera interface's loss counts)."""
        return CameraLosses(self.transport_skipped, self.api_skipped, self.missed_triggers)

    @property
    def dropped(self) -> int:
        """All frames lost: skipped ones show as gaps too, except after the last delivered."""
        return self.losses.dropped(self.gaps)


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
        self._counters = XimeaCounters()
        self._last_nframe: int | None = None
        self._since_poll = 0
        # The recorder reads the counters from its own thread while read() runs: a counter is
        # a selector set then a value read, so two readers must not interleave.
        self._counter_lock = threading.Lock()
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
            pixel_format="mono8" if s.image_format == "MONO8" else "",  # Bayer: the camera's
            frame_rate=float(s.frame_rate or 0.0),
            settings=asdict(s),
        )

    @property
    def dropped_frames(self) -> int:
        """Frames lost since the last start(): frame-number gaps, skipped and missed triggers."""
        return self._counters.dropped

    @property
    def counters(self) -> XimeaCounters:
        """The losses since start() by kind (xiAPI's counters as last read)."""
        return self._counters

    def losses(self) -> CameraLosses:
        """xiAPI's skipped-frame and missed-trigger counters, read now while acquiring."""
        cam = self._cam
        if cam is not None and self._acquiring:
            self._poll_counters(cam)
        return self._counters.losses

    def open(self) -> None:
        """Open the camera, apply the settings and read back what the camera accepted.

        Refuses (DeviceError) a frame rate the camera or its USB link cannot carry, and GPI
        ports the model does not have, before acquiring anything.
        """
        if self._cam is not None:
            return
        cam = self._open_device()
        try:
            report = self._configure_image(cam)
            problems = self._port_problems(cam) + [p for p in [report.rate_problem()] if p]
            if problems:
                raise DeviceError(f"XIMEA {report.model} ({report.serial}) cannot record as "
                                  "configured: " + "; ".join(problems))
            queue = self._configure_acquisition(cam, report)
            self._info = self._read_info(cam, report, queue)
            self._img = self._xiapi.Image()
        except BaseException:
            _close_quietly(cam)
            raise
        self._cam = cam
        # A new handle: the camera clock may have restarted, so forget the unwrap state.
        self._ts_prev, self._ts_offset = None, 0.0

    def report(self) -> XimeaReport:
        """Open the camera briefly with the ROI and exposure set, and describe it and its link."""
        if self._cam is not None:
            raise DeviceError("XIMEA camera is open: call report() before open() or after close()")
        cam = self._open_device()
        try:
            return self._configure_image(cam)
        finally:
            _close_quietly(cam)

    def start(self) -> None:
        """Start acquisition; acq_nframe, xiAPI's counters and the loss counts restart."""
        cam = self._need_open("start()")
        if self._acquiring:
            return
        self._call(cam, "start_acquisition", "starting acquisition")
        self._acquiring = True
        self._counters = XimeaCounters()
        self._last_nframe = None
        self._since_poll = 0

    def read(self, timeout: float) -> Frame | None:
        """Next frame, or None when none arrived within timeout seconds."""
        cam = self._need_open("read()")
        if not self._acquiring:
            raise DeviceError("XIMEA camera is not acquiring: call start() before read()")
        try:
            cam.get_image(self._img, max(1, round(timeout * 1000)))
        except self._xiapi.Xi_error as exc:
            if getattr(exc, "status", None) == XI_TIMEOUT:
                self._poll_counters(cam)
                return None
            raise self._error(exc, "reading a frame") from exc
        host_time = local_clock()
        img = self._img
        # The binding copies the frame out of xiAPI's buffer into a fresh array: the one copy.
        image = img.get_image_data_numpy()
        if image.dtype != np.uint8 or image.ndim != 2:
            raise DeviceError(
                f"XIMEA camera delivered {image.dtype} images of shape {image.shape}; melab "
                "needs 8-bit single-plane frames: use image_format RAW8 or MONO8"
            )
        frame_number = int(img.acq_nframe)
        self._count_gap(frame_number)
        self._since_poll += 1
        if self._since_poll >= COUNTER_POLL_FRAMES:
            self._poll_counters(cam)
        raw_time = int(img.tsSec) + int(img.tsUSec) * 1e-6
        return Frame(
            image=image,
            frame_number=frame_number,
            device_time=self._unwrap(raw_time, host_time),
            host_time=host_time,
            gpi_level=int(img.GPI_level),
        )

    def stop(self) -> None:
        """Stop acquisition (no-op when not acquiring); the loss counts are final then."""
        if self._cam is None or not self._acquiring:
            return
        self._poll_counters(self._cam)
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

    # -- opening and configuring ----------------------------------------------------------
    def _load_xiapi(self) -> ModuleType:
        if self._xiapi is None:
            self._xiapi = import_xiapi()
        return self._xiapi

    def _open_device(self) -> Any:
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
        return cam

    def _configure_image(self, cam: Any) -> XimeaReport:
        """Format, ROI, exposure and gain; then what the camera says about itself."""
        s = self.settings
        # Fixed exposure and gain: automatic control would change brightness within a trial.
        self._call(cam, "disable_aeag", "switching off auto exposure/gain")
        self._set(cam, "imgdataformat", IMAGE_FORMATS[s.image_format], "image_format")
        # Offsets first to 0: the camera bounds width by (sensor - offset) and vice versa.
        self._set(cam, "offsetX", 0, "offset_x")
        self._set(cam, "offsetY", 0, "offset_y")
        sensor = (int(self._get(cam, "width_maximum")), int(self._get(cam, "height_maximum")))
        width = s.width if s.width is not None else sensor[0] - s.offset_x
        height = s.height if s.height is not None else sensor[1] - s.offset_y
        self._set(cam, "width", int(width), "width")
        self._set(cam, "height", int(height), "height")
        self._set(cam, "offsetX", s.offset_x, "offset_x")
        self._set(cam, "offsetY", s.offset_y, "offset_y")
        # Exposure before frame rate: the highest frame rate depends on the exposure.
        self._set(cam, "exposure", int(s.exposure_us), "exposure_us")
        self._set(cam, "gain", float(s.gain_db), "gain_db")
        cfa = str(self._get(cam, "cfa"))
        return XimeaReport(
            model=_text(self._call(cam, "get_device_name", "reading the model name")),
            serial=_text(self._call(cam, "get_device_sn", "reading the serial number")),
            cfa=cfa,
            pixel_format=pixel_format(s.image_format, cfa),
            sensor_width=sensor[0],
            sensor_height=sensor[1],
            width=int(self._get(cam, "width")),
            height=int(self._get(cam, "height")),
            exposure_us=float(self._get(cam, "exposure")),
            available_mbps=int(self._get(cam, "available_bandwidth")),
            limit_mbps=int(self._get(cam, "limit_bandwidth")),
            max_frame_rate=float(self._get(cam, "framerate_maximum")),
            frame_rate=s.frame_rate,
        )

    def _port_problems(self, cam: Any) -> list[str]:
        ports = int(str(self._get(cam, "gpi_selector_maximum")).removeprefix("XI_GPI_PORT"))
        return [
            f"{name}={port}, but this camera has {ports} digital input(s) (GPI port 1"
            f"{f'-{ports}' if ports > 1 else ''}): wire the line to an input it has, or set "
            f"{name} to one of them" + (" or None" if name == "sync_gpi_port" else "")
            for name, port in self.settings.ports().items() if port > ports
        ]

    def _configure_acquisition(self, cam: Any, report: XimeaReport) -> int:
        """Trigger, frame rate, GPI and buffers; returns the buffer queue size applied."""
        s = self.settings
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
            # XI_GPI_OFF: the input triggers nothing, its level is still in each GPI_level.
            self._set(cam, "gpi_selector", _port(s.sync_gpi_port), "sync_gpi_port")
            self._set(cam, "gpi_mode", "XI_GPI_OFF", "sync_gpi_port")
        self._set(cam, "buffer_policy", s.buffer_policy, "buffer_policy")
        # The queue's largest size follows from acq_buffer_size: raise that first, then take
        # the queue the camera says fits (a smaller queue than asked is noted in the settings).
        frame_bytes = report.width * report.height
        acq_bytes = min(int(self._get(cam, "acq_buffer_size_maximum")),
                        frame_bytes * (s.buffers_queue_size + 1))
        self._set(cam, "acq_buffer_size", acq_bytes, "buffers_queue_size")
        queue = min(s.buffers_queue_size, int(self._get(cam, "buffers_queue_size_maximum")))
        self._set(cam, "buffers_queue_size", queue, "buffers_queue_size")
        return queue

    def _read_info(self, cam: Any, report: XimeaReport, queue: int) -> CameraInfo:
        s = self.settings
        free_run_rate = s.trigger_mode == "free_run"
        frame_rate = float(self._get(cam, "framerate")) if free_run_rate else s.frame_rate
        applied = {
            "exposure_us": self._get(cam, "exposure"),
            "gain_db": self._get(cam, "gain"),
            "width": report.width,
            "height": report.height,
            "offset_x": self._get(cam, "offsetX"),
            "offset_y": self._get(cam, "offsetY"),
            "frame_rate": frame_rate,
            "buffers_queue_size": queue,
        }
        settings = {
            **asdict(self.settings),
            "applied": applied,
            "camera": report.to_dict(),
            "cfa": report.cfa,
            "xiapi_image_format": IMAGE_FORMATS[s.image_format],
            "gpi_sync_mask": s.gpi_mask,
            "device_time": "camera timestamp at start of sensor read-out (tsSec + tsUSec)",
            "device_time_wrap_s": TIMESTAMP_WRAP_S,
            "frame_number": "acq_nframe (restarts at 1 on each start)",
        }
        return CameraInfo(
            model=report.model,
            serial=report.serial,
            width=report.width,
            height=report.height,
            pixel_format=report.pixel_format,
            frame_rate=float(frame_rate or 0.0),
            settings=settings,
        )

    # -- calls and errors -----------------------------------------------------------------
    def _need_open(self, action: str) -> Any:
        if self._cam is None:
            raise DeviceError(f"XIMEA camera is not open: call open() before {action}")
        return self._cam

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

    def _error(self, exc: Exception, action: str, cam: Any = None, param: str | None = None,
               value: Any = None, field: str | None = None) -> DeviceError:
        """Turn an xiAPI error into a DeviceError that says what to check or change."""
        return xiapi_error(exc, action, self.settings.target, cam, param, value, field)

    # -- frame bookkeeping ----------------------------------------------------------------
    def _count_gap(self, frame_number: int) -> None:
        # acq_nframe restarts at 1 with each acquisition, so a first frame > 1 is a drop too.
        expected = 1 if self._last_nframe is None else self._last_nframe + 1
        if frame_number > expected:
            with self._counter_lock:  # a poll from another thread must not undo this count
                gaps = self._counters.gaps + frame_number - expected
                self._counters = replace(self._counters, gaps=gaps)
        self._last_nframe = frame_number

    def _poll_counters(self, cam: Any) -> None:
        self._since_poll = 0
        values = {}
        with self._counter_lock:
            for name, selector in COUNTERS.items():
                if name == "missed_triggers" and self.settings.trigger_mode != "hardware":
                    continue
                try:
                    cam.set_counter_selector(selector)
                    values[name] = int(cam.get_counter_value())
                except self._xiapi.Xi_error:  # a model without this counter: gaps still count
                    continue
            self._counters = replace(self._counters, **values)

    def _unwrap(self, raw: float, host: float) -> float:
        # The host clock tells how much time passed, hence how many wraps happened, even
        # across a stop()/start() pause longer than the wrap period.
        if self._ts_prev is not None:
            prev_raw, prev_host = self._ts_prev
            wraps = round(((host - prev_host) - (raw - prev_raw)) / TIMESTAMP_WRAP_S)
            self._ts_offset += wraps * TIMESTAMP_WRAP_S
        self._ts_prev = (raw, host)
        return raw + self._ts_offset


def import_xiapi() -> ModuleType:
    """XIMEA's binding: `xiapipy` (XIMEA's own package) or else `ximea` (ximea-py)."""
    errors = []
    for package in ("xiapipy", "ximea"):
        try:
            module = __import__(f"{package}.xiapi", fromlist=["xiapi"])
        except (ImportError, OSError) as exc:  # OSError: libm3api missing at import
            errors.append(f"{package}: {exc}")
            continue
        return module
    raise DeviceError(MISSING_XIAPI.format(exc="; ".join(errors)))


def _port(number: int) -> str:
    return f"XI_GPI_PORT{number}"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _call_quietly(cam: Any, method: str) -> None:
    # Cleanup after another error: that first error is the one worth reporting.
    with contextlib.suppress(Exception):
        getattr(cam, method)()


def _close_quietly(cam: Any) -> None:
    _call_quietly(cam, "close_device")
