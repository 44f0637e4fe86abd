"""A test double of XIMEA's native library libm3api, for XIMEA's own binding `xiapipy`.

xiapipy's xiapi.py loads libm3api with ctypes at import and calls its C functions
(xiOpenDevice, xiSetParam, xiGetParam, xiGetImage, ...) with ctypes arguments. `load_xiapi()`
imports that xiapi.py unmodified while ctypes.CDLL hands it an `M3Api` for the library: its
methods take the same ctypes arguments, fill the out-pointers and return xiAPI status codes.
Only libm3api is replaced; xiapi.py, xidefs.py and the binding's xiArrOps helper are XIMEA's.

It models an MQ022CG-CM (xiQ, CMV2000 colour sensor, 2048x1088, CFA GBRG, one digital
input): parameter ranges and increments that depend on the ROI, the exposure and the
bandwidth; the status codes a real xiQ returns (11 for an exposure out of range, 100 unknown
parameter, 101 wrong enum value, 106 not supported, 109 read-only, 114 out of range); the
USB bandwidth measured at open with xiAPI's own limit at 90 % of it; acq_buffer_size bounding
buffers_queue_size; a 40-bit microsecond timestamp; frame, skipped-frame and missed-trigger
counters; GPI levels; hardware triggers that come too soon after the previous frame missed.
The numbers are the C header's (xiApi.h), written here, not read from the binding.
"""

from __future__ import annotations

import ctypes
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

OK, INVALID_HANDLE, TIMEOUT, INVALID_ARG = 0, 1, 10, 11
ACQ_STOPPED, NO_DEVICES, LOCKED = 45, 56, 57
UNKNOWN_PARAM, WRONG_VALUE, NOT_SUPPORTED, READ_ONLY, OUT_OF_RANGE = 100, 101, 106, 109, 114
WHILE_ACQUIRING = 121

SENSOR_W, SENSOR_H = 2048, 1088
SENSOR_FPS = 170.0  # the CMV2000's full-frame rate at 8 bits; read-out time scales with rows
TS_BITS = 40
MONO8, RAW8 = 0, 5
CFA = {"XI_CFA_NONE": 0, "XI_CFA_BAYER_RGGB": 1, "XI_CFA_BAYER_BGGR": 4,
       "XI_CFA_BAYER_GRBG": 5, "XI_CFA_BAYER_GBRG": 6}
TRG_OFF, TRG_EDGE_RISING = 0, 1
GPI_OFF, GPI_TRIGGER, GPI_EXT_EVENT = 0, 1, 2
BP_UNSAFE, BP_SAFE = 0, 1
CNT_TRANSPORT_SKIPPED, CNT_API_SKIPPED, CNT_TRANSFERRED, CNT_MISSED_TRIGGER = 0, 1, 2, 3
DEFAULT_ACQ_BUFFER = 64 * 2**20  # bytes: a few full frames, as xiAPI starts


@dataclass
class Scenario:
    """What the simulated hardware does; `M3Api.reset(**fields)` sets it."""

    serials: list[str] = field(default_factory=lambda: ["32301551"])
    locked: set[str] = field(default_factory=set)
    model: str = "MQ022CG-CM"
    cfa: str = "XI_CFA_BAYER_GBRG"
    gpi_ports: int = 1  # the xiQ has one digital input
    bandwidth_mbps: int = 3600  # what xiAPI measures on this USB controller at open
    unsupported: set[str] = field(default_factory=set)  # parameters answering 106
    unknown: set[str] = field(default_factory=set)  # answering 100 (an older libm3api)
    frames: int = 1000  # frames per acquisition, then xiGetImage times out
    transport_lost: set[int] = field(default_factory=set)  # acq_nframe lost on the link
    api_lost: set[int] = field(default_factory=set)  # acq_nframe xiAPI discarded (queue full)
    timeout_calls: set[int] = field(default_factory=set)  # xiGetImage calls (1-based) timing out
    gpi_pattern: tuple[int, ...] = (0,)  # GPI_level of frame n: pattern[(n - 1) % len]
    ts_start_us: int = 1_000_000  # timestamp counter at the first frame
    # Hardware trigger: rising edges in us after acquisition start (None: 150 Hz).
    triggers_us: list[int] | None = None
    # A melab Camera (e.g. the simulated lab's) as the sensor: its frames, timing and GPI.
    source: Any = None


