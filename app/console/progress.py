"""Protocol progress, Qt-free: trial n of N, phase, countdown, last self-report, log lines."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from protocols.engine import Phase, ProtocolEngine
from recordings.store.metadata import Event

PHASE_TEXT = {
    Phase.IDLE: "not started",
    Phase.INSTRUCTIONS: "instructions - waiting for SPACE",
    Phase.BLOCK_INTRO: "block text - waiting for SPACE",
    Phase.READY: "ready - waiting for SPACE",
    Phase.STIMULUS: "emotional clip",
    Phase.SELF_REPORT: "self-report",
    Phase.NEUTRAL: "neutral clip",
    Phase.PAUSED: "paused",
    Phase.FINISHED: "finished",
    Phase.ABORTED: "aborted",
}
RUNNING = (Phase.INSTRUCTIONS, Phase.BLOCK_INTRO, Phase.READY, Phase.STIMULUS,
           Phase.SELF_REPORT, Phase.NEUTRAL, Phase.PAUSED)
# Payload fields worth a glance in the log; the rest stays in the session file.
LOG_FIELDS = ("clip", "emotion", "valence", "arousal", "rt", "key", "status", "reason", "phase",
              "forced", "message")


def countdown_text(seconds: float | None) -> str:
    """'m:ss' left, rounded up (a deadline 24.2 s away shows 0:25); '' for none."""
    if seconds is None:
        return ""
    whole = max(0, math.ceil(seconds - 1e-9))
    return f"{whole // 60}:{whole % 60:02d}"


def format_event(event: Event, t0: float) -> str:
    """One log line: time since the session started, trial, kind, code, the telling fields."""
    where = f"trial {event.trial:>2}" if event.trial >= 0 else " " * 8
    code = f" [{event.code}]" if event.code else ""
    fields = " ".join(f"{k}={_short(event.payload[k])}" for k in LOG_FIELDS
                      if k in event.payload)
    return f"{event.time - t0:8.3f} s  {where}  {event.kind}{code}  {fields}".rstrip()


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


@dataclass(frozen=True)
class ProtocolView:
    """What the protocol panel shows."""

    trial: str  # "Trial 2 of 42", "Practice 1 of 2", "-"
    overall: str  # "session trial 3 of 44"
    phase: str
    countdown: str  # "0:12" or ""
    countdown_label: str  # what the countdown counts down
    last_report: str
    reminders: int  # in the current trial
    reminders_total: int
    running: bool
    can_pause: bool
    can_resume: bool
    left: str = ""  # "about 31 min left (25 trials)"
    plan: tuple[tuple[str, str], ...] = ()  # every trial: (line, done | current | resumed | todo)


@dataclass
class ProtocolTracker:
    """Follows the logged events: reminders per trial, the last self-report, pause requests."""

    t0: float | None = None
    reminders: dict[int, int] = field(default_factory=dict)
    last_report: str = "-"
    pause_pending: bool = False
    log: list[str] = field(default_factory=list)
    finished_before: frozenset[int] = frozenset()  # trials a resumed run skips

    def on_event(self, event: Event) -> str:
        """Take note of a logged event; returns its log line."""
        if self.t0 is None:
            self.t0 = event.time
        kind, payload = event.kind, event.payload
        if kind == "reminder" and event.trial >= 0:
            self.reminders[event.trial] = self.reminders.get(event.trial, 0) + 1
        elif kind == "answer":
            self.last_report = (f"trial {event.trial}: {payload.get('emotion')}, valence "
                                f"{payload.get('valence')}, arousal {payload.get('arousal')} "
                                f"({float(payload.get('rt', 0)):.1f} s)")
        elif kind == "report_timeout":
            self.last_report = f"trial {event.trial}: no answer (time ran out)"
        elif kind == "protocol_start":
            self.finished_before = frozenset(int(t) for t in payload.get("finished", []))
        elif kind == "pause_requested":
            self.pause_pending = True
        elif kind in ("pause", "pause_cancelled", "abort"):
            self.pause_pending = False
        line = format_event(event, self.t0)
        self.log.append(line)
        return line

    def view(self, engine: ProtocolEngine | None, now: float) -> ProtocolView:
        """The panel's contents for the engine's state at time now."""
        if engine is None:
            return ProtocolView("-", "", PHASE_TEXT[Phase.IDLE], "", "", self.last_report, 0,
                                0, False, False, False)
        phase = engine.phase
        state = engine.trial
        trial = overall = "-"
        count = 0
        if state is not None:
            plan = state.plan
            in_block = sum(t.block == plan.block for t in engine.trials)
            name = "Practice" if plan.block == "practice" else "Trial"
            trial = f"{name} {plan.index} of {in_block}"
            overall = f"session trial {plan.number} of {len(engine.trials)}"
            count = self.reminders.get(plan.number, 0)
        elif engine.done or phase is Phase.PAUSED:
            overall = f"{len(engine.finished)} of {len(engine.trials)} trials done"
        left, label = _countdown(engine, now)
        text = PHASE_TEXT[phase]
        if self.pause_pending and phase in (Phase.STIMULUS, Phase.SELF_REPORT, Phase.NEUTRAL):
            text += " (pause after this trial)"
        running = phase in RUNNING
        return ProtocolView(
            trial, overall, text, countdown_text(left), label, self.last_report, count,
            sum(self.reminders.values()), running,
            can_pause=running and phase is not Phase.PAUSED and not self.pause_pending,
            can_resume=phase is Phase.PAUSED or self.pause_pending,
            left=time_left_text(engine, now), plan=plan_lines(engine, self.finished_before))


def plan_lines(engine: ProtocolEngine, before: frozenset[int] = frozenset()
               ) -> tuple[tuple[str, str], ...]:
    """Every trial of the plan with its state: done in this session, done before a resume
    (`before`: in the crashed session), the current one, or still to run."""
    current = engine.trial.plan.number if engine.trial is not None else None
    remaining = {t.number for t in engine.remaining}
    lines = []
    for t in engine.trials:
        if t.number == current and not engine.done:
            state = "current"
        elif t.number in remaining:
            state = "todo"
        elif t.number in before:
            state = "resumed"
        else:
            state = "done"
        block = "practice" if t.block == "practice" else "main"
        lines.append((f"{t.number:>2}. {block} {t.index}: {t.clip.id} ({t.clip.emotion})",
                      state))
    return tuple(lines)


def time_left_text(engine: ProtocolEngine, now: float) -> str:
    """The planned time still to run: the current trial's rest and every trial after it,
    each at clip + self-report limit + neutral clip (an upper bound: answers come sooner)."""
    timings = engine.protocol.timings
    current = engine.trial.plan.number if engine.trial is not None else None
    seconds = 0.0
    todo = [t for t in engine.remaining if t.number != current]
    for t in todo:
        seconds += (t.clip.duration + timings.self_report_s
                    + min(t.neutral.duration, timings.neutral_s))
    if current is not None and engine.trial is not None and not engine.done:
        left, _ = _countdown(engine, now)
        seconds += max(0.0, left or 0.0)
        if engine.phase is Phase.STIMULUS:
            seconds += timings.self_report_s
        if engine.phase in (Phase.STIMULUS, Phase.SELF_REPORT):
            seconds += min(engine.trial.plan.neutral.duration, timings.neutral_s)
    trials = len(todo) + (1 if current is not None and not engine.done else 0)
    if engine.done:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    return f"about {minutes} min {rest:02d} s left ({trials} trials)"


def _countdown(engine: ProtocolEngine, now: float) -> tuple[float | None, str]:
    """Seconds left in the timed phase and what ends then."""
    state = engine.trial
    if state is None:
        return None, ""
    timings = engine.protocol.timings
    if engine.phase is Phase.SELF_REPORT:
        return state.deadline - now, "self-report closes in"
    if state.onset is None:
        return None, ""
    if engine.phase is Phase.STIMULUS:
        return state.onset + state.plan.clip.duration - now, "clip ends in"
    if engine.phase is Phase.NEUTRAL:
        end = min(state.plan.neutral.duration, timings.neutral_s)
        return state.onset + end - now, "neutral clip ends in"
    return None, ""
