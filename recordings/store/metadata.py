"""Session metadata and the records (events, trials) a session holds."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from typing import Any

from recordings.store.layout import decoded

# Participant IDs become folder names: letters, digits, '-', '_' and '.', not starting with '.'.
_PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CONSENT_LEVELS = {
    1: "images may be published",
    2: "data may be shared, images may not be published",
}


def software_version() -> str:
    """Installed melab version (or 'unknown' when run from a source tree)."""
    try:
        return importlib_metadata.version("melab")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def validate_participant_id(participant: str) -> str:
    """Return participant unchanged, or raise ValueError saying which characters are allowed."""
    if not _PARTICIPANT_ID.match(participant):
        raise ValueError(
            f"participant ID {participant!r} is not usable as a folder name: use 1-64 letters, "
            "digits, '-', '_' or '.', starting with a letter or digit"
        )
    return participant


@dataclass
class SessionMetadata:
    """Who, what and with which devices a session was recorded."""

    participant: str
    session: int = 1
    consent_level: int = 2
    protocol_name: str = ""
    protocol_sha256: str = ""
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: str = ""
    simulated: bool = False
    software_version: str = field(default_factory=software_version)
    # The folder name of the session this one continues after a crash (docs/session-format.md:
    # "Resumed sessions"); "" for a session that starts the protocol from its beginning.
    resumes: str = ""

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field."""
        validate_participant_id(self.participant)
        if self.consent_level not in CONSENT_LEVELS:
            raise ValueError(
                f"consent level {self.consent_level!r} is not one of {sorted(CONSENT_LEVELS)} "
                f"({'; '.join(f'{k}: {v}' for k, v in CONSENT_LEVELS.items())})"
            )
        if int(self.session) < 1:
            raise ValueError(f"session number must be >= 1, got {self.session}")

    def to_attrs(self) -> dict[str, Any]:
        """HDF5 attributes for the session file's root (devices as JSON)."""
        attrs = asdict(self)
        attrs["devices"] = json.dumps(self.devices, sort_keys=True)
        return attrs

    @classmethod
    def from_attrs(cls, attrs: Any) -> SessionMetadata:
        """Rebuild from the session file's root attributes."""

        def text(key: str, default: str = "") -> str:
            return str(decoded(attrs.get(key, default)))

        return cls(
            participant=text("participant"),
            session=int(attrs.get("session", 1)),
            consent_level=int(attrs.get("consent_level", 2)),
            protocol_name=text("protocol_name"),
            protocol_sha256=text("protocol_sha256"),
            devices=json.loads(text("devices", "{}")),
            notes=text("notes"),
            simulated=bool(attrs.get("simulated", False)),
            software_version=text("software_version"),
            resumes=text("resumes"),
        )


@dataclass(frozen=True)
class Event:
    """Something that happened at a time on the session clock."""

    time: float
    kind: str
    trial: int = -1
    code: int = 0
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialRecord:
    """One row of the trials table."""

    trial: int
    block: str  # "practice" or "main"
    stimulus: str
    emotion: str
    start_time: float
    end_time: float
    status: str = "complete"  # complete | aborted | timeout
    report_emotion: str = ""
    report_valence: int = 0  # 1-9, 0 when not answered
    report_arousal: int = 0  # 1-9, 0 when not answered
    reminders: int = 0
