"""The protocol engine on a fake clock: full runs, timeouts, pause, abort, resume after a crash."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from protocols.dry_run import ManualClock
from protocols.engine import Phase, ProtocolEngine
from protocols.loader import load_protocol
from protocols.model import Protocol
from protocols.order import longest_run
from protocols.resume import ResumeError, resume_state
from protocols.sinks import MemorySink
from recordings.store.metadata import Event


@dataclass
class FakePresenter:
    """Records what the participant would have seen."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def show_instructions(self, text: str) -> None:
        self.calls.append(("instructions", text))

    def play_clip(self, path: Path, kind: str) -> None:
        self.calls.append(("play", (Path(path).name, kind)))

    def show_self_report(self, deadline_s: float) -> None:
        self.calls.append(("report", deadline_s))

    def show_reminder(self, text: str, seconds: float) -> None:
        self.calls.append(("reminder", (text, seconds)))

    def finish(self) -> None:
        self.calls.append(("finish", None))

    def last(self, kind: str) -> Any:
        return next(value for name, value in reversed(self.calls) if name == kind)


@pytest.fixture(scope="module")
def cmrr() -> Protocol:
    """The full CMRR protocol (its clips need not exist for the engine)."""
    return load_protocol("cmrr", check_clips=False)


class Rig:
    """Engine + fake clock, presenter and sink, with a scripted participant."""

    def __init__(self, protocol: Protocol, seed: int = 7, **kwargs: Any) -> None:
        self.clock = ManualClock()
        self.sink = MemorySink(self.clock)
        self.presenter = FakePresenter()
        self.protocol = protocol
        self.engine = ProtocolEngine(protocol, self.sink, self.presenter, seed=seed,
                                     clock=self.clock, **kwargs)

    def space(self) -> None:
        self.clock.advance(0.8)
        self.engine.key("space", self.clock.now)

    def through_screens(self) -> None:
        """Press SPACE until a trial waits for it."""
        while self.engine.phase in (Phase.INSTRUCTIONS, Phase.BLOCK_INTRO):
            self.space()

    def begin(self) -> None:
        """Start the protocol and go through its screens to the first trial."""
        self.engine.start()
        self.through_screens()

    def to_self_report(self) -> None:
        """SPACE, the clip shown 50 ms later and ending 40 s after: the self-report is up."""
        self.space()
        self.engine.clip_started(self.clock.advance(0.05))
        self.engine.clip_finished(self.clock.advance(40.0))

    def trial(self, answer: tuple[str, int, int] | None = ("fear", 3, 7)) -> None:
        """One trial: SPACE, clip shown 40 ms later, plays its length, report, neutral."""
        assert self.engine.phase is Phase.READY
        clip = self.engine.trial.plan.clip
        self.space()
        self.engine.clip_started(self.clock.advance(0.04))
        self.engine.tick(self.clock.advance(clip.duration / 2))
        self.engine.clip_finished(self.clock.advance(clip.duration / 2))
        if answer is None:
            self.engine.tick(self.clock.advance(self.protocol.timings.self_report_s))
        else:
            self.clock.advance(4.0)
            for key in ("1", "5"):
                self.engine.key(key, self.clock.now)
            self.engine.answer(*answer)
        self.engine.clip_started(self.clock.advance(0.03))
        self.engine.tick(self.clock.advance(self.protocol.timings.neutral_s))

    def run_all(self) -> None:
        self.engine.start()
        while not self.engine.done:
            self.through_screens()
            if self.engine.phase is Phase.READY:
                self.trial()

    def events(self, kind: str) -> list[Event]:
        return [e for e in self.sink.events if e.kind == kind]


