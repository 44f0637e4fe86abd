"""A rating session as a state machine on an injectable clock: no Qt, no devices, no triggers.

An evaluator sees the candidate clips in an order random per rater (seeded, stored in the
ratings file) and answers the participants' self-report form after each clip:
instructions -> (READY: SPACE -> clip -> self-report) per clip -> end. Pause waits for the
current clip's answer; abort leaves the current clip unrated (it is shown again on resume).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from core.clock import local_clock
from core.expressions import EMOTIONS
from protocols.candidates import Candidates
from protocols.engine import WAITING_PHASES, Phase
from protocols.interfaces import Presenter, RatingSink
from protocols.model import Clip
from protocols.order import session_seed
from protocols.ratings_file import (
    Rating,
    RatingsError,
    RatingsHeader,
    RatingsWriter,
    ratings_path,
    read_ratings,
    validate_rater_id,
)
from protocols.report_form import SCALE

RATING_TEXTS = {
    "instructions": (
        "Rating the clips\n\nYou will watch short video clips, one at a time. After each "
        "clip, choose the emotion it made you feel most, how pleasant it was (valence, "
        "1 = very unpleasant .. 9 = very pleasant) and how strong (arousal, 1 = calm .. "
        "9 = very excited): number keys, arrows and Enter, or the mouse.\n\n"
        "Press SPACE to continue."),
    "resume": "We continue with the clips you have not rated yet.\n\nPress SPACE to continue.",
    "ready": "Clip {index} of {total}\n\nPress SPACE to start the clip.",
    "self_report": "Which emotion did the clip make you feel most, how pleasant was it, "
                   "and how strong?",
    "pause": "Short break.\n\nPlease wait.",
    "end": "Every clip is rated. Thank you!",
}
REPORT_S = 60.0  # answer window; no answer in time is a missing answer ("timeout")
CLIP_GRACE_S = 5.0  # as the protocol's clip_grace_s: a clip not started/ended this late


@dataclass(frozen=True)
class RatingPlan:
    """A rater's clips in their order, and those already rated (a resumed run)."""

    header: RatingsHeader
    clips: dict[str, Clip]
    done: frozenset[str] = frozenset()
    path: Path | None = None  # the ratings file

    @property
    def todo(self) -> list[str]:
        """Clip ids still to rate, in order."""
        return [c for c in self.header.order if c not in self.done]


def rating_order(clip_ids: Iterable[str], seed: int) -> tuple[str, ...]:
    """The clips in a random order given by the seed (same seed, same order)."""
    order = sorted(clip_ids)
    random.Random(seed).shuffle(order)
    return tuple(order)


def plan_rating(candidates: Candidates, rater: str, folder: str | Path,
                seed: int | None = None) -> RatingPlan:
    """A new rater's plan, or the plan stored in their ratings file in folder (resume)."""
    validate_rater_id(rater)
    path = ratings_path(folder, rater)
    clips = candidates.rated
    if path.exists():
        stored = read_ratings(path, set(clips))
        if set(stored.header.order) != set(clips):
            missing = sorted(set(clips) - set(stored.header.order))
            raise RatingsError(f"{path}:{stored.header_line}: this rater's order does not "
                               f"hold the library's clips {missing[:3]}: the library changed "
                               "since; rate it under another rater ID or another folder")
        return RatingPlan(stored.header, clips, frozenset(stored.rows), path)
    seed = session_seed(rater) if seed is None else seed
    header = RatingsHeader(rater, seed, rating_order(clips, seed),
                           str(candidates.manifest.resolve()), candidates.sha256)
    return RatingPlan(header, clips, frozenset(), path)


def open_rating(plan: RatingPlan) -> RatingsWriter:
    """The writer of the plan's ratings file (creating it with its header when new)."""
    assert plan.path is not None
    return RatingsWriter(plan.path, plan.header)


@dataclass
class Shown:
    """The clip on screen and what is known about it so far."""

    clip: Clip
    position: int
    requested_at: float
    onset: float | None = None
    report_at: float = 0.0
    deadline: float = 0.0


