"""Where to pick up after a crash: the seed, the order and the trials already finished."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from protocols.model import Protocol
from recordings.store.metadata import Event

UNFINISHED_STATUSES = ("aborted",)  # a trial that ended like this runs again on resume


class ResumeError(ValueError):
    """A session cannot be resumed (no protocol start, other protocol, or nothing left)."""


@dataclass(frozen=True)
class ResumeState:
    """What a resumed run needs from the crashed session."""

    seed: int
    order: tuple[str, ...]  # main-block clip ids, as the crashed run had them
    finished: frozenset[int]  # trial numbers that need not run again


def resume_state(events: Iterable[Event], protocol: Protocol) -> ResumeState:
    """Read a crashed session's events: its seed and order, and which trials are finished."""
    events = sorted(events, key=lambda e: e.time)
    starts = [e for e in events if e.kind == "protocol_start"]
    if not starts:
        raise ResumeError("the session has no protocol_start event: nothing to resume")
    start = starts[-1]
    payload = start.payload
    if payload.get("protocol") != protocol.name:
        raise ResumeError(f"the session ran protocol {payload.get('protocol')!r}, "
                          f"not {protocol.name!r}")
    finished = {int(t) for t in payload.get("finished", [])}
    for event in events:
        if event.time < start.time or event.kind != "trial_end":
            continue
        if event.payload.get("status") not in UNFINISHED_STATUSES:
            finished.add(event.trial)
    total = len(protocol.practice) + len(payload.get("order", []))
    if finished >= set(range(1, total + 1)):
        raise ResumeError("every trial of the session is finished: nothing to resume")
    return ResumeState(seed=int(payload["seed"]), order=tuple(payload.get("order", [])),
                       finished=frozenset(finished))


def resume_state_from_session(folder: str | Path, protocol: Protocol) -> ResumeState:
    """resume_state() over the events of a recorded (possibly crashed) session folder."""
    from recordings.store.reader import open_session

    with open_session(folder) as session:
        return resume_state(session.events, protocol)