def test_full_42_trial_run_is_complete(cmrr: Protocol) -> None:
    # Its run time is benchmarks/bench_engine.py's figure.
    rig = Rig(cmrr, seed=11)
    rig.run_all()
    assert rig.engine.phase is Phase.FINISHED
    trials = rig.sink.trials
    assert [t.trial for t in trials] == list(range(1, 45))
    assert [t.block for t in trials] == ["practice"] * 2 + ["main"] * 42
    assert all(t.status == "complete" for t in trials)
    assert all((t.report_emotion, t.report_valence, t.report_arousal) == ("fear", 3, 7)
               for t in trials)
    main = trials[2:]
    assert sorted(t.stimulus for t in main) == sorted(cmrr.main)
    assert [t.stimulus for t in main] == rig.engine.order
    assert longest_run([t.emotion for t in main]) <= 2
    # one camera segment per trial, from the stimulus request to its offset
    assert [s[0] for s in rig.sink.segments] == [f"trial{n:03d}" for n in range(1, 45)]
    onsets = rig.events("stimulus_onset")
    offsets = rig.events("stimulus_offset")
    for (_name, trial, seg_start, seg_stop), on, off in zip(
            rig.sink.segments, onsets, offsets, strict=True):
        assert seg_start <= on.time and seg_stop == off.time and trial == on.trial
    # onset codes tell the emotion; practice has its own code
    assert [e.code for e in onsets[:2]] == [20, 20]
    assert {e.code for e in onsets[2:]} == set(range(21, 28))
    for event in onsets[2:]:
        assert cmrr.codes.onset[event.payload["emotion"]] == event.code
    assert rig.sink.kinds()[-1] == "protocol_end"
    assert rig.presenter.calls[-1] == ("finish", None)
    assert rig.presenter.calls[-2] == ("instructions", cmrr.texts["end"])


def test_every_event_and_code_of_a_trial_in_order(cmrr: Protocol) -> None:
    rig = Rig(cmrr)
    rig.begin()
    before = len(rig.sink.events)
    rig.trial()
    events = rig.sink.events[before:]
    assert [(e.kind, e.code) for e in events] == [
        ("key", 11), ("trial_start", 0), ("stimulus_request", 0), ("stimulus_onset", 20),
        ("stimulus_offset", 19), ("self_report", 30), ("key", 12), ("key", 12), ("answer", 31),
        ("neutral_onset", 40), ("neutral_offset", 41), ("trial_end", 50),
        ("trial_ready", 10),  # the next trial waits for SPACE
    ]
    assert all(e.trial == 1 for e in events[:-1]) and events[-1].trial == 2
    times = [e.time for e in events]
    assert times == sorted(times)
    answer = next(e for e in events if e.kind == "answer")
    assert answer.payload == {"emotion": "fear", "valence": 3, "arousal": 7, "rt": 4.0}
    offset = next(e for e in events if e.kind == "neutral_offset")
    assert offset.payload["reason"] == "time_limit"
    # the whole session start, too
    assert [(e.kind, e.code) for e in rig.sink.events[:before]] == [
        ("protocol_start", 1), ("instructions", 2), ("key", 11), ("practice_start", 3),
        ("key", 11), ("trial_ready", 10)]


def test_onset_is_the_first_presented_frame_not_the_play_request(cmrr: Protocol) -> None:
    rig = Rig(cmrr)
    rig.begin()
    rig.space()
    request = rig.events("stimulus_request")[-1]
    assert rig.presenter.last("play") == ("practice_01.mp4", "practice")
    assert not rig.events("stimulus_onset")  # nothing is on screen yet
    shown = rig.clock.advance(0.120)
    rig.engine.clip_started(shown)
    onset = rig.events("stimulus_onset")[-1]
    assert onset.time - request.time == pytest.approx(0.120)
    assert onset.payload["at"] == shown
    rig.engine.clip_started(rig.clock.advance(0.5))  # later frames do not move the onset
    assert len(rig.events("stimulus_onset")) == 1


def test_self_report_times_out_after_25_s(cmrr: Protocol) -> None:
    rig = Rig(cmrr)
    rig.begin()
    rig.to_self_report()
    assert rig.presenter.last("report") == 25.0
    shown = rig.events("self_report")[-1].time
    rig.engine.tick(rig.clock.advance(24.9))
    assert rig.engine.phase is Phase.SELF_REPORT
    rig.engine.tick(rig.clock.advance(0.1))
    assert rig.engine.phase is Phase.NEUTRAL
    timeout = rig.events("report_timeout")[-1]
    assert (timeout.code, timeout.time - shown) == (32, pytest.approx(25.0))
    assert rig.presenter.last("play") == ("neutral_01.mp4", "neutral")
    rig.engine.answer("fear", 3, 3)  # too late: ignored
    assert not rig.events("answer")
    rig.engine.clip_started(rig.clock.advance(0.05))
    rig.engine.clip_finished(rig.clock.advance(29.0))  # a neutral clip shorter than the limit
    record = rig.sink.trials[-1]
    assert (record.status, record.report_emotion, record.report_valence) == ("timeout", "", 0)
    assert rig.events("neutral_offset")[-1].payload["reason"] == "clip_end"


