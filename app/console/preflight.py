"""The checks run before Start, Qt-free: the form, the protocol, the devices, the disk."""

from __future__ import annotations

from pathlib import Path

from app.console.setup import (
    ERROR,
    OK,
    WARNING,
    CheckItem,
    Preflight,
    SessionSetup,
    check_disk,
    check_protocol,
    protocol_seconds,
    setup_problems,
)
from app.rig import Rig, RigFactory, connect_all
from recordings.recorder import Recorder
from recordings.rigs.roles import describe_roles, resolve_rig
from recordings.store.metadata import SessionMetadata

DEFAULT_PLANNED_S = 600.0  # lab length when no protocol loaded (the check reports why)


def stream_role_items(rig: Rig, connected: set[str]) -> list[CheckItem]:
    """Per connected stream what it is taken to be (profile or guesses), and each problem
    `melab record` refuses: no trigger source, no rate, units that cannot be mapped."""
    infos = {role: s.info for role, s in rig.streams.items() if role in connected}
    items = []
    for roles in resolve_rig(infos, rig.profile).values():
        summary = describe_roles(roles)[0]
        items.append(CheckItem("devices", roles.stream, OK, summary))
        items += [CheckItem("devices", roles.stream, OK, f"guess: {g}") for g in roles.guesses]
        items += [CheckItem("devices", roles.stream, ERROR, p) for p in roles.problems]
    return items


def run_preflight(setup: SessionSetup, rig: Rig | None, make_rig: RigFactory,
                  connect_timeout: float = 5.0) -> tuple[Preflight, Rig | None]:
    """Check everything; returns the preflight and the (possibly new) connected rig."""
    items = [CheckItem("setup", "session form", ERROR, p) for p in setup_problems(setup)]
    protocol, protocol_items = check_protocol(setup)
    items += protocol_items
    planned_s, video_s = protocol_seconds(protocol) if protocol else (DEFAULT_PLANNED_S, 0.0)
    if rig is None:
        try:
            rig = make_rig(planned_s)
        except (ValueError, RuntimeError, OSError) as exc:
            items.append(CheckItem("devices", "rig", ERROR, f"cannot set up the devices: {exc}"))
            return Preflight(items, protocol), None
    connected = connect_all(rig, connect_timeout)
    items += [CheckItem("devices", c.name, OK if c.ok else ERROR,
                        f"{c.role}: {c.detail}") for c in connected]
    items += [CheckItem("devices", "simulated lab", WARNING, note) for note in rig.notes]
    items += stream_role_items(rig, {c.role for c in connected if c.ok})
    if Path(setup.output).expanduser().exists() or not setup_problems(setup):
        ok = {c.role for c in connected if c.ok}
        # The recorder's own plan, from the devices that answered (the others are errors).
        planner = Recorder(Path(setup.output).expanduser(), SessionMetadata("preflight"),
                           streams={r: s for r, s in rig.streams.items() if r in ok},
                           camera=rig.camera if "camera" in ok else None)
        items.append(check_disk(planner, planned_s, video_s))
    return Preflight(items, protocol, {c.role: (c.ok, c.detail) for c in connected}), rig
