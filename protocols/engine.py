"""The CMRR protocol as a state machine on an injectable clock; no Qt, no devices.

Inputs are method calls (keys, clip start/end, answers, reminders, pause/resume/abort, tick);
outputs go to an EventSink (events with trigger codes, camera segments, trial rows) and a
Presenter (what the participant sees). docs/protocol.md lists every state and event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.clock import local_clock
from core.expressions import EMOTIONS
from protocols.interfaces import EventSink, Presenter
from protocols.model import Protocol
from protocols.plan import PlannedTrial, main_order, plan_trials
from protocols.resume import ResumeError, ResumeState
from recordings.store.metadata import TrialRecord


class Phase(StrEnum):
    """Where the protocol is."""

    IDLE = "idle"
    INSTRUCTIONS = "instructions"  # welcome (or resume) text; SPACE goes on
    BLOCK_INTRO = "block_intro"  # practice / main block text; SPACE goes on
    READY = "ready"  # "press SPACE to start the clip"
    STIMULUS = "stimulus"
    SELF_REPORT = "self_report"
    NEUTRAL = "neutral"
    PAUSED = "paused"
    FINISHED = "finished"
    ABORTED = "aborted"


TRIAL_PHASES = (Phase.STIMULUS, Phase.SELF_REPORT, Phase.NEUTRAL)
WAITING_PHASES = (Phase.INSTRUCTIONS, Phase.BLOCK_INTRO, Phase.READY)


@dataclass
class TrialState:
    """What is known so far about the running trial."""

    plan: PlannedTrial
    start_time: float = 0.0
    requested_at: float = 0.0  # engine clock: when the current clip was asked for
    onset: float | None = None  # engine clock: when the current clip's first frame showed
    deadline: float = 0.0  # engine clock: end of the self-report
    status: str = "complete"
    emotion: str = ""
    valence: int = 0
    arousal: int = 0
    reminders: int = 0


class ProtocolEngine:
    """Runs a protocol: instructions -> practice -> trials (SPACE, clip, report, neutral)."""

    def __init__(self, protocol: Protocol, sink: EventSink, presenter: Presenter, *,
                 seed: int | None = None, clock: Callable[[], float] = local_clock,
                 resume: ResumeState | None = None) -> None:
        self.protocol = protocol
        self.sink = sink
        self.presenter = presenter
        self.clock = clock
        self.resumed = resume is not None
        if resume is not None:
            seed = resume.seed
        elif protocol.randomisation.seed is not None:
            seed = protocol.randomisation.seed  # the protocol fixes one order for everybody
        if seed is None:
            raise ValueError("a seed is needed: the protocol sets none (randomisation.seed)")
        self.seed = seed
        self.order = main_order(protocol, seed)
        if resume is not None and tuple(self.order) != resume.order:
            raise ResumeError("this protocol gives another trial order for the session's seed "
                              "than the crashed run had: was the protocol file changed?")
        self.trials = plan_trials(protocol, self.order)
        self.finished: set[int] = set(resume.finished) if resume is not None else set()
        self._todo = [t for t in self.trials if t.number not in self.finished]
        self.phase = Phase.IDLE
        self.trial: TrialState | None = None
        self._block = ""
        self._ran_practice = False
        self._pause_pending = False
        self._paused_from: Phase | None = None
        self._segment_open = False

    # --- inputs ----------------------------------------------------------------------
    def start(self) -> None:
        """Begin: log the protocol start (seed, order) and show the instructions."""
        if self.phase is not Phase.IDLE:
            raise RuntimeError(f"the protocol has already started (phase {self.phase})")
        self._event("protocol_start", payload={
            "protocol": self.protocol.name, "version": self.protocol.version,
            "sha256": self.protocol.sha256, "seed": self.seed, "order": self.order,
            "practice": list(self.protocol.practice), "resumed": self.resumed,
            "finished": sorted(self.finished), "trials": len(self.trials),
        })
        self._instructions()

    def key(self, name: str, t: float | None = None) -> None:
        """A participant key press ('space', 'enter', '1', 'left', ...) at time t."""
        if self.phase in (Phase.IDLE, Phase.FINISHED, Phase.ABORTED):
            return
        code = self.protocol.codes.code("space" if name == "space" else "key")
        self._event("key", code=code, payload={"key": name, "phase": str(self.phase),
                                               "at": self.clock() if t is None else t})
        if name != "space":
            return
        if self.phase is Phase.INSTRUCTIONS:
            self._next()
        elif self.phase is Phase.BLOCK_INTRO:
            self._ready()
        elif self.phase is Phase.READY:
            self._start_stimulus()

    def clip_started(self, t: float) -> None:
        """The presenter showed the current clip's first frame at time t."""
        trial = self.trial
        if trial is None or trial.onset is not None or self.phase not in (Phase.STIMULUS,
                                                                            Phase.NEUTRAL):
            return
        trial.onset = self.clock()
        clip = trial.plan.clip if self.phase is Phase.STIMULUS else trial.plan.neutral
        if self.phase is Phase.STIMULUS:
            practice = trial.plan.block == "practice"
            self._event("stimulus_onset", code=self.protocol.codes.onset_code(
                clip.emotion, practice),
                        payload={"clip": clip.id, "emotion": clip.emotion, "at": t})
        else:
            self._event("neutral_onset", payload={"clip": clip.id, "at": t})

    def clip_finished(self, t: float) -> None:
        """The current clip played to its end at time t."""
        if self.trial is None or self.trial.onset is None:
            return
        if self.phase is Phase.STIMULUS:
            self._end_stimulus(t, forced=False)
        elif self.phase is Phase.NEUTRAL:
            self._end_neutral(t, "clip_end")

    def clip_error(self, message: str) -> None:
        """The current clip could not be played; the trial (or its neutral clip) ends."""
        trial = self.trial
        if trial is None or self.phase not in (Phase.STIMULUS, Phase.NEUTRAL):
            return
        clip = trial.plan.clip if self.phase is Phase.STIMULUS else trial.plan.neutral
        self._event("clip_error", payload={"clip": clip.id, "message": message})
        if self.phase is Phase.NEUTRAL:
            self._end_neutral(self.clock(), "error")
            return
        trial.status = "clip_error"
        self._end_trial()

    def answer(self, emotion: str, valence: int, arousal: int) -> None:
        """The participant submitted the self-report."""
        if self.phase is not Phase.SELF_REPORT or self.trial is None:
            return
        if emotion not in EMOTIONS or not (1 <= valence <= 9 and 1 <= arousal <= 9):
            raise ValueError(f"bad self-report {emotion!r}, valence {valence}, arousal "
                             f"{arousal}: emotion must be one of {EMOTIONS}, ratings 1..9")
        trial = self.trial
        trial.emotion, trial.valence, trial.arousal = emotion, int(valence), int(arousal)
        report_time = trial.deadline - self.protocol.timings.self_report_s
        self._event("answer", payload={
            "emotion": emotion, "valence": int(valence), "arousal": int(arousal),
            "rt": round(self.clock() - report_time, 6)})
        self._start_neutral()

    def reminder(self) -> None:
        """The experimenter asked for the reminder prompt."""
        if self.phase in (Phase.IDLE, Phase.FINISHED, Phase.ABORTED):
            return
        self.presenter.show_reminder(self.protocol.reminder.text, self.protocol.reminder.seconds)
        trial = self.trial if self.phase in TRIAL_PHASES else None
        if trial is not None:
            trial.reminders += 1
        self._event("reminder", payload={
            "phase": str(self.phase), "seconds": self.protocol.reminder.seconds},
            trial=trial.plan.number if trial is not None else -1)

    def pause(self) -> None:
        """Pause now between trials; during a trial, as soon as the trial ends."""
        if self.phase in WAITING_PHASES:
            self._enter_pause()
        elif self.phase in TRIAL_PHASES and not self._pause_pending:
            self._pause_pending = True
            self._event("pause_requested", payload={"phase": str(self.phase)})

    def resume(self) -> None:
        """Leave the pause (or cancel a pause still waiting for the trial to end)."""
        if self._pause_pending:
            self._pause_pending = False
            self._event("pause_cancelled")
            return
        if self.phase is not Phase.PAUSED:
            return
        self._event("resume")
        back, self._paused_from = self._paused_from, None
        if back is Phase.INSTRUCTIONS:
            self._instructions()
        elif back is Phase.BLOCK_INTRO:
            self._block_intro()
        elif back is Phase.READY:
            self._ready()
        else:  # paused after a trial: what comes next may be a block text or the end
            self._next()

    def abort(self, reason: str = "") -> None:
        """Stop for good; a running trial is recorded as aborted and runs again on resume."""
        if self.phase in (Phase.FINISHED, Phase.ABORTED):
            return
        started = self.phase is not Phase.IDLE
        if started:
            self._event("abort", payload={"phase": str(self.phase), "reason": reason})
        if self.phase in TRIAL_PHASES and self.trial is not None:
            self._stop_segment()
            self.trial.status = "aborted"
            self._record_trial(self.clock())
        self.phase = Phase.ABORTED
        self.trial = None
        if started:
            self.presenter.finish()

    def tick(self, now: float | None = None) -> None:
        """Let time pass: self-report deadline, neutral clip length, clip watchdogs."""
        now = self.clock() if now is None else now
        trial = self.trial
        if trial is None:
            return
        grace = self.protocol.timings.clip_grace_s
        if self.phase is Phase.SELF_REPORT and now >= trial.deadline:
            trial.status = "timeout"
            self._event("report_timeout",
                        payload={"deadline_s": self.protocol.timings.self_report_s})
            self._start_neutral()
        elif self.phase not in (Phase.STIMULUS, Phase.NEUTRAL):
            return
        elif trial.onset is None:
            if now >= trial.requested_at + grace:
                self.clip_error(f"no frame shown {grace:g} s after play was asked for")
        elif self.phase is Phase.STIMULUS:
            if now >= trial.onset + trial.plan.clip.duration + grace:
                self._end_stimulus(now, forced=True)
        elif now >= trial.onset + self.protocol.timings.neutral_s:
            self._end_neutral(now, "time_limit")

    # --- state -----------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once the protocol finished or was aborted."""
        return self.phase in (Phase.FINISHED, Phase.ABORTED)

    @property
    def remaining(self) -> list[PlannedTrial]:
        """Trials still to run, the current one included."""
        return list(self._todo)

    # --- transitions -----------------------------------------------------------------
    def _instructions(self) -> None:
        self.phase = Phase.INSTRUCTIONS
        name = "resume" if self.resumed else "instructions"
        self.presenter.show_instructions(self.protocol.texts[name])
        self._event("instructions", payload={"text": name})

    def _next(self) -> None:
        """After a trial or a screen: pause, next block's intro, next trial, or the end."""
        if self._pause_pending:
            self._pause_pending = False
            self._enter_pause()
            return
        if not self._todo:
            self._finish()
            return
        upcoming = self._todo[0]
        if upcoming.block != self._block:
            self._block = upcoming.block
            self._event(f"{upcoming.block}_start",
                        payload={"trials": sum(t.block == upcoming.block for t in self._todo)})
            if upcoming.block == "practice" or self._ran_practice:
                self._block_intro()
                return
        self._ready()

    def _block_intro(self) -> None:
        self.phase = Phase.BLOCK_INTRO
        self.presenter.show_instructions(self.protocol.texts[self._block])

    def _ready(self) -> None:
        plan = self._todo[0]
        self.trial = TrialState(plan)
        self.phase = Phase.READY
        total = sum(t.block == plan.block for t in self.trials)
        text = (self.protocol.texts["ready"].replace("{index}", str(plan.index))
                .replace("{total}", str(total)))
        self.presenter.show_instructions(text)
        self._event("trial_ready", trial=plan.number,
                    payload={"block": plan.block, "index": plan.index, "clip": plan.clip.id})

    def _start_stimulus(self) -> None:
        trial = self.trial
        assert trial is not None
        plan = trial.plan
        trial.start_time = self.sink.event("trial_start", trial=plan.number,
                                           payload={"block": plan.block, "clip": plan.clip.id})
        if self.protocol.segment in ("stimulus", "trial"):
            self._start_segment(plan)
        self.phase = Phase.STIMULUS
        trial.requested_at, trial.onset = self.clock(), None
        kind = "practice" if plan.block == "practice" else "stimulus"
        self.presenter.play_clip(plan.clip.path, kind)
        self._event("stimulus_request", payload={"clip": plan.clip.id, "file": plan.clip.file})

    def _end_stimulus(self, t: float, forced: bool) -> None:
        trial = self.trial
        assert trial is not None
        self._event("stimulus_offset",
                    payload={"clip": trial.plan.clip.id, "at": t, "forced": forced})
        if self.protocol.segment == "stimulus":
            self._stop_segment()
        self.phase = Phase.SELF_REPORT
        seconds = self.protocol.timings.self_report_s
        self.presenter.show_self_report(seconds)
        trial.deadline = self.clock() + seconds
        self._event("self_report", payload={"deadline_s": seconds})

    def _start_neutral(self) -> None:
        trial = self.trial
        assert trial is not None
        self.phase = Phase.NEUTRAL
        trial.requested_at, trial.onset = self.clock(), None
        self.presenter.play_clip(trial.plan.neutral.path, "neutral")

    def _end_neutral(self, t: float, reason: str) -> None:
        trial = self.trial
        assert trial is not None
        self._event("neutral_offset",
                    payload={"clip": trial.plan.neutral.id, "at": t, "reason": reason})
        self._end_trial()

    def _end_trial(self) -> None:
        trial = self.trial
        assert trial is not None
        self._stop_segment()
        end = self._event("trial_end", payload={
            "status": trial.status, "block": trial.plan.block, "clip": trial.plan.clip.id})
        self._record_trial(end)
        self.finished.add(trial.plan.number)
        self._ran_practice |= trial.plan.block == "practice"
        self._todo.pop(0)
        self.trial = None
        self._next()

    def _enter_pause(self) -> None:
        self._paused_from = self.phase if self.phase in WAITING_PHASES else None
        self._event("pause", payload={"phase": str(self.phase)})
        self.phase = Phase.PAUSED
        self.presenter.show_instructions(self.protocol.texts["pause"])

    def _finish(self) -> None:
        self._event("protocol_end", payload={"finished": sorted(self.finished)})
        self.phase = Phase.FINISHED
        self.presenter.show_instructions(self.protocol.texts["end"])
        self.presenter.finish()

    # --- outputs ---------------------------------------------------------------------
    def _event(self, kind: str, *, code: int | None = None, trial: int | None = None,
               payload: dict[str, Any] | None = None) -> float:
        """Log an event; its code is the protocol's code for the kind unless given."""
        if code is None:
            code = self.protocol.codes.code(kind)
        if trial is None:
            trial = self.trial.plan.number if self.trial is not None else -1
        return self.sink.event(kind, code=code, trial=trial, payload=payload)

    def _start_segment(self, plan: PlannedTrial) -> None:
        if not self._segment_open:
            self.sink.start_segment(plan.segment_name, plan.number)
            self._segment_open = True

    def _stop_segment(self) -> None:
        if self._segment_open:
            self.sink.stop_segment()
            self._segment_open = False

    def _record_trial(self, end_time: float) -> None:
        trial = self.trial
        assert trial is not None
        plan = trial.plan
        self.sink.add_trial(TrialRecord(
            trial=plan.number, block=plan.block, stimulus=plan.clip.id,
            emotion=plan.clip.emotion, start_time=trial.start_time, end_time=end_time,
            status=trial.status, report_emotion=trial.emotion, report_valence=trial.valence,
            report_arousal=trial.arousal, reminders=trial.reminders))