def test_bad_answers_are_refused(cmrr: Protocol) -> None:
    rig = Rig(cmrr)
    rig.begin()
    rig.to_self_report()
    with pytest.raises(ValueError, match=r"ratings 1\.\.9"):
        rig.engine.answer("fear", 0, 5)
    with pytest.raises(ValueError):
        rig.engine.answer("boredom", 5, 5)
    assert rig.engine.phase is Phase.SELF_REPORT


def test_reminders_are_logged_with_code_shown_and_counted(cmrr: Protocol) -> None:
    rig = Rig(cmrr)
    rig.begin()
    rig.engine.reminder()  # between trials: no trial
    rig.space()
    rig.engine.clip_started(rig.clock.advance(0.05))
    rig.clock.advance(10.0)
    rig.engine.reminder()
    rig.clock.advance(10.0)
    rig.engine.reminder()
    reminders = rig.events("reminder")
    assert [(e.code, e.trial, e.payload["phase"]) for e in reminders] == [
        (60, -1, "ready"), (60, 1, "stimulus"), (60, 1, "stimulus")]
    assert rig.presenter.last("reminder") == ("Neutral face - stay still", 2.0)
    rig.engine.clip_finished(rig.clock.advance(20.0))
    rig.engine.answer("happiness", 8, 2)
    rig.engine.clip_started(rig.clock.advance(0.05))
    rig.engine.clip_finished(rig.clock.advance(30.0))
    assert rig.sink.trials[-1].reminders == 2


def test_pause_waits_for_the_trial_to_end_then_resumes(cmrr: Protocol) -> None:
    rig = Rig(cmrr)
    rig.begin()
    rig.space()
    rig.engine.clip_started(rig.clock.advance(0.05))
    rig.engine.pause()
    assert rig.engine.phase is Phase.STIMULUS  # the clip is not interrupted
    rig.engine.clip_finished(rig.clock.advance(40.0))
    rig.engine.answer("fear", 2, 8)
    rig.engine.clip_started(rig.clock.advance(0.05))
    rig.engine.tick(rig.clock.advance(30.0))
    assert rig.engine.phase is Phase.PAUSED
    assert rig.presenter.last("instructions") == cmrr.texts["pause"]
    rig.space()  # the participant cannot leave the pause
    assert rig.engine.phase is Phase.PAUSED
    rig.engine.resume()
    assert rig.engine.phase is Phase.READY and rig.engine.trial.plan.number == 2
    kinds = [(e.kind, e.code) for e in rig.sink.events if e.kind.startswith(("pause", "res"))]
    assert kinds == [("pause_requested", 0), ("pause", 6), ("resume", 7)]
    # between trials a pause is immediate
    rig.engine.pause()
    assert rig.engine.phase is Phase.PAUSED
    rig.engine.resume()
    assert rig.engine.phase is Phase.READY and rig.engine.trial.plan.number == 2


def test_a_pause_after_a_block_or_the_last_trial_resumes_to_what_follows(
        cmrr: Protocol) -> None:
    rig = Rig(cmrr)
    rig.begin()
    rig.trial()
    rig.space()
    rig.engine.pause()  # during the last practice trial
    rig.engine.clip_started(rig.clock.advance(0.05))
    rig.engine.clip_finished(rig.clock.advance(40.0))
    rig.engine.tick(rig.clock.advance(25.0))
    rig.engine.clip_started(rig.clock.advance(0.05))
    rig.engine.tick(rig.clock.advance(30.0))
    assert rig.engine.phase is Phase.PAUSED
    rig.engine.resume()
    assert rig.engine.phase is Phase.BLOCK_INTRO
    assert rig.presenter.last("instructions") == cmrr.texts["main"]
    assert rig.sink.kinds()[-2:] == ["resume", "main_start"]
    while len(rig.engine.remaining) > 1:
        rig.through_screens()
        rig.trial()
    rig.through_screens()
    rig.space()
    rig.engine.pause()  # during the very last trial
    rig.engine.clip_started(rig.clock.advance(0.05))
    rig.engine.clip_finished(rig.clock.advance(40.0))
    rig.engine.answer("anger", 2, 6)
    rig.engine.clip_started(rig.clock.advance(0.05))
    rig.engine.tick(rig.clock.advance(30.0))
    assert rig.engine.phase is Phase.PAUSED
    rig.engine.resume()
    assert rig.engine.phase is Phase.FINISHED and len(rig.sink.trials) == 44


