"""Each recorded stream's roles: from a rig profile's device, else from the defaults.

`resolve_stream` turns a stream header (and the profile's device, if any) into StreamRoles:
the stream's role and rate, each channel's type, unit and scale to the standard unit, the
trigger source, the guesses made and the problems the preflight refuses. The recorder stores
them in the session (metadata devices.<role>.rig, docs/session-format.md); sync and the
analysis read them back with `stored_roles`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from core.devices import StreamInfo
from core.trigger_channel import BOX_MASK, TriggerChannel, find_trigger_channel
from recordings.rigs.defaults import channel_type_of, stream_role_of
from recordings.rigs.profile import ChannelRef, ChannelSpec, DeviceSpec, RigProfile, TriggerSpec
from recordings.rigs.units import QUANTITY_OF_TYPE, map_unit


@dataclass
class ChannelRole:
    """One channel: its type, the unit as stated, the standard unit and factor to it."""

    label: str
    type: str
    unit_stated: str
    unit: str  # standard unit (µV, µS, °C) once mapped; "" when it cannot be
    scale: float  # standard = raw x scale (NaN when the unit cannot be mapped)
    guessed: bool


@dataclass
class TriggerSource:
    """Where a stream sees the trigger box (kind none: nowhere)."""

    kind: str  # channel | lines | markers | none
    columns: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    idle: float | None = None
    mask: int = BOX_MASK
    found_by: str = ""  # profile | type | label
    markers: str = ""  # the marker stream's name (kind markers)
    codes: str = "numeric"
    code_map: dict[str, int] = field(default_factory=dict)

    def channel(self) -> TriggerChannel | None:
        """The trigger as core.trigger_channel describes it (channel or lines kinds)."""
        if self.kind not in ("channel", "lines") or not self.columns:
            return None
        return TriggerChannel(tuple(self.columns), tuple(self.labels), self.found_by,
                              self.idle, self.mask)


@dataclass
class StreamRoles:
    """What a stream is, as recorded with the session."""

    stream: str
    role: str
    rate: float  # the rate sync and analysis use (the profile's when the stream says 0)
    sync: bool  # meant to be synchronized by trigger edges
    source: str  # "profile <path>" or "defaults"
    channels: list[ChannelRole]
    trigger: TriggerSource
    guesses: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """As stored in the session's metadata (JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamRoles:
        """Back from the session's metadata."""
        values = dict(data)
        values["channels"] = [ChannelRole(**c) for c in data["channels"]]
        values["trigger"] = TriggerSource(**data["trigger"])
        return cls(**values)

    def columns_of(self, *types: str) -> list[int]:
        """Indices of the channels of the given types."""
        return [i for i, c in enumerate(self.channels) if c.type in types]


def _column(labels: Sequence[str], ref: ChannelRef) -> int | None:
    if isinstance(ref, int):
        return ref - 1 if ref <= len(labels) else None
    wanted = ref.strip().lower()
    return next((i for i, lb in enumerate(labels) if lb.strip().lower() == wanted), None)


def _profile_trigger(spec: TriggerSpec, labels: Sequence[str], names: Mapping[str, str],
                     problems: list[str]) -> TriggerSource:
    if spec.kind == "markers":
        stream = names.get(spec.markers, "")
        if not stream:
            problems.append(f"its trigger is the marker stream of device {spec.markers!r}, "
                            "which is not recorded")
        return TriggerSource("markers", found_by="profile", markers=stream, codes=spec.codes,
                             code_map=dict(spec.code_map))
    columns = [_column(labels, ref) for ref in spec.channels]
    missing = [str(ref) for ref, c in zip(spec.channels, columns, strict=True) if c is None]
    if missing or not columns:
        problems.append(f"trigger channel(s) {', '.join(missing)} not in the stream "
                        f"({', '.join(labels)})")
        return TriggerSource("none")
    found = [c for c in columns if c is not None]
    return TriggerSource(spec.kind, found, [labels[c] for c in found], spec.idle, spec.mask,
                         "profile")


def _default_trigger(info: StreamInfo) -> TriggerSource:
    found = find_trigger_channel(info.channel_labels, info.channel_types)
    if found is None:
        return TriggerSource("none")
    return TriggerSource("channel" if found.is_code else "lines", list(found.columns),
                         list(found.labels), None, BOX_MASK, found.found_by)


def _channel_role(label: str, unit: str, declared: str, role: str, spec: ChannelSpec | None,
                  device: DeviceSpec | None) -> tuple[ChannelRole, str]:
    """A channel's role; the guess said about it ('' when the profile states it)."""
    kind = spec.type if spec and spec.type else (device.channel_type if device else None)
    guess = ""
    if kind is None:
        kind, why = channel_type_of(label, declared, role)
        guess = f"{kind} ({why})"
    stated = next((u for u in (spec.unit if spec else None, device.unit if device else None)
                   if u is not None), unit)
    scale = next((s for s in (spec.scale if spec else None, device.scale if device else None)
                  if s is not None), 1.0)
    mapped = map_unit(stated, kind, scale)
    return ChannelRole(label, kind, stated, mapped.unit if mapped else "",
                       mapped.factor if mapped else float("nan"), bool(guess)), guess


