"""The main block's trial order: random from a seed, at most N clips of one emotion in a row."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Mapping, Sequence

MAX_ATTEMPTS = 1000


def order_is_feasible(counts: Mapping[str, int], max_run: int) -> bool:
    """Whether some order keeps every emotion's runs at most max_run long."""
    total = sum(counts.values())
    if total == 0:
        return True
    largest = max(counts.values())
    # the other clips cut the largest emotion into at most (others + 1) runs of max_run each
    return max_run >= 1 and largest <= max_run * (total - largest + 1)


def longest_run(emotions: Sequence[str]) -> int:
    """Length of the longest stretch of one emotion in a sequence."""
    best = run = 0
    for index, emotion in enumerate(emotions):
        run = run + 1 if index and emotions[index - 1] == emotion else 1
        best = max(best, run)
    return best


def _attempt(items: list[tuple[str, str]], rng: random.Random, max_run: int) -> list[str] | None:
    remaining = list(items)
    order: list[tuple[str, str]] = []
    while remaining:
        run_emotion = order[-1][1] if order else None
        run = 0
        for _, emotion in reversed(order):
            if emotion != run_emotion:
                break
            run += 1
        candidates = [item for item in remaining
                      if not (item[1] == run_emotion and run >= max_run)]
        # prefer picks that leave a solvable rest; fall back to any allowed pick
        solvable = [item for item in candidates if order_is_feasible(
            Counter(e for i, e in remaining if i != item[0]), max_run)]
        pool = solvable or candidates
        if not pool:
            return None  # dead end: start again with the generator's next numbers
        choice = pool[rng.randrange(len(pool))]
        remaining.remove(choice)
        order.append(choice)
    return [clip_id for clip_id, _ in order]


def trial_order(clips: Sequence[tuple[str, str]], seed: int, max_run: int) -> list[str]:
    """Clip ids of (id, emotion) pairs in a seeded random order with runs <= max_run."""
    if not order_is_feasible(Counter(e for _, e in clips), max_run):
        raise ValueError(f"no order keeps at most {max_run} clips of one emotion in a row")
    rng = random.Random(seed)
    for _ in range(MAX_ATTEMPTS):
        order = _attempt(list(clips), rng, max_run)
        if order is not None:
            return order
    raise ValueError(f"found no order with at most {max_run} clips of one emotion in a row "
                     f"in {MAX_ATTEMPTS} attempts (seed {seed})")


def session_seed(participant: str, session: int = 1) -> int:
    """A reproducible seed from participant ID and session number (same inputs, same order)."""
    digest = hashlib.sha256(f"{participant}:{session}".encode()).digest()
    return int.from_bytes(digest[:4], "little")
