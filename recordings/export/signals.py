"""A session's continuous streams for export: channel types, SI units, and samples on a
regular grid of the session clock (what MNE, BrainVision and BIDS physio files need)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.trigger_channel import find_trigger_channel
from recordings.export.readiness import ExportError
from recordings.store.reader import StreamView

# Declared channel type or label (lower case) -> MNE channel type.
_MNE_TYPES = {
    "eeg": "eeg", "ecg": "ecg", "ekg": "ecg", "eog": "eog", "emg": "emg",
    "eda": "bio", "gsr": "bio", "ppg": "bio", "bvp": "bio", "pulse": "bio",
    "resp": "resp", "rsp": "resp", "respiration": "resp",
    "temp": "temperature", "temperature": "temperature", "skt": "temperature",
}
# Unit as senders write it -> (SI unit, factor to SI).
_SI = {
    "v": ("V", 1.0), "mv": ("V", 1e-3), "µv": ("V", 1e-6), "μv": ("V", 1e-6), "uv": ("V", 1e-6),
    "microvolts": ("V", 1e-6), "millivolts": ("V", 1e-3), "volts": ("V", 1.0), "nv": ("V", 1e-9),
    "s": ("S", 1.0), "ms": ("S", 1e-3), "µs": ("S", 1e-6), "μs": ("S", 1e-6), "us": ("S", 1e-6),
    "microsiemens": ("S", 1e-6), "°c": ("°C", 1.0), "degc": ("°C", 1.0), "celsius": ("°C", 1.0),
}


@dataclass(frozen=True)
class Channel:
    """One exported channel: label, MNE type, SI unit and the factor from the stored unit."""

    label: str
    kind: str  # eeg | ecg | bio | resp | temperature | emg | eog | stim | misc
    unit: str  # SI unit ('' for stim and unknown units)
    scale: float  # stored value * scale = value in `unit`
    stored_unit: str


@dataclass
class RegularStream:
    """A stream's samples on a regular grid of the session clock."""

    name: str
    channels: list[Channel]
    sfreq: float  # effective rate on the session clock (the device clock's drift included)
    t0: float  # session time of grid row 0 (the first sample)
    data: np.ndarray  # (n, ch) float64 in stored units; NaN rows where no sample fell
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (session time, seconds)
    collisions: int = 0  # samples that fell on an already filled grid row (dropped)

    @property
    def times(self) -> np.ndarray:
        """Session time of every grid row."""
        return self.t0 + np.arange(len(self.data)) / self.sfreq

    def si(self) -> np.ndarray:
        """(ch, n) data in SI units (gaps as 0, as MNE's readers fill acquisition skips)."""
        scales = np.array([c.scale for c in self.channels])[:, None]
        return np.nan_to_num(self.data.T * scales, nan=0.0)


def channels_of(stream: StreamView) -> list[Channel]:
    """Each channel's MNE type and SI unit, from what the sender declared."""
    declared = stream.channel_types
    trigger = find_trigger_channel(stream.labels, declared)
    stim = set(trigger.columns) if trigger is not None else set()
    out = []
    for i, (label, unit) in enumerate(zip(stream.labels, stream.units, strict=True)):
        if i in stim:
            out.append(Channel(label, "stim", "", 1.0, unit))
            continue
        kind = _MNE_TYPES.get(declared[i].lower()) or _MNE_TYPES.get(label.lower())
        if kind is None:
            kind = "eeg" if stream.type.lower() == "eeg" else "misc"
        si_unit, scale = _SI.get(unit.strip().lower(), (unit, 1.0))
        out.append(Channel(label, kind, si_unit, scale, unit))
    return out


def regular(stream: StreamView) -> RegularStream:
    """The synced samples on a regular grid: rate from the sample spacing on the session clock;
    each sample goes to its nearest row, rows no sample reached (outages) stay NaN."""
    if "session_time" not in stream.group:
        raise ExportError(f"stream {stream.name!r} is not synchronized; run `melab sync` first")
    times = stream.times("session_time")[:]
    keep = np.isfinite(times)
    if keep.sum() < 2:
        raise ExportError(f"stream {stream.name!r} has fewer than 2 synchronized samples")
    values = np.asarray(stream.samples[:], dtype=np.float64)[keep]
    times = times[keep]
    sfreq = _effective_rate(times, stream.nominal_rate)
    rows = np.rint((times - times[0]) * sfreq).astype(np.int64)
    data = np.full((int(rows[-1]) + 1, values.shape[1]), np.nan)
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    data[rows[first]] = values[first]
    missing = np.flatnonzero(np.diff(rows) > 1)
    gaps = [(float(times[0] + (rows[i] + 1) / sfreq), float((rows[i + 1] - rows[i] - 1) / sfreq))
            for i in missing]
    return RegularStream(stream.name, channels_of(stream), sfreq, float(times[0]), data, gaps,
                         int((~first).sum()))


def _effective_rate(times: np.ndarray, nominal: float) -> float:
    """Samples per session-clock second, from the spacings that are one sample apart."""
    steps = np.diff(times)
    steps = steps[np.abs(steps * nominal - 1.0) < 0.5] if nominal > 0 else steps[steps > 0]
    if len(steps) == 0:
        raise ExportError("no two consecutive samples to measure the sampling rate from")
    return float(len(steps) / steps.sum())