@dataclass
class _Camera:
    """One open handle's state."""

    serial: str
    params: dict[str, Any]
    gpi_modes: dict[int, int] = field(default_factory=dict)
    acquiring: bool = False
    counters: dict[int, int] = field(default_factory=dict)
    produced: int = 0  # acq_nframe of the last frame the sensor made
    triggers: list[int] = field(default_factory=list)
    last_trigger: int | None = None
    get_image_calls: int = 0
    first_source_frame: int | None = None
    ring: list[ctypes.Array] = field(default_factory=list)
    safe: dict[int, ctypes.Array] = field(default_factory=dict)  # XI_BP_SAFE copies per image


class M3Api:
    """The double: libm3api's functions as methods; `reset()` sets the scenario."""

    def __init__(self) -> None:
        self.scenario = Scenario()
        self.cams: dict[int, _Camera] = {}
        self.calls: list[tuple[Any, ...]] = []  # (function, parameter, value) of interest
        self.safe_copies = 0
        self._next_handle = 1
        self.xiapi: ModuleType | None = None  # the binding loaded over this double

    def reset(self, **kwargs: Any) -> Scenario:
        """A fresh scenario (Scenario's fields as keywords); forgets handles and calls."""
        self.scenario = Scenario(**kwargs)
        self.cams.clear()
        self.calls.clear()
        self.safe_copies = 0
        return self.scenario

    def set_calls(self) -> list[tuple[str, Any]]:
        """(parameter, value) of every xiSetParam, in order."""
        return [(c[1], c[2]) for c in self.calls if c[0] == "xiSetParam"]

    # -- devices --------------------------------------------------------------------------
    def xiGetNumberDevices(self, count: Any) -> int:
        count._obj.value = len(self.scenario.serials)
        return OK

    def xiOpenDevice(self, dev_id: int, handle: Any) -> int:
        serials = self.scenario.serials
        return self._open(serials[dev_id] if 0 <= dev_id < len(serials) else None, handle)

    def xiOpenDeviceBy(self, open_type: Any, text: Any, handle: Any) -> int:
        serial = text.value.decode()
        return self._open(serial if serial in self.scenario.serials else None, handle)

    def _open(self, serial: str | None, handle: Any) -> int:
        self.calls.append(("xiOpenDevice", serial, None))
        if serial is None:
            return NO_DEVICES
        if serial in self.scenario.locked or any(c.serial == serial for c in self.cams.values()):
            return LOCKED
        number, self._next_handle = self._next_handle, self._next_handle + 1
        self.cams[number] = _Camera(serial, _defaults(self.scenario))
        handle._obj.value = number
        return OK

    def xiCloseDevice(self, handle: Any) -> int:
        self.calls.append(("xiCloseDevice", None, None))
        cam = self.cams.pop(handle.value or 0, None)
        if cam is not None and cam.acquiring:
            self._stop(cam)
        return OK if cam is not None else INVALID_HANDLE

    def camera(self) -> _Camera:
        """The one open camera (tests look at its state)."""
        (cam,) = self.cams.values()
        return cam

    # -- parameters -----------------------------------------------------------------------
    def xiSetParam(self, handle: Any, prm: Any, val: Any, size: Any, kind: Any) -> int:
        name = prm.value.decode()
        value = val.value.decode() if kind.value == 2 else val.contents.value
        self.calls.append(("xiSetParam", name, value))
        cam = self.cams.get(handle.value or 0)
        if cam is None:
            return INVALID_HANDLE
        return _set(self.scenario, cam, name, value)

    def xiGetParam(self, handle: Any, prm: Any, val: Any, size: Any, kind: Any) -> int:
        name, _, bound = prm.value.decode().partition(":")
        cam = self.cams.get(handle.value or 0)
        if cam is None:
            return INVALID_HANDLE
        status, value = _get(self.scenario, cam, name, bound)
        if status != OK:
            return status
        if isinstance(value, str):
            data = value.encode()
            ctypes.memmove(val, data, len(data))
            size._obj.value = len(data)
        else:
            val.contents.value = value
        return OK

    # -- acquisition ----------------------------------------------------------------------
    def xiStartAcquisition(self, handle: Any) -> int:
        cam = self.cams.get(handle.value or 0)
        if cam is None:
            return INVALID_HANDLE
        self.calls.append(("xiStartAcquisition", None, None))
        cam.acquiring, cam.produced, cam.get_image_calls = True, 0, 0
        cam.counters = dict.fromkeys(range(8), 0)
        cam.first_source_frame, cam.last_trigger = None, None
        p = cam.params
        frame_bytes = p["width"] * p["height"]
        cam.ring = [(ctypes.c_ubyte * frame_bytes)() for _ in range(2)]
        triggers = self.scenario.triggers_us
        cam.triggers = list(triggers if triggers is not None else
                            [round(i * 1e6 / 150) for i in range(self.scenario.frames)])
        if self.scenario.source is not None:
            self.scenario.source.start()
        return OK

    def xiStopAcquisition(self, handle: Any) -> int:
        cam = self.cams.get(handle.value or 0)
        if cam is None:
            return INVALID_HANDLE
        self.calls.append(("xiStopAcquisition", None, None))
        self._stop(cam)
        return OK

    def _stop(self, cam: _Camera) -> None:
        if cam.acquiring and self.scenario.source is not None:
            self.scenario.source.stop()
        cam.acquiring = False

    def xiGetImage(self, handle: Any, timeout_ms: Any, image_ref: Any) -> int:
        cam = self.cams.get(handle.value or 0)
        if cam is None:
            return INVALID_HANDLE
        self.calls.append(("xiGetImage", None, timeout_ms.value))
        cam.get_image_calls += 1
        if not cam.acquiring:
            return ACQ_STOPPED
        got = None
        if cam.get_image_calls not in self.scenario.timeout_calls:
            got = (self._from_source(cam, timeout_ms.value / 1000) if self.scenario.source
                   else self._scripted(cam))
        if got is None:
            if not self.scenario.source:  # xiGetImage waits the whole timeout for a frame
                time.sleep(timeout_ms.value / 1000)
            return TIMEOUT
        n, t_us, gpi, pixels = got
        self._fill(cam, image_ref._obj, n, t_us, gpi, pixels)
        return OK

    def _scripted(self, cam: _Camera) -> tuple[int, int, int, Callable] | None:
        s, p = self.scenario, cam.params
        while True:
            n = cam.produced + 1
            if n > s.frames:
                return None
            if p["trigger_source"] == TRG_OFF:
                t_us = round((n - 1) * 1e6 / _frame_rate(p))
            else:
                accepted = _next_trigger(cam, _frame_time_us(p))
                if accepted is None:
                    return None
                t_us = accepted
            cam.produced = n
            if n in s.transport_lost:
                cam.counters[CNT_TRANSPORT_SKIPPED] += 1
            elif n in s.api_lost:
                cam.counters[CNT_API_SKIPPED] += 1
            else:
                gpi = s.gpi_pattern[(n - 1) % len(s.gpi_pattern)]
                return n, s.ts_start_us + t_us, gpi, lambda h, w, n=n: expected_pixels(n, h, w)

    def _from_source(self, cam: _Camera, timeout: float) -> tuple[int, int, int, Callable] | None:
        frame = self.scenario.source.read(timeout)
        if frame is None:
            return None
        if cam.first_source_frame is None:
            cam.first_source_frame = frame.frame_number
        n = frame.frame_number - cam.first_source_frame + 1
        cam.counters[CNT_API_SKIPPED] += n - cam.produced - 1  # frames nobody read in time
        cam.produced = n
        return n, round(frame.device_time * 1e6), frame.gpi_level, lambda h, w: frame.image

    def _fill(self, cam: _Camera, img: Any, n: int, t_us: int, gpi: int,
              pixels: Callable[[int, int], np.ndarray]) -> None:
        p = cam.params
        height, width = p["height"], p["width"]
        buffer = cam.ring[n % len(cam.ring)]
        np.frombuffer(buffer, np.uint8).reshape(height, width)[:] = pixels(height, width)
        if p["buffer_policy"] == BP_SAFE:  # copied out of the ring into the image's own buffer
            own = cam.safe.setdefault(id(img), (ctypes.c_ubyte * len(buffer))())
            ctypes.memmove(own, buffer, len(buffer))
            self.safe_copies += 1
            buffer = own
        cam.counters[CNT_TRANSFERRED] += 1
        ts = t_us % 2**TS_BITS
        img.bp, img.bp_size = ctypes.addressof(buffer), len(buffer)
        img.frm, img.width, img.height, img.padding_x = p["imgdataformat"], width, height, 0
        img.acq_nframe, img.nframe = n, n + 500  # nframe counts since power-up
        img.tsSec, img.tsUSec = divmod(ts, 1_000_000)
        img.GPI_level = gpi
        img.exposure_time_us = round(p["exposure"])
        img.color_filter_array = CFA[self.scenario.cfa]

    def ring_addresses(self) -> set[int]:
        """Where the open camera's frame buffers are (to show no frame aliases them)."""
        return {ctypes.addressof(b) for b in self.camera().ring}


