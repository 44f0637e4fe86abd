"""Choosing the library: N clips per emotion by hit rate, then arousal (docs/stimuli.md).

A clip is eligible when it lasts at most max_duration_s and has at least min_ratings answers.
Eligible clips of an emotion are ranked by hit rate (high first), then mean arousal (high
first), then id; the first N are chosen. Practice clips, when asked for, are the best-ranked
eligible clips left over (any emotion), so they are never used again in the main block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.norms import ClipNorms

MAX_DURATION_S = 60.0  # the paper's clips last at most one minute
MIN_RATINGS_SHARE = 0.8  # default minimum answers per clip: 80 % of the raters


@dataclass(frozen=True)
class SelectionRules:
    """What makes a clip eligible and how many are chosen."""

    per_emotion: int
    emotions: tuple[str, ...]
    min_ratings: int
    max_duration_s: float = MAX_DURATION_S
    practice: int = 0


def default_min_ratings(raters: int) -> int:
    """At least 80 % of the raters (rounded up), and at least 2."""
    return max(2, math.ceil(MIN_RATINGS_SHARE * raters))


@dataclass(frozen=True)
class Choice:
    """What happened to one clip: role 'main', 'practice' or '' (not chosen), and why."""

    clip: ClipNorms
    role: str
    reason: str
    rank: int = 0  # place among its emotion's eligible clips (0: not eligible)


@dataclass(frozen=True)
class Selection:
    """Every rated clip's choice, and the emotions that lack eligible clips."""

    rules: SelectionRules
    choices: tuple[Choice, ...]
    short: dict[str, int]  # emotion -> eligible clips, when fewer than rules.per_emotion

    def chosen(self, role: str) -> list[ClipNorms]:
        """The clips chosen for a role, main ones grouped by emotion in rank order."""
        return [c.clip for c in self.choices if c.role == role]


def rank_key(norms: ClipNorms) -> tuple[float, float, str]:
    """Sort key: hit rate, then arousal, both high first; id breaks ties."""
    return (-_or_low(norms.hit_rate), -_or_low(norms.arousal_mean), norms.clip)


def _or_low(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def _ineligible(norms: ClipNorms, rules: SelectionRules) -> str:
    if norms.emotion not in rules.emotions:
        return f"emotion {norms.emotion!r} is not one of the design's emotions"
    if norms.duration > rules.max_duration_s:
        return f"lasts {norms.duration:g} s, over {rules.max_duration_s:g} s"
    if norms.ratings < rules.min_ratings:
        return f"too few ratings ({norms.ratings} < {rules.min_ratings})"
    return ""


def select_clips(clips: Sequence[ClipNorms], rules: SelectionRules) -> Selection:
    """Apply the rules to every rated clip."""
    reasons = {c.clip: _ineligible(c, rules) for c in clips}
    choices: dict[str, Choice] = {c.clip: Choice(c, "", reasons[c.clip])
                                  for c in clips if reasons[c.clip]}
    short: dict[str, int] = {}
    leftover: list[tuple[ClipNorms, int, int]] = []
    for emotion in rules.emotions:
        ranked = sorted((c for c in clips if c.emotion == emotion and not reasons[c.clip]),
                        key=rank_key)
        if len(ranked) < rules.per_emotion:
            short[emotion] = len(ranked)
        for rank, norms in enumerate(ranked, start=1):
            if rank <= rules.per_emotion:
                choices[norms.clip] = Choice(norms, "main", _describe(norms, rank, len(ranked)),
                                             rank)
            else:
                leftover.append((norms, rank, len(ranked)))
    leftover.sort(key=lambda item: rank_key(item[0]))
    for index, (norms, rank, of) in enumerate(leftover):
        role = "practice" if index < rules.practice else ""
        reason = _describe(norms, rank, of) + (
            f"; best left over, practice clip {index + 1}" if role else
            f"; below the {rules.per_emotion} chosen {norms.emotion} clips")
        choices[norms.clip] = Choice(norms, role, reason, rank)
    order = {c.clip: i for i, c in enumerate(clips)}
    ordered = sorted(choices.values(), key=lambda c: (
        rules.emotions.index(c.clip.emotion) if c.clip.emotion in rules.emotions
        else len(rules.emotions), c.rank or math.inf, order[c.clip.clip]))
    return Selection(rules, tuple(ordered), short)


def _describe(norms: ClipNorms, rank: int, of: int) -> str:
    return (f"ranked {rank} of {of} eligible {norms.emotion} clips (hit rate "
            f"{norms.hit_rate:.2f}, arousal {norms.arousal_mean:.2f})")
