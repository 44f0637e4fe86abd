"""ME-physiology concordance (MMME 4.1, Table 3): features before vs after each ME apex.

For each epoch length L (3, 5, 10, 15 s) an ME gives the pair "before" = [apex - L, apex)
and "after" = [apex, apex + L). The paper keeps an epoch only if "no other MEs occurred
within the same epoch"; here a pair is skipped when any other ME's [onset, offset]
overlaps either half (so a neighbour whose apex lies outside but whose onset reaches in
also counts), or when either half reaches past the recorded clip. Callers may add more
blocking intervals per clip (e.g. macro-expressions). Pairs are pooled over clips.

Per feature and length a paired t-test (scipy.stats.ttest_rel, two-sided) compares before
with after over the pairs where both values exist (a window with no SCR has no SCR
amplitude); n is that number. Significance marks follow the usual * p<.05, ** p<.01,
*** p<.001 on the raw p; `p_fdr` adds Benjamini-Hochberg adjusted p over all features of
one epoch length, since 64 channels x 5 bands make false positives near-certain.
EEG band powers enter in dB (10 log10 µV²): power is skewed and its ratios multiply.
Heart and breathing rates are interpolated between beats/breaths, so the one interval that
straddles the apex colours both halves; HRV indices use only beats inside each half.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np
import scipy.stats as st

from analysis.features_eeg import BAND_NAMES, band_powers_between, eeg_channels
from analysis.features_physio import derive_physio, window_features

EPOCH_LENGTHS: tuple[float, ...] = (3.0, 5.0, 10.0, 15.0)


@dataclass(frozen=True)
class MEInterval:
    """One micro-expression, seconds from the clip start."""

    onset: float
    apex: float
    offset: float


@dataclass
class ClipData:
    """One clip's signals (each starting at t = 0) and its MEs.

    `physio`: channel name -> raw 1-D samples at `physio_rate` (ECG, EDA, RSP, SKT, PPG; others
    such as DIGITAL are ignored). `eeg`: (n, channels) µV at `eeg_rate`, a TRIGGER column
    named in `eeg_labels` is dropped. `blockers`: extra (start, end) intervals that
    disqualify an epoch they overlap.
    """

    mes: Sequence[MEInterval]
    physio: dict[str, np.ndarray] | None = None
    physio_rate: float = 1000.0
    eeg: np.ndarray | None = None
    eeg_rate: float = 1000.0
    eeg_labels: Sequence[str] = ()
    blockers: Sequence[tuple[float, float]] = ()

    @property
    def duration(self) -> float:
        """Seconds covered by every signal present."""
        spans = []
        if self.physio:
            spans += [len(x) / self.physio_rate for x in self.physio.values()]
        if self.eeg is not None:
            spans.append(len(self.eeg) / self.eeg_rate)
        if not spans:
            raise ValueError("clip has neither physiology nor EEG")
        return min(spans)


@dataclass(frozen=True)
class ConcordanceRow:
    """One line of the Table 3 layout: a feature at one epoch length."""

    feature: str
    epoch_s: float
    mean_before: float
    sd_before: float
    mean_after: float
    sd_after: float
    t: float
    p: float
    significance: str
    n_pairs: int
    p_fdr: float = np.nan


def valid_pairs(
    mes: Sequence[MEInterval],
    length: float,
    duration: float,
    blockers: Sequence[tuple[float, float]] = (),
) -> np.ndarray:
    """Indices of MEs whose before/after epochs of `length` s are inside the clip and free."""
    keep = []
    for i, me in enumerate(mes):
        lo, hi = me.apex - length, me.apex + length
        if lo < 0 or hi > duration:
            continue
        others = [(m.onset, m.offset) for j, m in enumerate(mes) if j != i]
        # Closed intervals: an ME touching the epoch's edge still sits inside it.
        if any(s <= hi and e >= lo for s, e in [*others, *blockers]):
            continue
        keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def significance_marks(p: float) -> str:
    """'***' p<.001, '**' p<.01, '*' p<.05, else ''."""
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def epoch_features(
    clip: ClipData, lengths: Sequence[float] = EPOCH_LENGTHS
) -> dict[float, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """Per length: (before, after) feature name -> values over the clip's valid MEs."""
    derived = derive_physio(clip.physio, clip.physio_rate) if clip.physio else None
    eeg, labels = clip.eeg, list(clip.eeg_labels)
    if eeg is not None:
        if not labels:
            labels = [f"ch{i + 1}" for i in range(eeg.shape[1])]
        if len(labels) != eeg.shape[1]:
            raise ValueError(f"{len(labels)} EEG labels for {eeg.shape[1]} columns")
        eeg, labels = eeg_channels(eeg, labels)  # the TRIGGER column is not EEG
    duration = clip.duration
    out = {}
    for length in lengths:
        idx = valid_pairs(clip.mes, length, duration, clip.blockers)
        apex = np.array([clip.mes[i].apex for i in idx], dtype=np.float64)
        halves = []
        for start, stop in ((apex - length, apex), (apex, apex + length)):
            feats: dict[str, np.ndarray] = {}
            if derived is not None:
                feats |= window_features(derived, start, stop)
            if eeg is not None:
                feats |= _eeg_features(eeg, clip.eeg_rate, labels, start, stop)
            halves.append(feats)
        out[float(length)] = (halves[0], halves[1])
    return out


