"""Spotting evaluation by the MEGC rules: IoU >= 0.5, one match per ground truth, pooled counts.

A spotted (candidate) interval is a true positive when its IoU with a ground-truth interval of
the same clip is at least the threshold (0.5) and that ground truth has not been matched yet;
every other candidate, including a second one on an already matched ground truth, is a false
positive; every unmatched ground truth is a false negative. Counts are summed over all clips
and precision/recall/F1 are computed once from the sums (MEGC never averages per clip).
Micro and macro are scored separately (micro candidates against micro ground truth); the
overall score is the sum of both counts.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.expressions import KINDS, classify_frames
from recordings.store.annotations import Annotation

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Interval:
    """A frame interval [onset, offset], both frames included, of kind 'micro' or 'macro'."""

    onset: int
    offset: int
    kind: str = "micro"

    def __post_init__(self) -> None:
        if self.offset < self.onset:
            raise ValueError(f"interval ends before it starts: {self.onset}..{self.offset}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    @property
    def frames(self) -> int:
        """Number of frames covered (inclusive)."""
        return self.offset - self.onset + 1


@dataclass(frozen=True)
class SpottingCounts:
    """True positives, false positives and false negatives, pooled over clips."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: SpottingCounts) -> SpottingCounts:
        """Sum of two counts (pooling, as MEGC does across clips and across kinds)."""
        return SpottingCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    __add__ = add

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 0 when nothing was spotted."""
        spotted = self.tp + self.fp
        return self.tp / spotted if spotted else 0.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 0 when there is no ground truth."""
        truth = self.tp + self.fn
        return self.tp / truth if truth else 0.0

    @property
    def f1(self) -> float:
        """2TP / (2TP + FP + FN), i.e. 2PR / (P + R), defined as 0 when TP = 0."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0


def spotted_interval(onset: int, offset: int, fps: float) -> Interval:
    """A spotted interval, micro if it lasts <= 0.5 s at `fps` (MEGC: kind from length)."""
    return Interval(onset, offset, classify_frames(onset, None, offset, fps) or "micro")


def frame_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame intervals (onset, offset), counting frames."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


def time_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """IoU of two continuous time intervals (start, end) in seconds."""
    inter = min(a[1], b[1]) - max(a[0], b[0])
    union = (a[1] - a[0]) + (b[1] - b[0]) - max(inter, 0.0)
    if union <= 0:  # two zero-length intervals: identical or disjoint points
        return 1.0 if a == b else 0.0
    return max(inter, 0.0) / union


def _as_interval(item: Interval | Sequence[int | str], kind: str = "micro") -> Interval:
    if isinstance(item, Interval):
        return item
    if len(item) == 3:
        return Interval(int(item[0]), int(item[1]), str(item[2]))
    return Interval(int(item[0]), int(item[1]), kind)


def greedy_pairs(candidates: Iterable[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    """One-to-one pairs from (iou, i, j) candidates, best overlap first (ties: lower i, then
    lower j): each i and each j is used at most once."""
    used_i: set[int] = set()
    used_j: set[int] = set()
    pairs = []
    for iou, i, j in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            pairs.append((iou, i, j))
    return pairs


def match_clip(
    candidates: Sequence[Interval | Sequence[int]],
    truths: Sequence[Interval | Sequence[int]],
    threshold: float = IOU_THRESHOLD,
) -> SpottingCounts:
    """TP/FP/FN of one clip's candidates against its ground truth (kinds ignored here)."""
    cands = [_as_interval(c) for c in candidates]
    gts = [_as_interval(g) for g in truths]
    # Greedy on descending IoU gives each ground truth its best-overlapping candidate; other
    # candidates on it become FPs.
    tp = len(greedy_pairs(
        (iou, ci, gi)
        for ci, c in enumerate(cands)
        for gi, g in enumerate(gts)
        if (iou := frame_iou((c.onset, c.offset), (g.onset, g.offset))) >= threshold
    ))
    return SpottingCounts(tp=tp, fp=len(cands) - tp, fn=len(gts) - tp)


def evaluate_spotting(
    candidates: Mapping[Hashable, Iterable[Interval | Sequence]],
    truths: Mapping[Hashable, Iterable[Interval | Sequence]],
    threshold: float = IOU_THRESHOLD,
) -> dict[str, SpottingCounts]:
    """Pooled counts per kind: {'micro', 'macro', 'overall'} over all clips.

    Both mappings go from a clip key to that clip's intervals (Interval objects or
    (onset, offset, kind) tuples). A clip missing on one side contributes only FPs or FNs.
    """
    result = {kind: SpottingCounts() for kind in KINDS}
    for clip in set(candidates) | set(truths):
        cands = [_as_interval(c) for c in candidates.get(clip, ())]
        gts = [_as_interval(g) for g in truths.get(clip, ())]
        for kind in KINDS:
            counts = match_clip(
                [c for c in cands if c.kind == kind], [g for g in gts if g.kind == kind], threshold
            )
            result[kind] = result[kind].add(counts)
    result["overall"] = result["micro"].add(result["macro"])
    return result


def intervals_from_annotations(
    annotations: Iterable[Annotation],
) -> dict[tuple[str, str, str], list[Interval]]:
    """Ground-truth frame intervals per clip (subject, session, trial) from annotations.

    An annotation without an offset frame ends at its apex (CASME-style partial codes);
    one without onset frame or any end frame cannot be scored and raises ValueError.
    """
    out: dict[tuple[str, str, str], list[Interval]] = {}
    for a in annotations:
        span = frame_span(a)
        if span is None:
            raise ValueError(f"annotation has no frame interval to score: {a}")
        out.setdefault((a.subject, a.session, a.trial), []).append(Interval(*span, a.kind))
    return out


def frame_span(a: Annotation) -> tuple[int, int] | None:
    """(onset, end) frames of an annotation: the offset, else the apex (CASME-style partial
    codes end there); None without an onset or any end frame."""
    end = a.offset_frame if a.offset_frame is not None else a.apex_frame
    return None if a.onset_frame is None or end is None else (a.onset_frame, end)
