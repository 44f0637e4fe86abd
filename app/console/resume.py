"""Resuming a crashed session, Qt-free: what the crashed run finished and where to go on.

The continuation is a new session folder beside the crashed one (never written into it),
linked by the new session's metadata `resumes` (recordings/store/links.py). The protocol's
engine skips the trials the crashed run finished (protocols/resume.py): their clips are not
shown again; the trial that was running at the crash runs again from its start.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from app.console.setup import SessionSetup
from protocols.model import Protocol
from protocols.plan import plan_trials
from protocols.resume import ResumeError, ResumeState, resume_state
from recordings.store.errors import SessionError
from recordings.store.links import already_resumed
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session


@dataclass(frozen=True)
class ResumePlan:
    """A crashed session and how its continuation runs."""

    crashed: Path
    metadata: SessionMetadata  # the crashed session's
    state: ResumeState
    first_trial: int  # session trial number the continuation starts with
    total: int  # trials in the whole plan
    stop_reason: str  # the crashed session's ("" after a crash)

    @property
    def remaining(self) -> int:
        """Trials the continuation runs."""
        return self.total - len(self.state.finished)

    def describe(self) -> str:
        """What resuming does, in one paragraph for the experimenter."""
        how = "crashed" if not self.stop_reason else f"stopped ({self.stop_reason})"
        return (f"{self.crashed.name} ({how}): participant {self.metadata.participant}, "
                f"session {self.metadata.session}, {len(self.state.finished)} of {self.total} "
                f"trials finished. Continue at session trial {self.first_trial} of {self.total} "
                f"({self.remaining} trials) in a new session folder linked to this one; the "
                "clips of the finished trials are not shown again.")

    def setup(self, base: SessionSetup) -> SessionSetup:
        """The set-up form for the continuation: the crashed session's participant, session
        number, consent and output folder; protocol and displays as chosen."""
        return replace(base, participant=self.metadata.participant,
                       session=self.metadata.session,
                       consent_level=self.metadata.consent_level,
                       output=str(self.crashed.parent),
                       notes=f"resumes {self.crashed.name}" + (
                           f"; {base.notes}" if base.notes else ""))


def plan_resume(folder: Path, protocol: Protocol) -> ResumePlan:
    """Read a crashed session; ResumeError says why it cannot be continued with protocol."""
    try:
        with open_session(folder) as session:
            metadata = session.metadata
            events = session.events
            stop_reason = session.stop_reason
    except (SessionError, OSError) as exc:
        raise ResumeError(f"{folder}: cannot be read ({exc})") from None
    resumed = already_resumed(folder)
    if resumed:
        raise ResumeError(resumed)
    if (metadata.protocol_name == protocol.name and metadata.protocol_sha256
            and metadata.protocol_sha256 != protocol.sha256):
        raise ResumeError(f"{folder.name} ran another version of protocol "
                          f"{metadata.protocol_name!r} (its file changed since): choose the "
                          "protocol file the session ran")
    state = resume_state(events, protocol)
    trials = plan_trials(protocol, list(state.order))
    todo = [t.number for t in trials if t.number not in state.finished]
    return ResumePlan(Path(folder), metadata, state, todo[0], len(trials), stop_reason)
