"""The self-report form's state and keyboard rules, without Qt (the Qt form only draws it)."""

from __future__ import annotations

from dataclasses import dataclass

from core.expressions import EMOTIONS

ROWS = ("emotion", "valence", "arousal")
SCALE = range(1, 10)  # 9-point Self-Assessment Manikin scales


@dataclass
class ReportForm:
    """Emotion (one of 7), valence 1-9 and arousal 1-9; one row has the keyboard focus.

    Keys: digits choose in the focused row and move on; left/right move the choice;
    up/down/tab change rows; enter submits once all three rows are answered.
    """

    emotions: tuple[str, ...] = EMOTIONS
    emotion: str = ""
    valence: int = 0  # 0: not chosen yet
    arousal: int = 0
    row: int = 0  # index into ROWS

    @property
    def complete(self) -> bool:
        """All three answers are chosen."""
        return bool(self.emotion) and self.valence in SCALE and self.arousal in SCALE

    def answer(self) -> tuple[str, int, int]:
        """(emotion, valence, arousal); only meaningful when complete."""
        return self.emotion, self.valence, self.arousal

    def choose(self, row: str, value: str | int) -> None:
        """Set one row's answer (mouse click) and focus that row."""
        self.row = ROWS.index(row)
        if row == "emotion":
            if value not in self.emotions:
                raise ValueError(f"unknown emotion {value!r}")
            self.emotion = str(value)
        else:
            if int(value) not in SCALE:
                raise ValueError(f"{row} must be 1..9, not {value!r}")
            setattr(self, row, int(value))

    def key(self, name: str) -> bool:
        """Apply a key press; True when it submitted a complete form."""
        if name.isdigit() and len(name) == 1:
            self._digit(int(name))
        elif name in ("left", "right"):
            self._step(-1 if name == "left" else 1)
        elif name in ("up", "backtab"):
            self.row = max(0, self.row - 1)
        elif name in ("down", "tab"):
            self.row = min(len(ROWS) - 1, self.row + 1)
        elif name in ("enter", "return"):
            if self.complete:
                return True
            self.row = next(i for i, r in enumerate(ROWS) if not self._answered(r))
        return False

    def _answered(self, row: str) -> bool:
        return bool(self.emotion) if row == "emotion" else getattr(self, row) in SCALE

    def _digit(self, digit: int) -> None:
        row = ROWS[self.row]
        if row == "emotion":
            if not 1 <= digit <= len(self.emotions):
                return
            self.emotion = self.emotions[digit - 1]
        elif digit in SCALE:
            setattr(self, row, digit)
        else:
            return
        self.row = min(len(ROWS) - 1, self.row + 1)

    def _step(self, delta: int) -> None:
        row = ROWS[self.row]
        if row == "emotion":
            if self.emotion:
                index = self.emotions.index(self.emotion) + delta
            else:
                index = 0 if delta > 0 else len(self.emotions) - 1
            self.emotion = self.emotions[max(0, min(len(self.emotions) - 1, index))]
        else:
            current = getattr(self, row)
            value = current + delta if current in SCALE else 5  # start in the middle
            setattr(self, row, max(1, min(9, value)))
