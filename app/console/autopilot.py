"""An autopilot for demos without a person: it plays the participant (and one reminder).

It presses real keys on the participant window, so the same window, engine and recorder run
as with a person: SPACE on every text screen, digits and Enter on the self-report form.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, Qt, QTimer
from PyQt6.QtTest import QTest

from app.participant.session import ParticipantSession
from core.clock import local_clock
from protocols.engine import Phase

WAITING = (Phase.INSTRUCTIONS, Phase.BLOCK_INTRO, Phase.READY)
QT_KEYS = {"space": Qt.Key.Key_Space, "enter": Qt.Key.Key_Return}
KEY_GAP_S = 0.15
REMIND_AFTER_S = 0.3  # into the clip, like an experimenter reacting to a face


def participant_keys(phase: Phase, trial: int) -> list[str]:
    """Keys a cooperative participant presses in a phase (trial: the session trial number)."""
    if phase in WAITING:
        return ["space"]
    if phase is Phase.SELF_REPORT:
        # some plausible, varied answer: emotion 1..7, valence and arousal 1..9
        emotion, valence, arousal = 1 + trial % 7, 1 + (3 * trial + 4) % 9, 1 + (5 * trial) % 9
        return [str(emotion), str(valence), str(arousal), "enter"]
    return []


class Autopilot(QObject):
    """Watches the engine and answers each new phase after a human-like delay."""

    def __init__(self, session: ParticipantSession, delay_s: float = 0.5,
                 key_gap_s: float = KEY_GAP_S, remind_in_trial: int | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent or session)
        self.session = session
        self.delay_s = delay_s
        self.key_gap_s = key_gap_s
        self.remind_in_trial = remind_in_trial  # send one reminder during this trial's clip
        self.pressed: list[str] = []
        self._seen: tuple[Phase, int] | None = None
        self._since = 0.0
        self._pending: list[str] = []
        self._last_key = 0.0
        self._reminded = False
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        engine = self.session.engine
        if engine.done:
            self._timer.stop()
            return
        trial = engine.trial.plan.number if engine.trial is not None else 0
        now = local_clock()
        if (engine.phase, trial) != self._seen:
            self._seen, self._since = (engine.phase, trial), now
            self._pending = participant_keys(engine.phase, trial)
        if (not self._reminded and engine.phase is Phase.STIMULUS
                and trial == self.remind_in_trial and now - self._since > REMIND_AFTER_S):
            self._reminded = True
            self.session.reminder()
        # One key per tick, spaced like a person's: each key is a trigger pulse, and codes
        # sent faster than the box's pulses queue up behind each other.
        if (not self._pending or now - self._since < self.delay_s
                or now - self._last_key < self.key_gap_s):
            return
        name = self._pending.pop(0)
        key = QT_KEYS.get(name) or Qt.Key(Qt.Key.Key_0.value + int(name))
        QTest.keyClick(self.session.window, key)
        self.pressed.append(name)
        self._last_key = now
