"""A rig profile (TOML): each device's LSL query, role, channels and trigger source.

Read with every problem located at its file:line, like protocol files; the format is in
docs/rig-profiles.md. Nothing here touches LSL: matching a profile to the streams found is
recordings/rigs/roles.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.problems import Problem
from core.toml_source import KeyPath, TomlSource, read_toml
from drivers.lsl_query import StreamQuery
from recordings.rigs.units import KNOWN_UNITS, QUANTITY_OF_TYPE, is_known_unit

ROLES = ("eeg", "physio", "markers", "other")
CHANNEL_TYPES = ("eeg", "eog", "emg", "ecg", "eda", "resp", "temp", "ppg", "stim", "ref", "misc")
CODE_KINDS = ("numeric", "string")
_DEVICE_KEYS = {"query", "role", "rate", "sync", "channel_type", "unit", "scale", "channels",
                "trigger", "note"}
_CHANNEL_KEYS = {"label", "index", "type", "unit", "scale"}
_TRIGGER_KEYS = {"channel", "idle", "mask", "lines", "markers", "codes", "code_map"}

ChannelRef = str | int  # a label, or a 1-based channel number


class RigProfileError(ValueError):
    """A rig profile cannot be used; carries every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n  ".join(str(p) for p in self.problems)
        super().__init__(f"rig profile has {len(self.problems)} problem(s):\n  {lines}")


@dataclass(frozen=True)
class ChannelSpec:
    """What one channel is: by label or 1-based index; type, unit, scale (unit = raw x scale)."""

    ref: ChannelRef
    type: str | None = None
    unit: str | None = None
    scale: float | None = None


@dataclass(frozen=True)
class TriggerSpec:
    """Where a device sees the trigger box: a code channel, single lines, or a marker stream."""

    kind: str  # channel | lines | markers
    channels: tuple[ChannelRef, ...] = ()  # the code channel, or the lines (bit 0 first)
    idle: float | None = None  # None: the channel's most common value
    mask: int = 0xFF
    markers: str = ""  # device key of the marker stream (kind markers)
    codes: str = "numeric"  # numeric | string (markers)
    code_map: dict[str, int] = field(default_factory=dict)  # marker text -> code (string)


@dataclass(frozen=True)
class DeviceSpec:
    """One device of the rig as the profile describes it."""

    key: str
    query: StreamQuery
    role: str
    rate: float | None = None  # the true rate when the stream advertises none
    sync: bool = True  # meant to be synchronized by trigger edges
    channel_type: str | None = None  # type of channels not listed (None: by label)
    unit: str | None = None  # unit of channels not listed (None: as the stream says)
    scale: float | None = None
    channels: tuple[ChannelSpec, ...] = ()
    trigger: TriggerSpec | None = None
    note: str = ""


@dataclass(frozen=True)
class RigProfile:
    """A whole rig profile."""

    path: Path
    name: str
    devices: dict[str, DeviceSpec]


class _Reader:
    """Collects problems while turning a TOML table into specs."""

    def __init__(self, source: TomlSource) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def fail(self, path: KeyPath, message: str) -> None:
        self.problems.append(self.source.problem(path, message))

    def keys(self, table: Mapping[str, Any], allowed: set[str], path: KeyPath) -> None:
        for key in table:
            if key not in allowed:
                self.fail((*path, key), f"unknown key {key!r} in [{'.'.join(map(str, path))}]"
                          f" (allowed: {', '.join(sorted(allowed))})")

    def get(self, table: Mapping[str, Any], key: str, kind: type | tuple[type, ...],
            path: KeyPath, what: str) -> Any:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            value = object()  # true/false is never a number here
        if not isinstance(value, kind):
            self.fail((*path, key), f"{key} must be {what}")
            return None
        return value

    def choice(self, table: Mapping[str, Any], key: str, allowed: tuple[str, ...],
               path: KeyPath) -> str | None:
        value = self.get(table, key, str, path, f"one of {', '.join(allowed)}")
        if value is not None and value.lower() not in allowed:
            self.fail((*path, key), f"{key} {value!r} is not one of {', '.join(allowed)}")
            return None
        return value.lower() if value is not None else None

    def scale(self, table: Mapping[str, Any], path: KeyPath) -> float | None:
        value = self.get(table, "scale", (int, float), path, "a number (unit = raw x scale)")
        if value is not None and not value > 0:
            self.fail((*path, "scale"), "scale must be above 0 (unit = raw x scale)")
            return None
        return float(value) if value is not None else None

    def unit(self, table: Mapping[str, Any], path: KeyPath, kind: str | None) -> str | None:
        value = self.get(table, "unit", str, path, "text, e.g. \"uV\"")
        if value is not None and kind in QUANTITY_OF_TYPE and not is_known_unit(value):
            self.fail((*path, "unit"), f"unit {value!r} cannot be mapped for a {kind} channel "
                      f"(known: {', '.join(KNOWN_UNITS)})")
        return value

    def ref(self, value: Any, path: KeyPath, what: str) -> ChannelRef | None:
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        self.fail(path, f"{what} must be a channel label or a channel number from 1")
        return None


def _channel(r: _Reader, table: Any, path: KeyPath, default_type: str | None
             ) -> ChannelSpec | None:
    if not isinstance(table, Mapping):
        r.fail(path, "each [[channels]] entry must be a table with label or index")
        return None
    r.keys(table, _CHANNEL_KEYS, path)
    if ("label" in table) == ("index" in table):
        r.fail(path, "give a channel's label or its index (1-based), not both or neither")
        return None
    key = "label" if "label" in table else "index"
    ref = r.ref(table[key], (*path, key), key)
    kind = r.choice(table, "type", CHANNEL_TYPES, path)
    unit = r.unit(table, path, kind or default_type)
    scale = r.scale(table, path)
    return ChannelSpec(ref, kind, unit, scale) if ref is not None else None


