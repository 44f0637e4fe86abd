"""The list of trials a session runs: practice clips in file order, then the seeded main order."""

from __future__ import annotations

from dataclasses import dataclass

from protocols.model import Clip, Protocol
from protocols.order import trial_order


@dataclass(frozen=True)
class PlannedTrial:
    """One trial of the session; numbers run 1..N over practice and main trials."""

    number: int
    block: str  # "practice" or "main"
    index: int  # 1-based position within its block
    clip: Clip
    neutral: Clip

    @property
    def segment_name(self) -> str:
        """Name of this trial's camera segment."""
        return f"trial{self.number:03d}"


def main_order(protocol: Protocol, seed: int) -> list[str]:
    """Clip ids of the main block in the order this seed gives."""
    pairs = [(clip_id, protocol.clips[clip_id].emotion) for clip_id in protocol.main]
    return trial_order(pairs, seed, protocol.randomisation.max_run)


def plan_trials(protocol: Protocol, order: list[str]) -> list[PlannedTrial]:
    """Practice trials then main trials in `order`; neutral clips cycle through design.neutral."""
    blocks = [("practice", list(protocol.practice)), ("main", order)]
    trials: list[PlannedTrial] = []
    for block, ids in blocks:
        for index, clip_id in enumerate(ids, start=1):
            neutral = protocol.neutral[len(trials) % len(protocol.neutral)]
            trials.append(PlannedTrial(len(trials) + 1, block, index, protocol.clips[clip_id],
                                       protocol.clips[neutral]))
    return trials