def expected_pixels(n: int, height: int, width: int) -> np.ndarray:
    """Content of scripted frame n: pixel (y, x) = (n + x + 2y) mod 256."""
    y, x = np.indices((height, width))
    return ((n + x + 2 * y) % 256).astype(np.uint8)


def needed_mbps(width: int, height: int, fps: float) -> float:
    """Megabits per second of 8-bit frames at this ROI and rate."""
    return width * height * 8 * fps / 1e6


# -- the parameter model -----------------------------------------------------------------
_ENUMS = {
    "imgdataformat": {0, 1, 2, 3, 5, 6}, "trigger_source": {0, 1, 2, 3}, "aeag": {0, 1},
    "trigger_selector": {0, 1, 2, 3}, "acq_timing_mode": {0, 1, 2}, "buffer_policy": {0, 1},
    "gpi_mode": {GPI_OFF, GPI_TRIGGER}, "counter_selector": set(range(8)),
    "limit_bandwidth_mode": {0, 1},
}
_READ_ONLY = {"device_name", "device_sn", "cfa", "available_bandwidth", "counter_value",
              "gpi_level"}


def _defaults(s: Scenario) -> dict[str, Any]:
    return {
        "imgdataformat": MONO8, "exposure": 10_000.0, "gain": 0.0, "aeag": 0,
        "width": SENSOR_W, "height": SENSOR_H, "offsetX": 0, "offsetY": 0,
        "trigger_source": TRG_OFF, "trigger_selector": 0, "acq_timing_mode": 0,
        "framerate": SENSOR_FPS, "gpi_selector": 1, "buffer_policy": BP_UNSAFE,
        "acq_buffer_size": DEFAULT_ACQ_BUFFER, "buffers_queue_size": 4,
        "counter_selector": 0, "limit_bandwidth_mode": 1,
        "limit_bandwidth": int(0.9 * s.bandwidth_mbps),
    }


