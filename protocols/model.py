"""The protocol as data: stimulus clips, blocks, timings, trigger codes and texts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.expressions import EMOTIONS

NEUTRAL = "neutral"
SEGMENT_MODES = ("stimulus", "trial", "none")
UNRATED = float("nan")  # a clip's normative rating before the library was rated

# Names of the trigger codes every protocol file sets in [codes] (docs/protocol.md explains each).
EVENT_CODE_NAMES = (
    "protocol_start", "instructions", "practice_start", "main_start", "protocol_end",
    "pause", "resume", "abort",
    "trial_ready", "space", "key", "stimulus_offset",
    "self_report", "answer", "report_timeout",
    "neutral_onset", "neutral_offset", "trial_end", "reminder", "clip_error",
)
# Stimulus onsets carry the clip's emotion in their code; practice clips share one code.
ONSET_CODE_NAMES = ("practice", *EMOTIONS)
TEXT_NAMES = ("instructions", "practice", "main", "ready", "self_report", "pause", "resume",
              "end")


@dataclass(frozen=True)
class Clip:
    """One video of the stimulus library, with its normative ratings."""

    id: str
    file: str  # as written in the manifest, relative to the stimulus folder
    emotion: str  # one of EMOTIONS, or NEUTRAL
    valence: float  # normative, 1 (unpleasant) .. 9 (pleasant); UNRATED (NaN) if not rated
    arousal: float  # normative, 1 (calm) .. 9 (excited); UNRATED (NaN) if not rated
    duration: float  # seconds
    path: Path  # file resolved against the stimulus folder


@dataclass(frozen=True)
class Timings:
    """Phase timings in seconds."""

    self_report_s: float = 25.0
    neutral_s: float = 30.0
    max_stimulus_s: float = 60.0
    clip_grace_s: float = 5.0  # a clip that has not started or ended this late is given up


@dataclass(frozen=True)
class Randomisation:
    """How the main block is ordered."""

    max_run: int = 2  # at most this many clips of one emotion in a row
    seed: int | None = None  # None: each session brings its own seed


@dataclass(frozen=True)
class CodeTable:
    """Trigger codes: 1..254 send a pulse, 0 logs the event without one."""

    events: dict[str, int] = field(default_factory=dict)
    onset: dict[str, int] = field(default_factory=dict)  # by emotion, plus "practice"

    def code(self, name: str) -> int:
        """Code of an event kind (0 when the table has none)."""
        return self.events.get(name, 0)

    def onset_code(self, emotion: str, practice: bool) -> int:
        """Code of a stimulus onset: by emotion in the main block, one code for practice."""
        return self.onset.get("practice" if practice else emotion, 0)


@dataclass(frozen=True)
class Reminder:
    """The prompt on the auxiliary display."""

    text: str = ""
    seconds: float = 2.0


@dataclass(frozen=True)
class Protocol:
    """A complete, loaded protocol (see docs/protocol.md for the file format)."""

    name: str
    version: int
    source: Path
    sha256: str
    stimulus_folder: Path
    manifest: Path
    clips: dict[str, Clip]
    practice: tuple[str, ...]
    emotions: tuple[str, ...]
    clips_per_emotion: int
    main: tuple[str, ...]
    neutral: tuple[str, ...]
    randomisation: Randomisation
    timings: Timings
    codes: CodeTable
    texts: dict[str, str]
    reminder: Reminder
    segment: str = "stimulus"  # camera segment per trial: "stimulus", "trial" or "none"
    description: str = ""

    def clip(self, clip_id: str) -> Clip:
        """The library clip with this id."""
        return self.clips[clip_id]
