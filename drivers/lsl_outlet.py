"""An LSL outlet made from a core.devices.StreamInfo (simulated lab, replay, tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.clock import configure_lsl
from core.devices import DeviceError, StreamInfo

# The configuration must precede pylsl's first call in this process.
configure_lsl()

import pylsl  # noqa: E402

# Channel formats an outlet sends (int32: a bridge sending raw ADC counts).
_FORMATS: dict[str, Any] = {"float32": np.float32, "int32": np.int32, "string": object}


class LslOutlet:
    """An LSL outlet made from a core.devices.StreamInfo; pushes chunks with explicit stamps."""

    def __init__(self, info: StreamInfo, chunk_size: int = 0, max_buffered: int = 360) -> None:
        if info.channel_format not in _FORMATS:
            raise DeviceError(
                f"Stream {info.name!r}: channel_format must be one of {', '.join(_FORMATS)}, "
                f"not {info.channel_format!r}."
            )
        if len(info.channel_units) not in (0, info.channel_count):
            raise DeviceError(
                f"Stream {info.name!r}: {info.channel_count} channel labels but "
                f"{len(info.channel_units)} units; give one unit per channel (or none)."
            )
        lsl_info = pylsl.StreamInfo(
            info.name,
            info.type,
            info.channel_count,
            info.nominal_rate,
            info.channel_format,
            info.source_id,
        )
        # Standard XDF meta-data layout: desc/channels/channel/{label,unit,type}; none at all
        # for a sender that gives no labels (a bare bridge).
        units = info.channel_units or ("",) * info.channel_count
        types = info.channel_types or ("",) * info.channel_count
        described = any(info.channel_labels) or any(units) or any(types)
        channels = lsl_info.desc().append_child("channels") if described else None
        for label, unit, kind in zip(info.channel_labels, units, types, strict=True):
            if channels is None:
                break
            channel = channels.append_child("channel")
            channel.append_child_value("label", label)
            channel.append_child_value("unit", unit)
            if kind:
                channel.append_child_value("type", kind)
        self.info = info
        self._outlet: pylsl.StreamOutlet | None = pylsl.StreamOutlet(
            lsl_info, chunk_size, max_buffered
        )

    def push(self, samples: Any, timestamps: Sequence[float] | np.ndarray) -> None:
        """Push samples (n, channels) with one timestamp (sender clock) per sample."""
        outlet = self._require_open()
        stamps = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        n_channels = self.info.channel_count
        if self.info.channel_format == "string":
            block = np.asarray(samples, dtype=object).reshape(len(stamps), n_channels)
            data: Any = [str(v) for v in block.reshape(-1)]
        else:
            data = np.ascontiguousarray(samples, dtype=_FORMATS[self.info.channel_format])
            if data.ndim != 2 or data.shape != (len(stamps), n_channels):
                raise ValueError(
                    f"Stream {self.info.name!r}: samples of shape {data.shape} do not match "
                    f"{len(stamps)} timestamps x {n_channels} channels."
                )
        if len(stamps) == 0:
            return
        outlet.push_chunk(data, timestamp=stamps.tolist())

    def wait_for_consumers(self, timeout: float) -> bool:
        """Wait up to timeout seconds for an inlet to connect."""
        return self._require_open().wait_for_consumers(timeout)

    def close(self) -> None:
        """Destroy the outlet now (inlets see the stream vanish)."""
        # Dropping the last reference runs liblsl's destroy immediately (CPython refcount).
        self._outlet = None

    def _require_open(self) -> pylsl.StreamOutlet:
        """The live outlet, or a clear error after close()."""
        if self._outlet is None:
            raise DeviceError(f"LSL outlet {self.info.name!r} is closed; create a new LslOutlet.")
        return self._outlet