def _bounds(s: Scenario, p: dict[str, Any], name: str) -> tuple[float, float, float] | None:
    frame_bytes = p["width"] * p["height"]
    table: dict[str, tuple[float, float, float]] = {
        "width": (16, SENSOR_W - p["offsetX"], 4),
        "height": (2, SENSOR_H - p["offsetY"], 2),
        "offsetX": (0, SENSOR_W - p["width"], 2),
        "offsetY": (0, SENSOR_H - p["height"], 2),
        "exposure": (28.0, 1_000_000.0, 1.0),
        "gain": (-1.5, 6.0, 0.1),
        "framerate": (0.8, _max_rate(p), 0.0),
        "limit_bandwidth": (10, s.bandwidth_mbps, 1),
        "acq_buffer_size": (4 * frame_bytes, 2**31 - 1, 1),
        "buffers_queue_size": (2, max(2, p["acq_buffer_size"] // frame_bytes), 1),
        "gpi_selector": (1, s.gpi_ports, 1),
    }
    return table.get(name)


def _max_rate(p: dict[str, Any]) -> float:
    sensor = SENSOR_FPS * SENSOR_H / p["height"]
    link = p["limit_bandwidth"] / needed_mbps(p["width"], p["height"], 1.0)
    return min(sensor, 1e6 / p["exposure"], link)


def _frame_rate(p: dict[str, Any]) -> float:
    return p["framerate"] if p["acq_timing_mode"] == 1 else _max_rate(p)


def _frame_time_us(p: dict[str, Any]) -> float:
    """After a triggered frame starts, the sensor takes no trigger for this long."""
    return 1e6 / _max_rate(p)


def _next_trigger(cam: _Camera, busy_us: float) -> int | None:
    while cam.triggers:
        t = cam.triggers.pop(0)
        if cam.last_trigger is not None and t - cam.last_trigger < busy_us:
            cam.counters[CNT_MISSED_TRIGGER] += 1  # overlapped the previous frame: no frame
            continue
        cam.last_trigger = t
        return t
    return None


def _set(s: Scenario, cam: _Camera, name: str, value: Any) -> int:
    p = cam.params
    if name in s.unknown:
        return UNKNOWN_PARAM
    if name in s.unsupported:
        return NOT_SUPPORTED
    if name not in p and name not in _READ_ONLY and name != "gpi_mode":
        return UNKNOWN_PARAM
    if name in _READ_ONLY:
        return READ_ONLY
    if cam.acquiring and name in ("acq_buffer_size", "buffers_queue_size", "imgdataformat"):
        return WHILE_ACQUIRING
    if name in _ENUMS and value not in _ENUMS[name]:
        return WRONG_VALUE
    bounds = _bounds(s, p, name)
    if bounds is not None:
        lo, hi, inc = bounds
        off_step = inc and isinstance(value, int) and (value - lo) % inc
        if not lo <= value <= hi or off_step:
            if name == "gpi_selector":
                return WRONG_VALUE
            return INVALID_ARG if name == "exposure" else OUT_OF_RANGE
    if name == "gpi_mode":
        cam.gpi_modes[p["gpi_selector"]] = value
        return OK
    p[name] = value
    if p["framerate"] > _max_rate(p):  # the camera lowers the rate a change made impossible
        p["framerate"] = _max_rate(p)
    return OK


def _get(s: Scenario, cam: _Camera, name: str, bound: str) -> tuple[int, Any]:
    p = cam.params
    if name in s.unsupported:
        return NOT_SUPPORTED, None
    if bound in ("min", "max", "inc"):
        bounds = _bounds(s, p, name)
        if bounds is None:
            return (NOT_SUPPORTED, None) if name in p or name in _READ_ONLY else (
                UNKNOWN_PARAM, None)
        value = bounds[("min", "max", "inc").index(bound)]
        return OK, value if name in ("exposure", "gain", "framerate") else int(value)
    values = {
        "device_name": s.model, "device_sn": cam.serial, "cfa": CFA[s.cfa],
        "available_bandwidth": s.bandwidth_mbps,
        "counter_value": cam.counters.get(p["counter_selector"], 0),
        "gpi_level": s.gpi_pattern[0] >> (p["gpi_selector"] - 1) & 1,
        "gpi_mode": cam.gpi_modes.get(p["gpi_selector"], GPI_OFF),
    }
    if name in values:
        return OK, values[name]
    if name not in p:
        return UNKNOWN_PARAM, None
    return OK, p[name]


# -- loading the binding with the double ---------------------------------------------------
_LOADED: tuple[ModuleType, M3Api] | None = None


def load_xiapi() -> tuple[ModuleType, M3Api]:
    """XIMEA's `xiapipy.xiapi`, imported once with libm3api replaced by an M3Api."""
    global _LOADED
    if _LOADED is None:
        double = M3Api()
        real_cdll = ctypes.CDLL

        def cdll(name: Any, *args: Any, **kwargs: Any) -> Any:
            return double if "m3api" in str(name) else real_cdll(name, *args, **kwargs)

        ctypes.CDLL = cdll  # xiapi.py does `from ctypes import *` and then CDLL(...)
        try:
            sys.modules.pop("xiapipy.xiapi", None)
            module = importlib.import_module("xiapipy.xiapi")
        finally:
            ctypes.CDLL = real_cdll
        double.xiapi = module
        _LOADED = (module, double)
    return _LOADED
