"""What `melab analyze` writes besides the tables it builds itself: the spotting summary with
n/a where nothing can be scored, and signals.csv (channels and outages as recorded).

Spotting is scored per kind only where the ground truth has at least one instance of that
kind: with no macro-expression annotated, macro precision, recall, F1 and counts are None
("n/a"), never 0.000 with every macro interval counted as a false positive; overall needs
instances of both kinds. Without any annotation nothing is scored and only the spotted
intervals are reported (`annotated` False).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from analysis.evaluation import Interval, evaluate_spotting
from analysis.session_signals import SignalNote
from core.expressions import KINDS

MEASURES = ("f1", "precision", "recall", "tp", "fp", "fn")
SIGNAL_COLUMNS = ("subject", "session", "stream", "channel", "status", "start", "end", "detail")


def spotting_summary(
    candidates: Mapping[Any, Sequence[Interval]],
    filtered: Mapping[Any, Sequence[Interval]],
    truths: Mapping[Any, Sequence[Interval]],
) -> dict[str, Any]:
    """MEGC figures (pooled counts) without and with the Candidate Clip Filter; None (n/a)
    for a kind without any ground-truth instance (module docstring)."""
    truth = {k: sum(iv.kind == k for ivs in truths.values() for iv in ivs) for k in KINDS}
    scored = {**{k: truth[k] > 0 for k in KINDS}, "overall": all(truth.values())}
    summary: dict[str, Any] = {"annotated": any(truth.values()),
                               **{f"{k}_truth": n for k, n in truth.items()}}
    for suffix, cands in (("", candidates), ("_ccf", filtered)):
        for kind, c in evaluate_spotting(cands, truths).items():
            summary[f"{kind}_spotted{suffix}"] = c.tp + c.fp
            values = dict(zip(MEASURES, (round(c.f1, 4), round(c.precision, 4),
                                         round(c.recall, 4), c.tp, c.fp, c.fn), strict=True))
            for measure, value in values.items():
                summary[f"{kind}_{measure}{suffix}"] = value if scored[kind] else None
    return summary


def write_signals_csv(notes: Sequence[tuple[str, str, SignalNote]], path: Path) -> None:
    """signals.csv: per session, each peripheral channel's state in each continuous stretch
    (ok, flat, not enough data) and each outage (gap), times on the session clock."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(SIGNAL_COLUMNS)
        for subject, session, n in notes:
            writer.writerow([subject, session, n.stream, n.channel, n.status,
                             f"{n.start:.3f}", f"{n.end:.3f}", n.detail])
