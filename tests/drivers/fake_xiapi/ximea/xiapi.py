"""A small fake of XIMEA's xiAPI Python module for tests (our own code, mirroring names only).

It behaves like a camera: parameters are validated (status 100 for a parameter the model
lacks, 101 for a value out of range), ROI limits depend on the current offsets, the frame
rate limit depends on the exposure, and get_image fills an Image with deterministic frames.
Configure a scenario with `reset(...)`; inspect what a driver did through `cameras[-1].calls`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ERROR_TEXT = {
    10: "Timeout",
    45: "Acquisition stopped",
    56: "No devices found",
    57: "Resource (device) or function locked by mutex",
    100: "Unknown parameter",
    101: "Wrong parameter value",
}

SENSOR_WIDTH = 2048
SENSOR_HEIGHT = 1088
MAX_FPS = 170.0  # the fake's full-frame limit
TS_WRAP_US = 2**32  # tsSec/tsUSec come from a 32-bit microsecond counter


class Xi_error(Exception):
    """An xiAPI error carrying the numeric status."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"ERROR {status}: {ERROR_TEXT.get(status, 'Unknown error')}")


@dataclass
class Scenario:
    """What the fake 'hardware' does; tests set it with reset()."""

    serials: list[str] = field(default_factory=lambda: ["32301551"])
    locked: set[str] = field(default_factory=set)
    model: str = "MQ022CG-CM"
    gpi_ports: tuple[int, ...] = (1,)  # the xiQ has a single digital input
    unsupported: set[str] = field(default_factory=set)  # parameters raising status 100
    frames: int = 1000  # frames delivered per acquisition, then get_image times out
    drop: set[int] = field(default_factory=set)  # acq_nframe values never delivered
    timeout_calls: set[int] = field(default_factory=set)  # get_image call numbers (1-based)
    gpi_pattern: tuple[int, ...] = (0,)  # GPI_level of frame n is pattern[(n - 1) % len]
    ts_start_us: int = 1_000_000  # camera timestamp of the first frame
    nframe_offset: int = 500  # the camera-wide nframe runs ahead of acq_nframe


scenario = Scenario()
cameras: list[Camera] = []


def reset(**kwargs: Any) -> Scenario:
    """Start a fresh scenario (fields of Scenario as keywords) and forget created cameras."""
    global scenario
    scenario = Scenario(**kwargs)
    cameras.clear()
    return scenario


def _choice(*values: str) -> Callable[[Any], bool]:
    return lambda v: v in values


def _range(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int | float) and lo <= v <= hi


@dataclass
class _Param:
    default: Any
    valid: Callable[[Any], bool] | None  # None: the check depends on camera state
    minimum: float | None = None
    maximum: float | None = None
    increment: float | None = None


PARAMS: dict[str, _Param] = {
    "imgdataformat": _Param(
        "XI_MONO8", _choice("XI_MONO8", "XI_MONO16", "XI_RAW8", "XI_RAW16", "XI_RGB24")
    ),
    "exposure": _Param(10000, _range(28, 1_000_000), 28, 1_000_000, 1),
    "gain": _Param(0.0, _range(-1.5, 12.0), -1.5, 12.0, 0.1),
    "acq_timing_mode": _Param(
        "XI_ACQ_TIMING_MODE_FREE_RUN",
        _choice(
            "XI_ACQ_TIMING_MODE_FREE_RUN",
            "XI_ACQ_TIMING_MODE_FRAME_RATE",
            "XI_ACQ_TIMING_MODE_FRAME_RATE_LIMIT",
        ),
    ),
    "framerate": _Param(MAX_FPS, _range(1.0, MAX_FPS), 1.0, MAX_FPS),
    "width": _Param(SENSOR_WIDTH, None, 16, SENSOR_WIDTH, 4),
    "height": _Param(SENSOR_HEIGHT, None, 4, SENSOR_HEIGHT, 2),
    "offsetX": _Param(0, None, 0, 0, 2),
    "offsetY": _Param(0, None, 0, 0, 2),
    "trigger_source": _Param(
        "XI_TRG_OFF",
        _choice("XI_TRG_OFF", "XI_TRG_EDGE_RISING", "XI_TRG_EDGE_FALLING", "XI_TRG_SOFTWARE"),
    ),
    "trigger_selector": _Param(
        "XI_TRG_SEL_FRAME_START",
        _choice("XI_TRG_SEL_FRAME_START", "XI_TRG_SEL_EXPOSURE_ACTIVE"),
    ),
    "gpi_selector": _Param("XI_GPI_PORT1", None),
    "gpi_mode": _Param("XI_GPI_OFF", _choice("XI_GPI_OFF", "XI_GPI_TRIGGER", "XI_GPI_EXT_EVENT")),
    "buffer_policy": _Param("XI_BP_UNSAFE", _choice("XI_BP_UNSAFE", "XI_BP_SAFE")),
    "buffers_queue_size": _Param(4, _range(2, 256), 2, 256, 1),
}


