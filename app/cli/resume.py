"""`--resume SESSION` of `melab record` and `melab gui`: whether the session can be continued
and what the continuation takes from it, checked before anything starts (one line, exit 2,
nothing created when it cannot).

The continuation is a new session folder beside the crashed one, linked by its metadata
`resumes` (recordings/store/links.py); the crashed session is never written to again.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from recordings.store.layout import STOP_END
from recordings.store.links import already_resumed
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session


@dataclass(frozen=True)
class Continuation:
    """What `melab record --resume` records: its metadata, where, and its first segment."""

    metadata: SessionMetadata
    out: Path
    first_segment: int


def record_continuation(args: argparse.Namespace) -> Continuation:
    """The continuation of args.resume for `melab record`; ValueError says why there is
    none (it ran a protocol, it ended at its planned end, it was resumed already, or an
    option given names another participant, session, consent or output folder)."""
    crashed: Path = args.resume
    with open_session(crashed) as session:
        old = session.metadata
        ended = session.complete and session.stop_reason == STOP_END
        protocol = old.protocol_name or next(
            (str(e.payload.get("protocol", "")) for e in session.events
             if e.kind == "protocol_start"), "")
        trials = [int(session.segment(n).attrs.get("trial", 0)) for n in session.segment_names()]
    if protocol:
        raise ValueError(f"{crashed.name} ran protocol {protocol!r}: continue it with "
                         f"`melab gui --resume {crashed} --protocol FILE`, FILE that protocol's "
                         "file (melab record runs no protocol)")
    if ended:
        raise ValueError(f"{crashed.name} recorded to its planned end (complete, nothing "
                         "to resume); record a new session instead")
    resumed = already_resumed(crashed)
    if resumed:
        raise ValueError(resumed)
    check_same_session(args, old, crashed)
    metadata = SessionMetadata(old.participant, session=old.session,
                               consent_level=old.consent_level, notes=f"resumes {crashed.name}",
                               resumes=crashed.name)
    return Continuation(metadata, crashed.parent, max(trials, default=0) + 1)


def check_same_session(args: argparse.Namespace, old: SessionMetadata, crashed: Path) -> None:
    """Raise ValueError when an option given beside --resume disagrees with the crashed
    session: a continuation keeps its participant, session number, consent and folder."""
    given = {"participant": (getattr(args, "participant", None) or None, old.participant),
             "session": (getattr(args, "session", None), old.session),
             "consent": (getattr(args, "consent", None), old.consent_level)}
    for option, (value, kept) in given.items():
        if value is not None and value != kept:
            raise ValueError(
                f"--{option} {value} disagrees with --resume {crashed.name} ({option} {kept}): "
                f"a continuation keeps the crashed session's; leave out --{option}")
    out = getattr(args, "out", None)
    if out is not None and Path(out).resolve() != crashed.parent.resolve():
        raise ValueError(f"--out {out}: a continuation goes beside the crashed session, in "
                         f"{crashed.parent}; leave out --out")


def check_gui_resume(args: argparse.Namespace) -> None:
    """`melab gui --resume`: the session can be continued with the chosen protocol, and the
    options given agree with it (ResumeError or ValueError, one line each)."""
    from app.console.resume import plan_resume
    from protocols.loader import load_protocol

    protocol = load_protocol(args.protocol, args.stimuli, check_clips=False)
    plan = plan_resume(args.resume, protocol)
    check_same_session(args, plan.metadata, plan.crashed)
