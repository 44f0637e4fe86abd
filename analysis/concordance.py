"""ME-physiology concordance (MMME 4.1, Table 3): features before vs after each ME apex.

For each epoch length L (3, 5, 10, 15 s) an ME gives the pair "before" = [apex - L, apex)
and "after" = [apex, apex + L). The paper keeps an epoch only if "no other MEs occurred
within the same epoch"; here a pair is skipped when any other ME's [onset, offset]
overlaps either half (so a neighbour whose apex lies outside but whose onset reaches in
also counts), or when either half reaches past the recorded clip. Callers may add more
blocking intervals per clip (e.g. macro-expressions). Pairs are pooled over clips.

Per feature and length a paired t-test (scipy.stats.ttest_rel, two-sided) compares before
with after over the pairs where both values exist (a window with no SCR has no SCR
amplitude); n is that number. A test is run only with at least MIN_PAIRS pairs: with fewer,
the t-test leans wholly on the differences being normal, which so few cannot show, and its
p says little (2 pairs: df = 1); such rows keep their means and sd, with t and p empty and
`tested` False. The p-values of all tests run (every feature at every epoch length) are
corrected together by Benjamini-Hochberg (`p_fdr`; valid for positively dependent tests such
as overlapping epochs), since 64 channels x 5 bands x 4 lengths make false positives
near-certain; the marks * p_fdr < .05, ** < .01, *** < .001 come from the corrected p only.
EEG band powers enter in dB (10 log10 µV²): power is skewed and its ratios multiply.
Heart and breathing rates are interpolated between beats/breaths, so the one interval that
straddles the apex colours both halves; HRV indices use only beats inside each half.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.stats as st

from analysis.features_eeg import BAND_NAMES, band_powers_between, eeg_channels
from analysis.features_physio import PhysioDerived, derive_physio, window_features

EPOCH_LENGTHS: tuple[float, ...] = (3.0, 5.0, 10.0, 15.0)
MIN_PAIRS = 10  # fewer pairs: no test (module docstring)


@dataclass(frozen=True)
class MEInterval:
    """One micro-expression, seconds from the clip start."""

    onset: float
    apex: float
    offset: float


@dataclass
class ClipData:
    """One recording's signals (a clip or a whole session) and its MEs on one time axis.

    `physio`: channel name -> raw 1-D samples at `physio_rate` (ECG, EDA, RSP, SKT, PPG; others
    such as DIGITAL are ignored), its first sample at time `physio_t0`. `eeg`: (n, channels) µV
    at `eeg_rate` from `eeg_t0`; a TRIGGER column named in `eeg_labels` is dropped. ME times
    are on the same axis (seconds). `blockers`: extra (start, end) intervals that disqualify
    an epoch they overlap. The processed physiology and EEG channels are computed once.
    """

    mes: Sequence[MEInterval]
    physio: dict[str, np.ndarray] | None = None
    physio_rate: float = 1000.0
    physio_t0: float = 0.0
    eeg: np.ndarray | None = None
    eeg_rate: float = 1000.0
    eeg_t0: float = 0.0
    eeg_labels: Sequence[str] = ()
    blockers: Sequence[tuple[float, float]] = ()

    @property
    def span(self) -> tuple[float, float]:
        """(start, end) seconds covered by every signal present."""
        spans = []
        if self.physio:
            n = min(len(x) for x in self.physio.values())
            spans.append((self.physio_t0, self.physio_t0 + n / self.physio_rate))
        if self.eeg is not None:
            spans.append((self.eeg_t0, self.eeg_t0 + len(self.eeg) / self.eeg_rate))
        if not spans:
            raise ValueError("clip has neither physiology nor EEG")
        return max(a for a, _ in spans), min(b for _, b in spans)

    @cached_property
    def physio_derived(self) -> PhysioDerived | None:
        """The physiology preprocessed and derived (NeuroKit2), or None without it."""
        return derive_physio(self.physio, self.physio_rate) if self.physio else None

    @cached_property
    def eeg_data(self) -> tuple[np.ndarray, list[str]] | None:
        """(samples, labels) of the EEG channels only, or None without EEG."""
        if self.eeg is None:
            return None
        labels = list(self.eeg_labels) or [f"ch{i + 1}" for i in range(self.eeg.shape[1])]
        if len(labels) != self.eeg.shape[1]:
            raise ValueError(f"{len(labels)} EEG labels for {self.eeg.shape[1]} columns")
        return eeg_channels(self.eeg, labels)  # the TRIGGER column is not EEG


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
    significance: str  # from p_fdr
    n_pairs: int
    p_fdr: float = np.nan
    tested: bool = False  # n_pairs >= MIN_PAIRS and the test gave a p


def valid_pairs(
    mes: Sequence[MEInterval],
    length: float,
    end: float,
    blockers: Sequence[tuple[float, float]] = (),
    start: float = 0.0,
) -> np.ndarray:
    """Indices of MEs whose before/after epochs of `length` s lie in [start, end] and free."""
    keep = []
    for i, me in enumerate(mes):
        lo, hi = me.apex - length, me.apex + length
        if lo < start or hi > end:
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
    derived, eeg = clip.physio_derived, clip.eeg_data
    start, end = clip.span
    out = {}
    for length in lengths:
        idx = valid_pairs(clip.mes, length, end, clip.blockers, start)
        apex = np.array([clip.mes[i].apex for i in idx], dtype=np.float64)
        halves = []
        for lo, hi in ((apex - length, apex), (apex, apex + length)):
            feats: dict[str, np.ndarray] = {}
            if derived is not None:
                feats |= window_features(derived, lo - clip.physio_t0, hi - clip.physio_t0)
            if eeg is not None:
                feats |= _eeg_features(*eeg, clip.eeg_rate, lo - clip.eeg_t0, hi - clip.eeg_t0)
            halves.append(feats)
        out[float(length)] = (halves[0], halves[1])
    return out


def _eeg_features(
    eeg: np.ndarray, labels: Sequence[str], rate: float, start: np.ndarray, stop: np.ndarray
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
    feature: str, epoch_s: float, before: np.ndarray, after: np.ndarray,
    min_pairs: int = MIN_PAIRS,
) -> ConcordanceRow:
    """Paired t-test of one feature at one epoch length over pairs where both are finite,
    run only with at least `min_pairs` pairs; `significance` is set later from p_fdr."""
    b = np.asarray(before, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    ok = np.isfinite(b) & np.isfinite(a)
    b, a = b[ok], a[ok]
    n = len(b)
    t = p = np.nan
    if n >= max(2, min_pairs):
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
        significance="",
        n_pairs=n,
        tested=bool(np.isfinite(p)),
    )


def concordance_table(
    clips: Iterable[ClipData], lengths: Sequence[float] = EPOCH_LENGTHS
) -> list[ConcordanceRow]:
    """Table 3: paired t-tests before vs after ME apexes, pooled over clips, per length."""
    return pooled_table((epoch_features(clip, lengths) for clip in clips), lengths)


def pooled_table(
    epochs: Iterable[dict[float, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]],
    lengths: Sequence[float] = EPOCH_LENGTHS,
) -> list[ConcordanceRow]:
    """Table 3 from the epoch_features of several clips (computed one clip at a time)."""
    pooled: dict[float, dict[str, tuple[list[np.ndarray], list[np.ndarray]]]] = {
        float(L): {} for L in lengths
    }
    order: list[str] = []  # features in first-seen order (Table 6, then EEG)
    for clip_epochs in epochs:
        for length, (before, after) in clip_epochs.items():
            for name in before:
                if name not in order:
                    order.append(name)
                bs, as_ = pooled[length].setdefault(name, ([], []))
                bs.append(before[name])
                as_.append(after[name])
    rows: list[ConcordanceRow] = []
    for length in pooled:
        for name in order:
            if name in pooled[length]:
                bs, as_ = pooled[length][name]
                rows.append(paired_row(name, length, np.concatenate(bs), np.concatenate(as_)))
    # Table 3 reads feature by feature with the epoch lengths side by side.
    rank = {name: i for i, name in enumerate(order)}
    return sorted(with_fdr(rows), key=lambda r: (rank[r.feature], r.epoch_s))


def with_fdr(rows: Sequence[ConcordanceRow]) -> list[ConcordanceRow]:
    """Rows with Benjamini-Hochberg p over every test run among them, and marks from it."""
    p = np.array([r.p if r.tested else np.nan for r in rows], dtype=np.float64)
    ok = np.isfinite(p)
    adj = np.full(len(rows), np.nan)
    if ok.any():
        adj[ok] = st.false_discovery_control(p[ok], method="bh")
    return [replace(r, p_fdr=float(q), significance=significance_marks(q))
            for r, q in zip(rows, adj, strict=True)]


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