def test_abort_records_the_running_trial_and_stops(cmrr: Protocol) -> None:
    rig = Rig(cmrr)
    rig.begin()
    rig.trial()
    rig.space()
    rig.engine.clip_started(rig.clock.advance(0.05))
    assert rig.sink.segment_active
    rig.engine.abort("participant unwell")
    assert rig.engine.phase is Phase.ABORTED and rig.engine.done
    assert not rig.sink.segment_active
    abort = rig.events("abort")[-1]
    assert (abort.code, abort.trial, abort.payload["reason"]) == (8, 2, "participant unwell")
    assert [(t.trial, t.status) for t in rig.sink.trials] == [(1, "complete"), (2, "aborted")]
    assert rig.presenter.calls[-1] == ("finish", None)
    count = len(rig.sink.events)
    rig.engine.key("space", rig.clock.advance(1.0))
    rig.engine.clip_finished(rig.clock.advance(1.0))
    rig.engine.reminder()
    assert len(rig.sink.events) == count  # nothing happens after an abort


def test_resume_after_a_crash_runs_the_rest_in_the_same_order(cmrr: Protocol) -> None:
    first = Rig(cmrr, seed=99)
    first.engine.start()
    for _ in range(12):  # 2 practice + 10 main trials finish ...
        first.through_screens()
        first.trial()
    first.space()  # ... and trial 13 is running when the process dies
    first.engine.clip_started(first.clock.advance(0.05))
    crashed = list(first.sink.events)

    state = resume_state(crashed, cmrr)
    assert state.seed == 99 and list(state.order) == first.engine.order
    assert state.finished == frozenset(range(1, 13))
    second = Rig(cmrr, seed=12345, resume=state)  # the session's seed wins
    assert second.engine.order == first.engine.order
    second.engine.start()
    start = second.events("protocol_start")[0]
    assert start.payload["resumed"] and start.payload["finished"] == list(range(1, 13))
    assert second.presenter.calls[0] == ("instructions", cmrr.texts["resume"])
    second.space()
    assert second.engine.phase is Phase.READY  # no practice, no main intro again
    assert second.engine.trial.plan.number == 13
    while not second.engine.done:
        second.through_screens()
        if second.engine.phase is Phase.READY:
            second.trial()
    assert [t.trial for t in second.sink.trials] == list(range(13, 45))
    played = [t.stimulus for t in first.sink.trials[2:]] + [t.stimulus for t in second.sink.trials]
    assert played == first.engine.order

    # a second crash right after the resume: both sessions' finished trials carry over
    third_state = resume_state(second.sink.events[:40], cmrr)
    assert third_state.finished >= frozenset(range(1, 13))


def test_an_aborted_trial_runs_again_on_resume(cmrr: Protocol) -> None:
    rig = Rig(cmrr, seed=5)
    rig.begin()
    rig.trial()
    rig.space()
    rig.engine.abort()
    state = resume_state(rig.sink.events, cmrr)
    assert state.finished == frozenset({1})
    again = Rig(cmrr, resume=state)
    again.engine.start()
    again.through_screens()
    assert again.engine.trial.plan.number == 2
    assert again.engine.trial.plan.block == "practice"


def test_resume_refuses_what_it_cannot_continue(cmrr: Protocol) -> None:
    with pytest.raises(ResumeError, match="no protocol_start"):
        resume_state([Event(1.0, "recording_start")], cmrr)
    rig = Rig(cmrr, seed=3)
    rig.engine.start()
    events = rig.sink.events
    other = dataclasses.replace(cmrr, name="other")
    with pytest.raises(ResumeError, match="ran protocol 'CMRR'"):
        resume_state(events, other)
    # an edited design gives another order for the stored seed
    tampered = [dataclasses.replace(e, payload={**e.payload, "order": e.payload["order"][::-1]})
                if e.kind == "protocol_start" else e for e in events]
    with pytest.raises(ResumeError, match="another trial order"):
        Rig(cmrr, resume=resume_state(tampered, cmrr))
    done = Rig(cmrr, seed=3)
    done.run_all()
    with pytest.raises(ResumeError, match="nothing to resume"):
        resume_state(done.sink.events, cmrr)