def expected_pixels(n: int, height: int, width: int) -> np.ndarray:
    """Content of frame n: pixel (y, x) = (n + x + 2y) mod 256, so order and layout show."""
    y, x = np.indices((height, width))
    return ((n + x + 2 * y) % 256).astype(np.uint8)


class Image:
    """Image descriptor filled by Camera.get_image."""

    def __init__(self) -> None:
        self.nframe = 0
        self.acq_nframe = 0
        self.tsSec = 0
        self.tsUSec = 0
        self.GPI_level = 0
        self.width = 0
        self.height = 0
        self.exposure_time_us = 0
        self._data: np.ndarray | None = None

    def get_image_data_numpy(self) -> np.ndarray:
        """The pixel buffer; like the real API it is reused by the next get_image."""
        if self._data is None:
            raise Xi_error(101)
        return self._data


class Camera:
    """A fake camera handle; every call is appended to `calls`."""

    def __init__(self, dev_id: int = 0) -> None:
        self.dev_id = dev_id
        self.calls: list[tuple[Any, ...]] = []
        self.serial: str | None = None
        self.acquiring = False
        self.aeag = True  # the real cameras may start with auto exposure on
        self._params = {name: p.default for name, p in PARAMS.items()}
        self._gpi_modes: dict[str, str] = {}
        self._next = 1  # next acq_nframe to produce
        self._get_image_calls = 0
        self._buffer: np.ndarray | None = None
        cameras.append(self)

    # -- device ---------------------------------------------------------------------------
    def get_number_devices(self) -> int:
        """Number of connected cameras."""
        return len(scenario.serials)

    def open_device(self) -> None:
        """Open the camera at dev_id."""
        self.calls.append(("open_device", self.dev_id))
        if self.dev_id >= len(scenario.serials):
            raise Xi_error(56)
        self._claim(scenario.serials[self.dev_id])

    def open_device_by_SN(self, serial: str) -> None:
        """Open the camera with this serial number."""
        self.calls.append(("open_device_by_SN", serial))
        if serial not in scenario.serials:
            raise Xi_error(56)
        self._claim(serial)

    def _claim(self, serial: str) -> None:
        if serial in scenario.locked:
            raise Xi_error(57)
        self.serial = serial

    def close_device(self) -> None:
        """Close the camera."""
        self.calls.append(("close_device",))
        self.acquiring = False
        self.serial = None

    def get_device_sn(self) -> bytes:
        """Serial number (bytes, as the real binding returns it)."""
        self._need_open()
        return self.serial.encode()

    def get_device_name(self) -> bytes:
        """Model name (bytes)."""
        self._need_open()
        return scenario.model.encode()

    def enable_aeag(self) -> None:
        """Automatic exposure/gain on."""
        self.calls.append(("enable_aeag",))
        self.aeag = True

    def disable_aeag(self) -> None:
        """Automatic exposure/gain off."""
        self.calls.append(("disable_aeag",))
        self.aeag = False

    def _need_open(self) -> None:
        if self.serial is None:
            raise Xi_error(1)  # invalid handle

    # -- parameters -----------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # set_X, get_X and get_X_minimum/_maximum/_increment for the parameters in the table
        for param in PARAMS:
            if name == f"set_{param}":
                return lambda value: self._set(param, value)
            if name == f"get_{param}":
                return lambda: self._get(param)
            for bound in ("minimum", "maximum", "increment"):
                if name == f"get_{param}_{bound}":
                    return lambda b=bound: self._bound(param, b)
        raise AttributeError(name)

    def _set(self, name: str, value: Any) -> None:
        self.calls.append(("set_" + name, value))
        self._need_open()
        if name in scenario.unsupported:
            raise Xi_error(100)
        if not self._valid(name, value):
            raise Xi_error(101)
        if name == "gpi_mode":
            self._gpi_modes[self._params["gpi_selector"]] = value
        self._params[name] = value
        if name == "exposure" and self._params["framerate"] > self._fps_limit():
            self._params["framerate"] = self._fps_limit()  # the camera lowers it silently

    def _get(self, name: str) -> Any:
        self._need_open()
        if name in scenario.unsupported:
            raise Xi_error(100)
        if name == "gpi_mode":
            return self._gpi_modes.get(self._params["gpi_selector"], "XI_GPI_OFF")
        return self._params[name]

    def _bound(self, name: str, bound: str) -> Any:
        p = PARAMS[name]
        limits = {
            "width": (16, SENSOR_WIDTH - self._params["offsetX"]),
            "height": (4, SENSOR_HEIGHT - self._params["offsetY"]),
            "offsetX": (0, SENSOR_WIDTH - self._params["width"]),
            "offsetY": (0, SENSOR_HEIGHT - self._params["height"]),
            "framerate": (1.0, self._fps_limit()),
        }
        lo, hi = limits.get(name, (p.minimum, p.maximum))
        return {"minimum": lo, "maximum": hi, "increment": p.increment}[bound]

    def _fps_limit(self) -> float:
        return min(MAX_FPS, 1e6 / self._params["exposure"])

    def _valid(self, name: str, value: Any) -> bool:
        if name == "gpi_selector":
            return value in {f"XI_GPI_PORT{p}" for p in scenario.gpi_ports}
        if name == "framerate":
            return isinstance(value, int | float) and 1.0 <= value <= self._fps_limit()
        if name in ("width", "height", "offsetX", "offsetY"):
            if not isinstance(value, int):
                return False
            return (
                self._bound(name, "minimum") <= value <= self._bound(name, "maximum")
                and value % self._bound(name, "increment") == 0
            )
        check = PARAMS[name].valid
        return check is not None and check(value)

    # -- acquisition ----------------------------------------------------------------------
    def start_acquisition(self) -> None:
        """Start streaming; acq_nframe restarts at 1."""
        self.calls.append(("start_acquisition",))
        self._need_open()
        self.acquiring = True
        self._next = 1

    def stop_acquisition(self) -> None:
        """Stop streaming."""
        self.calls.append(("stop_acquisition",))
        self.acquiring = False

    def get_image(self, image: Image, timeout: int = 5000) -> None:
        """Fill image with the next frame, or raise Xi_error(10) on timeout."""
        self._get_image_calls += 1
        self.calls.append(("get_image", timeout))
        if not self.acquiring:
            raise Xi_error(45)
        if self._get_image_calls in scenario.timeout_calls:
            raise Xi_error(10)
        while self._next in scenario.drop:
            self._next += 1
        if self._next > scenario.frames:
            raise Xi_error(10)
        n = self._next
        self._next += 1
        height, width = self._params["height"], self._params["width"]
        if self._buffer is None or self._buffer.shape != (height, width):
            self._buffer = np.empty((height, width), dtype=np.uint8)
        self._buffer[:] = expected_pixels(n, height, width)
        frame_period_us = 1e6 / self._params["framerate"]
        ts = int(scenario.ts_start_us + round((n - 1) * frame_period_us)) % TS_WRAP_US
        image.acq_nframe = n
        image.nframe = n + scenario.nframe_offset
        image.tsSec, image.tsUSec = divmod(ts, 1_000_000)
        pattern = scenario.gpi_pattern
        image.GPI_level = pattern[(n - 1) % len(pattern)]
        image.width, image.height = width, height
        image.exposure_time_us = self._params["exposure"]
        image._data = self._buffer
