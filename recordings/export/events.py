"""A session's events, trials and coded expressions as one list of timed, described rows with
durations: what MNE Annotations, BIDS events.tsv and NWB interval tables are made from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from recordings.store.annotations import load_annotations
from recordings.store.metadata import Event, TrialRecord
from recordings.store.reader import Session

# An event that opens a phase -> the kinds that close it (the phase's duration).
PHASE_ENDS = {
    "stimulus_onset": ("stimulus_offset",),
    "neutral_onset": ("neutral_offset",),
    "self_report": ("answer", "report_timeout"),
    "pause": ("resume",),
}
TRIAL = "trial"


@dataclass(frozen=True)
class ExportEvent:
    """One row: onset on the session clock, duration (s), description, flat details."""

    onset: float
    duration: float
    description: str
    extras: dict[str, str | int | float] = field(default_factory=dict)


def session_events(session: Session) -> list[ExportEvent]:
    """Every event (phases with their durations), every trial, every coded expression,
    sorted by onset."""
    rows = [*_events(session.events), *(_trial(t) for t in session.trials),
            *_expressions(session)]
    return sorted(rows, key=lambda r: r.onset)


def _events(events: list[Event]) -> list[ExportEvent]:
    rows = []
    for i, event in enumerate(events):
        duration = 0.0
        ends = PHASE_ENDS.get(event.kind, ())
        end = next((e for e in events[i + 1:] if e.kind in ends and e.trial == event.trial),
                   None)
        if end is not None:
            duration = end.time - event.time
        extras: dict[str, Any] = {"trial": event.trial, "code": event.code}
        extras.update({key: flat(value) for key, value in sorted(event.payload.items())})
        rows.append(ExportEvent(event.time, duration, event.kind, extras))
    return rows


def _trial(trial: TrialRecord) -> ExportEvent:
    return ExportEvent(trial.start_time, trial.end_time - trial.start_time, TRIAL, {
        "trial": trial.trial, "block": trial.block, "clip": trial.stimulus,
        "emotion": trial.emotion, "status": trial.status,
        "report_emotion": trial.report_emotion, "report_valence": trial.report_valence,
        "report_arousal": trial.report_arousal, "reminders": trial.reminders})


def _expressions(session: Session) -> list[ExportEvent]:
    """Coded expressions (every annotation source) that have an onset and an offset in
    seconds; apex, AUs, emotion and coder as details."""
    rows = []
    for source, coded in load_annotations(session.folder).items():
        for a in coded:
            if a.onset_s is None or a.offset_s is None:
                continue
            rows.append(ExportEvent(a.onset_s, a.offset_s - a.onset_s, f"{a.kind}_expression", {
                "trial": flat(a.trial), "apex_time": flat(a.apex_s), "aus": "+".join(a.aus),
                "emotion": a.emotion, "coder": a.coder or source}))
    return rows


def flat(value: Any) -> str | int | float:
    """A payload value as one table cell: numbers stay, anything else becomes one-line text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if value is None:
        return "n/a"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return " ".join(text.split())  # no tab or newline may break a TSV row