def resolve_stream(info: StreamInfo, device: DeviceSpec | None, source: str,
                   names: Mapping[str, str] | None = None) -> StreamRoles:
    """A stream's roles from its header and the profile's device (None: the defaults).

    names: device key -> recorded stream name (a marker-stream trigger names another device).
    """
    guesses: list[str] = []
    problems: list[str] = []
    if device is not None:
        role = device.role
    else:
        role, why = stream_role_of(info.type, info.channel_format, info.channel_labels,
                                   info.channel_types)
        guesses.append(f"role {role} ({why})")
    labels = info.channel_labels
    specs = {c: s for s in (device.channels if device else ()) if (c := _column(
        labels, s.ref)) is not None}
    for s in device.channels if device else ():
        if _column(labels, s.ref) is None:
            problems.append(f"channel {s.ref!r} of the profile is not in the stream "
                            f"({', '.join(labels)})")
    if device is not None and device.trigger is not None:
        trigger = _profile_trigger(device.trigger, labels, names or {}, problems)
    elif info.channel_format == "string" or role == "markers":
        trigger = TriggerSource("none")
    else:
        trigger = _default_trigger(info)
        if trigger.kind != "none":
            guesses.append(f"trigger: {trigger.kind} {', '.join(trigger.labels)} (by "
                           f"{trigger.found_by}; idle level = its most common value)")
    channels = []
    guessed: dict[str, list[str]] = {}  # "type (why)" -> labels
    units = info.channel_units or ("",) * len(labels)
    declared = info.channel_types or ("",) * len(labels)
    for i, label in enumerate(labels):
        spec = specs.get(i)
        if i in trigger.columns and not (spec and spec.type):
            spec = ChannelSpec(label, "stim", spec.unit if spec else "", None)
        channel, guess = _channel_role(label, units[i], declared[i], role, spec, device)
        channels.append(channel)
        if guess:
            guessed.setdefault(guess, []).append(label)
    guesses += [f"{', '.join(names[:6])}{f' (+{len(names) - 6} more)' if len(names) > 6 else ''}"
                f" -> {guess}" for guess, names in guessed.items()]
    rate = device.rate if device is not None and device.rate else info.nominal_rate
    sync = device.sync if device is not None else role in ("eeg", "physio")
    roles = StreamRoles(info.name, role, float(rate), sync and info.channel_format != "string",
                        source, channels, trigger, guesses, problems)
    roles.problems += preflight_problems(roles, info)
    return roles


def preflight_problems(roles: StreamRoles, info: StreamInfo) -> list[str]:
    """Why a stream cannot be recorded as meant: no trigger source, no rate, unmapped units."""
    problems = []
    if roles.sync and roles.trigger.kind == "none":
        problems.append("it is meant for sync but has no usable trigger source (no channel of "
                        "a trigger type or label, no one-bit lines, no marker stream): give "
                        "one in a rig profile ([devices.KEY.trigger], docs/rig-profiles.md)")
    if roles.sync and roles.rate <= 0:
        problems.append("it advertises no sampling rate (nominal_srate 0), which sync and "
                        "outage detection need: state `rate = HZ` for it in a rig profile")
    bad = [c for c in roles.channels if c.type in QUANTITY_OF_TYPE and not c.unit]
    if bad and info.channel_format != "string":
        listed = ", ".join(f"{c.label} ({c.type}, {c.unit_stated or 'no unit'})" for c in bad[:4])
        more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
        problems.append(f"units that cannot be mapped: {listed}{more}: state unit and scale "
                        "(unit = raw x scale) in a rig profile")
    return problems


def stored_roles(devices: Mapping[str, Mapping[str, Any]]) -> dict[str, StreamRoles]:
    """Stream name -> StreamRoles as stored in the session's metadata devices."""
    found = {}
    for entry in devices.values():
        rig = entry.get("rig") if isinstance(entry, Mapping) else None
        if isinstance(rig, Mapping):
            roles = StreamRoles.from_dict(rig)
            found[roles.stream] = roles
    return found


def resolve_rig(infos: Mapping[str, StreamInfo], profile: RigProfile | None
                ) -> dict[str, StreamRoles]:
    """Every stream's roles by recorder role; a profile's device of the same key describes it."""
    devices = profile.devices if profile is not None else {}
    source = f"profile {profile.path}" if profile is not None else "defaults"
    names = {key: info.name for key, info in infos.items()}
    return {key: resolve_stream(info, devices.get(key), source if key in devices else
                                "defaults", names)
            for key, info in infos.items()}


def describe_roles(roles: StreamRoles) -> list[str]:
    """Lines said at start: what a stream is taken to be, each guess, each problem."""
    counts: dict[str, int] = {}
    for c in roles.channels:
        counts[c.type] = counts.get(c.type, 0) + 1
    kinds = ", ".join(f"{n} {k}" for k, n in counts.items())
    where = ", ".join(roles.trigger.labels) or roles.trigger.markers
    trigger = (f"trigger {roles.trigger.kind} {where}" if roles.trigger.kind != "none"
               else "no trigger source")
    lines = [f"{roles.stream}: {roles.role}, {roles.rate:g} Hz, {kinds}; {trigger} "
             f"({roles.source})"]
    lines += [f"  guess: {g}" for g in roles.guesses]
    lines += [f"  problem: {p}" for p in roles.problems]
    return lines