def _trigger(r: _Reader, table: Any, path: KeyPath) -> TriggerSpec | None:
    if not isinstance(table, Mapping):
        r.fail(path, "trigger must be a table")
        return None
    r.keys(table, _TRIGGER_KEYS, path)
    given = [k for k in ("channel", "lines", "markers") if k in table]
    if len(given) != 1:
        r.fail(path, "a trigger gives exactly one of channel (a code channel), lines (one-bit "
               "channels, bit 0 first) or markers (a marker stream's device key)")
        return None
    idle = r.get(table, "idle", (int, float), path, "a number (the level at rest)")
    mask = r.get(table, "mask", int, path, "an integer bit mask, e.g. 0x00FF")
    if mask is not None and mask <= 0:
        r.fail((*path, "mask"), "mask must have at least one bit set, e.g. 0x00FF")
    if given == ["channel"]:
        ref = r.ref(table["channel"], (*path, "channel"), "channel")
        return TriggerSpec("channel", (ref,) if ref is not None else (), idle,
                           mask if mask and mask > 0 else 0xFF)
    if given == ["lines"]:
        lines = table["lines"]
        if not isinstance(lines, list) or not 1 <= len(lines) <= 8:
            r.fail((*path, "lines"), "lines must list 1 to 8 channels, bit 0 (line 1) first")
            return None
        refs = tuple(x for x in (r.ref(v, (*path, "lines"), "each line") for v in lines)
                     if x is not None)
        return TriggerSpec("lines", refs)
    device = r.get(table, "markers", str, path, "the device key of a marker stream")
    codes = r.choice(table, "codes", CODE_KINDS, path) or "numeric"
    code_map = r.get(table, "code_map", dict, path, "a table of marker text = code") or {}
    bad = [k for k, v in code_map.items() if not isinstance(v, int) or not 0 < v < 256]
    if bad:
        r.fail((*path, "code_map"), f"code_map values must be codes 1..255 (not {bad[0]!r})")
    if codes == "string" and not code_map:
        r.fail(path, "string marker codes need a code_map (marker text = code)")
    return TriggerSpec("markers", markers=device or "", codes=codes,
                       code_map={str(k): int(v) for k, v in code_map.items() if k not in bad})


def _device(r: _Reader, key: str, table: Any) -> DeviceSpec | None:
    path: KeyPath = ("devices", key)
    if not isinstance(table, Mapping):
        r.fail(path, f"[devices.{key}] must be a table")
        return None
    r.keys(table, _DEVICE_KEYS, path)
    text = r.get(table, "query", str, path, "an LSL query, e.g. \"name=CURRYStream\"")
    query = None
    if text is None:
        r.fail(path, f"[devices.{key}] needs query = \"name=...\" (or type=, source_id=, "
               "hostname=)")
    else:
        try:
            query = StreamQuery.parse(text)
        except ValueError as exc:
            r.fail((*path, "query"), str(exc))
    role = r.choice(table, "role", ROLES, path)
    if role is None and "role" not in table:
        r.fail(path, f"[devices.{key}] needs role = one of {', '.join(ROLES)}")
    rate = r.get(table, "rate", (int, float), path, "a rate in Hz")
    if rate is not None and rate <= 0:
        r.fail((*path, "rate"), "rate must be above 0 Hz (leave it out for marker streams)")
    sync = r.get(table, "sync", bool, path, "true or false")
    kind = r.choice(table, "channel_type", CHANNEL_TYPES, path)
    unit = r.unit(table, path, kind)
    scale = r.scale(table, path)
    raw = table.get("channels", [])
    channels = [_channel(r, c, (*path, "channels", i), kind) for i, c in enumerate(raw)] if (
        isinstance(raw, list)) else []
    trigger = _trigger(r, table["trigger"], (*path, "trigger")) if "trigger" in table else None
    if query is None or role is None:
        return None
    return DeviceSpec(key, query, role, float(rate) if rate else None,
                      sync if sync is not None else role in ("eeg", "physio"), kind, unit,
                      scale, tuple(c for c in channels if c is not None), trigger,
                      str(table.get("note", "")))


def check_profile(path: str | Path) -> tuple[RigProfile | None, list[Problem]]:
    """Read a rig profile; (profile or None, every problem with its file:line)."""
    source, problem = read_toml(path)
    if source is None:
        return None, [problem] if problem else []
    r = _Reader(source)
    r.keys(source.data, {"rig", "devices"}, ())
    rig = source.data.get("rig", {})
    name = rig.get("name", "") if isinstance(rig, Mapping) else ""
    devices_table = source.data.get("devices")
    if not isinstance(devices_table, Mapping) or not devices_table:
        r.fail(("devices",), "a rig profile needs at least one [devices.KEY] table")
        devices_table = {}
    devices = {key: d for key, table in devices_table.items()
               if (d := _device(r, key, table)) is not None}
    for key, device in devices.items():
        trigger = device.trigger
        if trigger is not None and trigger.kind == "markers":
            target = devices.get(trigger.markers)
            if target is None or target.role != "markers":
                r.fail(("devices", key, "trigger", "markers"),
                       f"markers = {trigger.markers!r} names no device of role markers in "
                       "this profile")
    profile = RigProfile(source.path, str(name), devices)
    return (None if r.problems else profile), r.problems


def load_profile(path: str | Path) -> RigProfile:
    """A rig profile, or RigProfileError listing every problem (file:line)."""
    profile, problems = check_profile(path)
    if profile is None:
        raise RigProfileError(problems)
    return profile