def test_segment_per_trial_and_no_segments(cmrr: Protocol) -> None:
    rig = Rig(dataclasses.replace(cmrr, segment="trial"))
    rig.begin()
    rig.trial()
    name, trial, start, stop = rig.sink.segments[0]
    assert (name, trial) == ("trial001", 1)
    assert start == rig.events("trial_start")[0].time
    assert stop == rig.events("neutral_offset")[0].time
    none = Rig(dataclasses.replace(cmrr, segment="none"))
    none.engine.start()
    none.through_screens()
    none.trial()
    assert none.sink.segments == []


def test_broken_clip_ends_the_trial_and_the_run_goes_on(cmrr: Protocol) -> None:
    rig = Rig(cmrr)
    rig.begin()
    rig.space()
    rig.engine.tick(rig.clock.advance(4.9))
    assert rig.engine.phase is Phase.STIMULUS
    rig.engine.tick(rig.clock.advance(0.2))  # no frame within clip_grace_s
    error = rig.events("clip_error")[-1]
    assert (error.code, error.payload["clip"]) == (90, "practice01")
    assert rig.sink.trials[-1].status == "clip_error"
    assert rig.engine.phase is Phase.READY and rig.engine.trial.plan.number == 2
    assert not rig.sink.segment_active
    # a clip that never reports its end is closed after its length + grace
    rig.space()
    rig.engine.clip_started(rig.clock.advance(0.05))
    rig.engine.tick(rig.clock.advance(40.0 + 5.0))
    offset = rig.events("stimulus_offset")[-1]
    assert offset.payload["forced"] and rig.engine.phase is Phase.SELF_REPORT


def test_fixed_seed_in_the_file_gives_everybody_the_same_order(cmrr: Protocol) -> None:
    fixed = dataclasses.replace(cmrr, randomisation=dataclasses.replace(
        cmrr.randomisation, seed=42))
    a = Rig(fixed, seed=1).engine.order
    b = Rig(fixed, seed=2).engine.order
    assert a == b
    assert Rig(cmrr, seed=1).engine.order != Rig(cmrr, seed=2).engine.order
    with pytest.raises(ValueError, match="a seed is needed"):
        ProtocolEngine(cmrr, MemorySink(ManualClock()), FakePresenter(), clock=ManualClock())


def test_resume_reads_the_events_of_a_recorded_session(cmrr: Protocol, tmp_path: Path) -> None:
    from protocols.resume import resume_state_from_session
    from protocols.sinks import RecorderSink
    from recordings.recorder import Recorder
    from recordings.store.metadata import SessionMetadata
    from recordings.store.reader import open_session

    recorder = Recorder(tmp_path / "s1", SessionMetadata("P01"), streams={})
    recorder.start()
    rig = Rig(cmrr, seed=2024)
    rig.engine.sink = RecorderSink(recorder)  # a device-less rig: events and trials only
    rig.engine.start()
    for _ in range(4):
        rig.through_screens()
        rig.trial()
    rig.space()  # trial 5 is running when the recording ends
    recorder.stop()

    with open_session(tmp_path / "s1") as session:
        trials = session.trials
        start = next(e for e in session.events if e.kind == "protocol_start")
    assert [(t.trial, t.block, t.status) for t in trials] == [
        (1, "practice", "complete"), (2, "practice", "complete"),
        (3, "main", "complete"), (4, "main", "complete")]
    assert (start.code, start.payload["seed"]) == (1, 2024)
    state = resume_state_from_session(tmp_path / "s1", cmrr)
    assert state.finished == frozenset({1, 2, 3, 4}) and list(state.order) == rig.engine.order
    again = Rig(cmrr, resume=state)
    again.engine.start()
    again.through_screens()
    assert again.engine.trial.plan.number == 5
    assert again.engine.trial.plan.clip.id == rig.engine.order[2]
