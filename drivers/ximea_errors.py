"""xiAPI status codes turned into DeviceErrors that say what to check or change."""

from __future__ import annotations

from typing import Any

from core.devices import DeviceError

XI_TIMEOUT = 10
XI_INVALID_ARG = 11  # a real xiQ's answer to an exposure out of range
XI_ACQUISITION_STOPPED = 45
XI_NO_DEVICES_FOUND = 56
XI_DEVICE_LOCKED = 57
XI_UNKNOWN_PARAM = 100
XI_WRONG_PARAM_VALUE = 101
XI_NOT_SUPPORTED = 106
XI_OUT_OF_RANGE = 114  # "cannot be set (might be out of range or invalid)"
UNSUPPORTED = (XI_UNKNOWN_PARAM, XI_NOT_SUPPORTED)
REJECTED_VALUE = (XI_INVALID_ARG, XI_WRONG_PARAM_VALUE, XI_OUT_OF_RANGE)

MISSING_XIAPI = (
    "XIMEA camera support is not installed: {exc}. XIMEA's Python binding and its native "
    "library libm3api are both needed. Install XIMEA's Software Package for this OS (Linux: "
    "XIMEA_Linux_SP from ximea.com, run its ./install; Windows: the XIMEA Windows Software "
    "Package), which provides the driver and libm3api, then make the binding importable in "
    "melab's environment: pip install xiapipy (XIMEA's package, `from xiapipy import xiapi`) "
    "or ximea-py (`from ximea import xiapi`). Check with: python -c 'from xiapipy import xiapi'. "
    "See https://www.ximea.com/support/wiki/apis/XiAPI_Python_Manual"
)


def xiapi_error(exc: Exception, action: str, target: str, cam: Any = None,
                param: str | None = None, value: Any = None,
                field: str | None = None) -> DeviceError:
    """Turn an xiAPI error into a DeviceError that says what to check or change."""
    status = getattr(exc, "status", None)
    if status == XI_NO_DEVICES_FOUND:
        return DeviceError(
            f"No XIMEA camera found with {target} (xiAPI status 56; cameras seen: "
            f"{_devices_seen(cam)}). Check: the USB 3 cable is firmly plugged into a USB 3 port "
            "on the PC (not a hub); the camera's status LED is on; XIMEA's software package is "
            "installed and xiCOP lists the camera; the serial number matches the camera label "
            "or xiCOP"
        )
    if status == XI_DEVICE_LOCKED:
        return DeviceError(
            f"XIMEA camera with {target} is in use by another program (xiAPI status 57): close "
            "xiCamTool, xiCOP, another melab or Python session using it, then retry; if nothing "
            "else runs, unplug and replug the camera"
        )
    if status in UNSUPPORTED:
        what = f"parameter {param!r} (XimeaSettings.{field})" if param else f"{action!r}"
        return DeviceError(
            f"This XIMEA camera does not support {what} (xiAPI status {status}, "
            f"{_describe(exc)}): use a setting this model supports, or update XIMEA's software "
            "package if the model should support it"
        )
    if status in REJECTED_VALUE:
        limits = limits_text(cam, param) if param else ""
        return DeviceError(
            f"XIMEA camera rejected {param}={_plain(value)!r}{limits} (xiAPI status {status}, "
            f"{_describe(exc)}): change XimeaSettings.{field}"
        )
    if status == XI_ACQUISITION_STOPPED:
        return DeviceError(
            "XIMEA acquisition is stopped (xiAPI status 45) while " + action + ": call "
            "start() before read(), and do not stop() from another thread during read()"
        )
    return DeviceError(
        f"XIMEA camera error while {action} (xiAPI status {status}: {exc}); look the status "
        "up in xiAPI's error codes, and unplug/replug the camera if it persists"
    )


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _describe(exc: Exception) -> str:
    return str(getattr(exc, "descr", "")) or "see xiAPI's error codes"


def limits_text(cam: Any, param: str) -> str:
    """The camera's accepted range for a parameter, when it reports one."""
    parts = []
    for bound in ("minimum", "maximum", "increment"):
        try:
            value = getattr(cam, f"get_{param}_{bound}")()
        except Exception:  # not every parameter has bounds; the message still helps without
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        parts.append(f"{bound} {value}")
    return f" (camera accepts {', '.join(parts)})" if parts else ""


def _devices_seen(cam: Any) -> str:
    try:
        return str(cam.get_number_devices())
    except Exception:  # only decorates an error message
        return "unknown"
