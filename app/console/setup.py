"""Session set-up for the console, Qt-free: the form's values, their checks, the preflight."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from protocols.loader import read_protocol
from protocols.model import Protocol
from recordings.preflight import human_bytes
from recordings.recorder import Recorder
from recordings.store.errors import DiskSpaceError
from recordings.store.metadata import CONSENT_LEVELS, SessionMetadata, validate_participant_id

# Seconds a trial spends outside its clips (reading the "press SPACE" screen, the form's
# first seconds): only for the disk estimate, so a generous figure errs on the safe side.
TRIAL_OVERHEAD_S = 10.0
OK, WARNING, ERROR = "ok", "warning", "error"


@dataclass
class SessionSetup:
    """What the experimenter fills in before a session."""

    participant: str = ""
    session: int = 1
    consent_level: int = 2
    notes: str = ""
    protocol: str = "cmrr"  # a packaged protocol's name or a protocol file
    stimuli: str = ""  # optional stimulus folder (overrides the protocol's)
    output: str = "sessions"
    participant_screen: int = 0
    reminder_screen: int = 0
    full_screen: bool = True


@dataclass(frozen=True)
class CheckItem:
    """One line of the preflight: what was checked, how it went, the detail."""

    group: str  # setup | devices | protocol | disk
    name: str
    level: str  # ok | warning | error
    detail: str


@dataclass
class Preflight:
    """Everything checked before Start; Start is allowed when nothing is an error."""

    items: list[CheckItem] = field(default_factory=list)
    protocol: Protocol | None = None
    connections: dict[str, tuple[bool, str]] = field(default_factory=dict)  # role: (ok, detail)

    @property
    def errors(self) -> list[CheckItem]:
        """The items that block the start."""
        return [i for i in self.items if i.level == ERROR]

    @property
    def can_start(self) -> bool:
        """True when a protocol loaded and no check failed."""
        return self.protocol is not None and not self.errors


def setup_problems(setup: SessionSetup) -> list[str]:
    """Why the form cannot be used as it is (empty when it can)."""
    problems = []
    try:
        validate_participant_id(setup.participant)
    except ValueError as exc:
        problems.append(str(exc))
    if int(setup.session) < 1:
        problems.append(f"session number must be 1 or more, got {setup.session}")
    if setup.consent_level not in CONSENT_LEVELS:
        problems.append(f"choose a consent level ({', '.join(map(str, CONSENT_LEVELS))})")
    if not setup.protocol.strip():
        problems.append("choose a protocol (a file, or the name cmrr / demo)")
    problem = output_problem(setup.output)
    if problem:
        problems.append(problem)
    return problems


def output_problem(output: str) -> str:
    """Why sessions cannot be written under this folder ('' when they can)."""
    if not output.strip():
        return "choose an output folder"
    path = Path(output).expanduser()
    if path.exists() and not path.is_dir():
        return f"output folder {path} is a file, not a folder"
    probe = path
    while not probe.exists():  # it is created at Start; its first existing parent decides
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"output folder {path} is not writable"
    return ""


def protocol_seconds(protocol: Protocol) -> tuple[float, float]:
    """Planned session length and seconds of camera video, from clip lengths and timings."""
    timings = protocol.timings
    session = video = 0.0
    for clip_id in (*protocol.practice, *protocol.main):
        clip = protocol.clips[clip_id]
        trial = clip.duration + timings.self_report_s + timings.neutral_s + TRIAL_OVERHEAD_S
        session += trial
        if protocol.segment == "stimulus":
            video += clip.duration + timings.clip_grace_s
        elif protocol.segment == "trial":
            video += trial
    return session + 60.0, video  # + a minute for the instructions and block texts


def check_protocol(setup: SessionSetup) -> tuple[Protocol | None, list[CheckItem]]:
    """Load and validate the chosen protocol; every problem becomes a preflight line."""
    stimuli = setup.stimuli.strip() or None
    try:
        protocol, problems = read_protocol(setup.protocol.strip(), stimuli)
    except (OSError, ValueError) as exc:
        return None, [CheckItem("protocol", setup.protocol, ERROR, str(exc))]
    items = [CheckItem("protocol", Path(p.file).name, p.severity, str(p)) for p in problems]
    if protocol is None or any(i.level == ERROR for i in items):
        return None, items
    minutes = protocol_seconds(protocol)[0] / 60
    items.append(CheckItem(
        "protocol", protocol.name, OK,
        f"{len(protocol.practice)} practice + {len(protocol.main)} main trials, about "
        f"{minutes:.0f} min; clips in {protocol.stimulus_folder}"))
    return protocol, items


def check_disk(recorder: Recorder, planned_s: float, video_s: float) -> CheckItem:
    """Ask the recorder's own plan whether the session fits on the output disk."""
    try:
        check = recorder.preflight(planned_s, video_s)
    except DiskSpaceError as exc:
        return CheckItem("disk", "disk space", ERROR, str(exc))
    return CheckItem("disk", "disk space", OK if check.fits else ERROR,
                     f"{check.describe()} (session of about {planned_s / 60:.0f} min)")


def session_metadata(setup: SessionSetup, protocol: Protocol, simulated: bool) -> SessionMetadata:
    """The session file's metadata from the form and the protocol."""
    metadata = SessionMetadata(
        setup.participant, session=int(setup.session), consent_level=int(setup.consent_level),
        protocol_name=protocol.name, protocol_sha256=protocol.sha256, notes=setup.notes,
        simulated=simulated)
    metadata.validate()
    return metadata


def free_space_text(free: int, seconds_left: float) -> str:
    """'812.4 GiB free, 41 min of recording left' for the device panel."""
    if seconds_left == float("inf"):
        return f"{human_bytes(free)} free"
    hours, rest = divmod(int(seconds_left), 3600)
    left = f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"
    return f"{human_bytes(free)} free, {left} of recording left"