def _eeg_features(
    eeg: np.ndarray, rate: float, labels: Sequence[str], start: np.ndarray, stop: np.ndarray
) -> dict[str, np.ndarray]:
    power = band_powers_between(eeg, rate, start, stop)  # (windows, channels, bands)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(power)
    return {
        f"EEG_{band}_{ch}_dB": db[:, c, b]
        for b, band in enumerate(BAND_NAMES)
        for c, ch in enumerate(labels)
    }


def paired_row(
    feature: str, epoch_s: float, before: np.ndarray, after: np.ndarray
) -> ConcordanceRow:
    """Paired t-test of one feature at one epoch length over pairs where both are finite."""
    b = np.asarray(before, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    ok = np.isfinite(b) & np.isfinite(a)
    b, a = b[ok], a[ok]
    n = len(b)
    t = p = np.nan
    if n >= 2:
        # Identical halves give 0/0 inside scipy: t and p stay NaN, without the warning.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = st.ttest_rel(b, a)
        t, p = float(res.statistic), float(res.pvalue)
    return ConcordanceRow(
        feature=feature,
        epoch_s=float(epoch_s),
        mean_before=float(b.mean()) if n else np.nan,
        sd_before=float(b.std(ddof=1)) if n > 1 else np.nan,
        mean_after=float(a.mean()) if n else np.nan,
        sd_after=float(a.std(ddof=1)) if n > 1 else np.nan,
        t=t,
        p=p,
        significance=significance_marks(p),
        n_pairs=n,
    )


def concordance_table(
    clips: Iterable[ClipData], lengths: Sequence[float] = EPOCH_LENGTHS
) -> list[ConcordanceRow]:
    """Table 3: paired t-tests before vs after ME apexes, pooled over clips, per length."""
    pooled: dict[float, dict[str, tuple[list[np.ndarray], list[np.ndarray]]]] = {
        float(L): {} for L in lengths
    }
    order: list[str] = []  # features in first-seen order (Table 6, then EEG)
    for clip in clips:
        for length, (before, after) in epoch_features(clip, lengths).items():
            for name in before:
                if name not in order:
                    order.append(name)
                bs, as_ = pooled[length].setdefault(name, ([], []))
                bs.append(before[name])
                as_.append(after[name])
    rows: list[ConcordanceRow] = []
    for length in pooled:
        block = []
        for name in order:
            if name in pooled[length]:
                bs, as_ = pooled[length][name]
                block.append(paired_row(name, length, np.concatenate(bs), np.concatenate(as_)))
        rows += _with_fdr(block)
    # Table 3 reads feature by feature with the epoch lengths side by side.
    rank = {name: i for i, name in enumerate(order)}
    return sorted(rows, key=lambda r: (rank[r.feature], r.epoch_s))


def _with_fdr(rows: list[ConcordanceRow]) -> list[ConcordanceRow]:
    p = np.array([r.p for r in rows])
    ok = np.isfinite(p)
    adj = np.full(len(rows), np.nan)
    if ok.any():
        adj[ok] = st.false_discovery_control(p[ok], method="bh")
    return [
        ConcordanceRow(*astuple(r)[:-1], p_fdr=float(q)) for r, q in zip(rows, adj, strict=True)
    ]


def write_concordance_csv(rows: Sequence[ConcordanceRow], path: str | Path) -> None:
    """Write rows as CSV, one column per ConcordanceRow field (NaN written as empty)."""
    names = [f.name for f in fields(ConcordanceRow)]
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for r in rows:
            w.writerow(
                [
                    ""
                    if isinstance(v, float) and not np.isfinite(v)
                    else f"{v:.6g}"
                    if isinstance(v, float)
                    else v
                    for v in astuple(r)
                ]
            )