@dataclass
class RatingEngine:
    """Runs a rating session; rows go to the sink, screens to the presenter."""

    plan: RatingPlan
    sink: RatingSink
    presenter: Presenter
    clock: Callable[[], float] = local_clock
    texts: dict[str, str] = field(default_factory=lambda: dict(RATING_TEXTS))
    report_s: float = REPORT_S
    clip_grace_s: float = CLIP_GRACE_S
    phase: Phase = Phase.IDLE
    shown: Shown | None = None

    def __post_init__(self) -> None:
        self._todo = self.plan.todo
        self.rated = len(self.plan.done)  # rows written, earlier runs included
        self._pause_pending = False
        self._paused_from: Phase | None = None

    @property
    def total(self) -> int:
        """Clips in the rater's order."""
        return len(self.plan.header.order)

    @property
    def done(self) -> bool:
        """True once every clip is rated or the session was stopped."""
        return self.phase in (Phase.FINISHED, Phase.ABORTED)

    # --- inputs ----------------------------------------------------------------------
    def start(self) -> None:
        """Show the instructions (the resume text when clips were rated before)."""
        if self.phase is not Phase.IDLE:
            raise RuntimeError(f"the rating session has already started ({self.phase})")
        self.phase = Phase.INSTRUCTIONS
        self.presenter.show_instructions(self.texts["resume" if self.plan.done
                                                    else "instructions"])

    def key(self, name: str, t: float | None = None) -> None:
        """A key press: SPACE leaves a text screen or starts the next clip."""
        if name != "space":
            return
        if self.phase is Phase.INSTRUCTIONS:
            self._next()
        elif self.phase is Phase.READY:
            self._play()

    def clip_started(self, t: float) -> None:
        """The clip's first frame showed at time t."""
        if self.phase is Phase.STIMULUS and self.shown is not None and self.shown.onset is None:
            self.shown.onset = t

    def clip_finished(self, t: float) -> None:
        """The clip played to its end."""
        if self.phase is Phase.STIMULUS and self.shown is not None and self.shown.onset is not None:
            self._report()

    def clip_error(self, message: str) -> None:
        """The clip could not be played: recorded as such, without answers."""
        if self.phase is Phase.STIMULUS and self.shown is not None:
            self._write("clip_error")

    def answer(self, emotion: str, valence: int, arousal: int) -> None:
        """The rater submitted the form."""
        if self.phase is not Phase.SELF_REPORT or self.shown is None:
            return
        if emotion not in EMOTIONS or int(valence) not in SCALE or int(arousal) not in SCALE:
            raise ValueError(f"bad rating {emotion!r}, valence {valence}, arousal {arousal}: "
                             f"emotion must be one of {EMOTIONS}, ratings 1..9")
        self._write("answered", emotion, int(valence), int(arousal),
                    self.clock() - self.shown.report_at)

    def pause(self) -> None:
        """Pause now on a text screen; during a clip, once it is answered."""
        if self.phase in WAITING_PHASES:
            self._paused_from = self.phase
            self.phase = Phase.PAUSED
            self.presenter.show_instructions(self.texts["pause"])
        elif self.phase in (Phase.STIMULUS, Phase.SELF_REPORT):
            self._pause_pending = True

    def resume(self) -> None:
        """Leave the pause (or cancel one still waiting for the answer)."""
        self._pause_pending = False
        if self.phase is not Phase.PAUSED:
            return
        back, self._paused_from = self._paused_from, None
        if back is Phase.INSTRUCTIONS:
            self.phase = Phase.IDLE
            self.start()
        else:
            self._next()

    def abort(self) -> None:
        """Stop for good; the clip on screen stays unrated and is shown again on resume."""
        if self.done:
            return
        started = self.phase is not Phase.IDLE
        self.phase, self.shown = Phase.ABORTED, None
        if started:
            self.presenter.finish()

    def tick(self, now: float | None = None) -> None:
        """Let time pass: answer deadline and the clip watchdogs."""
        now = self.clock() if now is None else now
        shown = self.shown
        if shown is None:
            return
        if self.phase is Phase.SELF_REPORT and now >= shown.deadline:
            self._write("timeout")
        elif self.phase is not Phase.STIMULUS:
            return
        elif shown.onset is None and now >= shown.requested_at + self.clip_grace_s:
            self.clip_error(f"no frame shown {self.clip_grace_s:g} s after play was asked for")
        elif shown.onset is not None and now >= shown.onset + shown.clip.duration + \
                self.clip_grace_s:
            self._report()

    # --- transitions -----------------------------------------------------------------
    def _next(self) -> None:
        if self._pause_pending:
            self._pause_pending = False
            self.phase = Phase.READY
            self.pause()
        elif not self._todo:
            self.phase = Phase.FINISHED
            self.presenter.show_instructions(self.texts["end"])
            self.presenter.finish()
        else:
            self.phase = Phase.READY
            index = self.plan.header.order.index(self._todo[0]) + 1
            self.presenter.show_instructions(
                self.texts["ready"].replace("{index}", str(index))
                .replace("{total}", str(self.total)))

    def _play(self) -> None:
        clip = self.plan.clips[self._todo[0]]
        self.shown = Shown(clip, self.plan.header.order.index(clip.id) + 1, self.clock())
        self.phase = Phase.STIMULUS
        self.presenter.play_clip(clip.path, "stimulus")

    def _report(self) -> None:
        assert self.shown is not None
        self.phase = Phase.SELF_REPORT
        self.shown.report_at = self.clock()
        self.shown.deadline = self.shown.report_at + self.report_s
        self.presenter.show_self_report(self.report_s)

    def _write(self, status: str, emotion: str = "", valence: int | None = None,
               arousal: int | None = None, rt: float | None = None) -> None:
        shown = self.shown
        assert shown is not None
        self.sink.add(Rating(self.plan.header.rater, shown.position, shown.clip.id, status,
                             emotion, valence, arousal, rt))
        self.rated += 1
        self._todo.pop(0)
        self.shown = None
        self._next()
