"""A scripted facial expression of the simulated participant and its intensity curve over time.

The emotion vocabulary and the micro/macro rule come from core.expressions; this module adds
what the simulated face needs on top: the AUs it can move and how far an expression moves them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.expressions import EMOTION_AUS, EMOTIONS, KINDS, classify_kind

# The AUs the simulated face can move (drivers.sim.face_geometry.au_bumps shapes each one).
AU_NAMES: dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    10: "upper lip raiser",
    12: "lip corner puller",
    14: "dimpler (unilateral, subject's right)",
    15: "lip corner depressor",
    17: "chin raiser",
    20: "lip stretcher",
    23: "lip tightener",
    25: "lips part",
    26: "jaw drop",
}

# Intensities are peak displacements in pixels for a face this tall, which is the rig's face at
# 2040x1080 (16 mm lens, 1 m); a renderer scales them by its own face height.
REFERENCE_FACE_HEIGHT = 600.0
DEFAULT_INTENSITY = {"micro": 4.0, "macro": 15.0}


@dataclass(frozen=True)
class Expression:
    """One facial expression: physical-time onset/apex/offset, emotion, FACS AUs, intensity."""

    onset: float
    apex: float
    offset: float
    kind: str  # "micro" | "macro"
    emotion: str  # one of EMOTIONS
    aus: tuple[int, ...] = ()  # empty: EMOTION_AUS[emotion]
    intensity: float | None = None  # peak px at REFERENCE_FACE_HEIGHT; None: by kind

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.emotion not in EMOTION_AUS:
            raise ValueError(f"emotion must be one of {EMOTIONS}, not {self.emotion!r}")
        if not self.onset <= self.apex <= self.offset or self.offset <= self.onset:
            raise ValueError(f"need onset <= apex <= offset, onset < offset: {self}")
        if self.kind == "micro" and classify_kind(self.onset, self.apex, self.offset) != "micro":
            raise ValueError("a micro-expression lasts <= 0.5 s, or rises to apex in <= 0.25 s")
        aus = tuple(int(a) for a in self.aus) or EMOTION_AUS[self.emotion]
        unknown = sorted(set(aus) - set(AU_NAMES))
        if unknown:
            raise ValueError(f"AUs {unknown} are not simulated; known: {sorted(AU_NAMES)}")
        object.__setattr__(self, "aus", aus)
        if self.intensity is None:
            object.__setattr__(self, "intensity", DEFAULT_INTENSITY[self.kind])
        elif not self.intensity > 0:
            raise ValueError("intensity must be > 0")


def intensity_at(expr: Expression, t: float) -> float:
    """Expression strength in [0, 1] at time t: raised-cosine rise to 1 at apex, fall to 0."""
    if t == expr.apex:
        return 1.0
    if t <= expr.onset or t >= expr.offset:
        return 0.0
    if t < expr.apex:
        return 0.5 - 0.5 * math.cos(math.pi * (t - expr.onset) / (expr.apex - expr.onset))
    return 0.5 + 0.5 * math.cos(math.pi * (t - expr.apex) / (expr.offset - expr.apex))
