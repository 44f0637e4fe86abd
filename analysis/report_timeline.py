"""report.html's clip timelines: spotted intervals against the annotations, with the spotting
curve, heart rate and EDA over the clip, and both signals around each expression."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.evaluation import IOU_THRESHOLD, frame_iou, greedy_pairs
from analysis.report_html import figure_uri, img
from analysis.spotting import SpotCurve, SpottedInterval

AROUND_S = 5.0  # seconds either side of an apex in the "around each expression" plots
TRACE_RATE = 20.0  # Hz: heart rate and EDA are averaged down to this for the plots


@dataclass(frozen=True)
class Mark:
    """An interval on a clip's timeline, in seconds from its first frame."""

    onset: float
    apex: float | None
    offset: float
    kind: str  # micro | macro
    label: str = ""  # annotated: the emotion
    matched: bool = False  # IoU >= 0.5 with an interval of the other row (same kind)
    kept: bool = True  # spotted: in the result after the Candidate Clip Filter


@dataclass(frozen=True)
class Trace:
    """A signal over a clip: times in seconds from its first frame, and values."""

    t: np.ndarray
    y: np.ndarray


@dataclass
class ClipTimeline:
    """What one clip's timeline shows (small: signals averaged down to TRACE_RATE)."""

    session: str
    name: str
    trial: str
    duration: float
    truths: list[Mark] = field(default_factory=list)
    spotted: list[Mark] = field(default_factory=list)
    curve: Trace | None = None
    threshold: float | None = None
    heart: Trace | None = None
    eda: Trace | None = None


@dataclass(frozen=True)
class TruthSpan:
    """An annotated interval as frame indices within the clip."""

    onset: int
    apex: int | None
    offset: int
    kind: str
    emotion: str = ""


def clip_timeline(
    session: str, name: str, trial: str, times: np.ndarray,
    spotted: Sequence[SpottedInterval], kept: set[SpottedInterval],
    truths: Sequence[TruthSpan], curve: SpotCurve | None,
    heart: tuple[np.ndarray, np.ndarray] | None, eda: tuple[np.ndarray, np.ndarray] | None,
) -> ClipTimeline:
    """A clip's timeline from its frame times (session clock), spotting result, annotated
    intervals, and session-clock (times, values) of heart rate and EDA, each optional."""
    t0 = float(times[0])

    def sec(i: float) -> float:
        return float(np.interp(i, np.arange(len(times)), times)) - t0

    result = [s for s in spotted if s in kept]  # what the evaluation scores
    pairs = _matches(result, truths)
    found_spots = {id(result[ci]) for ci, _ in pairs}
    found_truths = {gi for _, gi in pairs}
    marks = [Mark(sec(s.onset), sec(s.apex), sec(s.offset), s.kind,
                  matched=id(s) in found_spots, kept=s in kept) for s in spotted]
    truth_marks = [Mark(sec(g.onset), None if g.apex is None else sec(g.apex), sec(g.offset),
                        g.kind, g.emotion, matched=i in found_truths)
                   for i, g in enumerate(truths)]
    duration = float(times[-1]) - t0
    return ClipTimeline(
        session, name, trial, duration, truth_marks, marks,
        Trace(np.array([sec(f) for f in curve.frames]), curve.values) if curve else None,
        curve.threshold if curve else None,
        _trace(heart, t0, duration), _trace(eda, t0, duration))


def _matches(spotted: Sequence[SpottedInterval], truths: Sequence[TruthSpan]
             ) -> list[tuple[int, int]]:
    """(spotted index, truth index) pairs as evaluation.py matches them (MEGC rules)."""
    pairs = greedy_pairs(
        (iou, ci, gi)
        for ci, s in enumerate(spotted)
        for gi, g in enumerate(truths)
        if s.kind == g.kind
        and (iou := frame_iou((s.onset, s.offset), (g.onset, g.offset))) >= IOU_THRESHOLD
    )
    return [(ci, gi) for _, ci, gi in pairs]


def _trace(signal: tuple[np.ndarray, np.ndarray] | None, t0: float, duration: float
           ) -> Trace | None:
    """The stretch of a session-clock signal over the clip (plus AROUND_S either side),
    averaged down to TRACE_RATE."""
    if signal is None:
        return None
    times, values = signal
    lo, hi = np.searchsorted(times, (t0 - AROUND_S, t0 + duration + AROUND_S))
    t, y = times[lo:hi] - t0, np.asarray(values[lo:hi], dtype=float)
    if len(t) < 2:
        return None
    step = max(1, round(1.0 / (TRACE_RATE * float(np.median(np.diff(t))))))
    n = len(t) // step * step
    if n == 0:
        return Trace(t, y)
    return Trace(t[:n].reshape(-1, step).mean(axis=1), y[:n].reshape(-1, step).mean(axis=1))


def timelines_section(timelines: Sequence[ClipTimeline]) -> str:
    """Every clip's timeline figure with a caption saying what it shows."""
    parts = ["<h2 id='timelines'>Clips: spotted against annotated</h2>"]
    if not timelines:
        return parts[0] + "<p>No video clip was analysed.</p>"
    parts.append(
        "<p class='note'>Each clip: top, the annotated intervals (blue: found by the spotter, "
        "grey: missed) and the spotted ones (green: matches an annotation with IoU &ge; 0.5, "
        "red: no match, hatched: candidate the Candidate Clip Filter left out; thin bars: "
        "macro-expressions); then the "
        "micro spotting curve in noise units with its threshold, the ECG heart rate and the "
        "skin conductance (EDA), annotated apexes as dotted lines; emotions by their first three "
        "letters. Right: heart rate and EDA "
        f"&plusmn;{AROUND_S:g} s around each annotated apex (or each spotted one without "
        "annotations), as the change from the value at the apex; black: their mean.</p>")
    for t in timelines:
        parts.append(f"<figure>{img(figure_uri(timeline_figure(t)), _title(t))}"
                     f"<figcaption>{html.escape(_caption(t))}</figcaption></figure>")
    return "".join(parts)


def _title(t: ClipTimeline) -> str:
    return f"{t.session} / {t.name}" + (f" (trial {t.trial})" if t.trial else "")


def _caption(t: ClipTimeline) -> str:
    kept = [m for m in t.spotted if m.kept]
    hits = sum(m.matched for m in kept)
    truths = (f"{len(t.truths)} annotated ({sum(m.kind == 'micro' for m in t.truths)} micro), "
              f"{sum(m.matched for m in t.truths)} found" if t.truths else "no annotations")
    return (f"{_title(t)}, {t.duration:.1f} s: {truths}; {len(kept)} spotted, {hits} matching"
            + ("" if t.heart is not None else "; no ECG")
            + ("" if t.eda is not None else "; no EDA"))


TRUTH_COLOURS = {True: "#4477aa", False: "#aaaaaa"}  # annotated: found / missed
SPOT_COLOURS = {True: "#228833", False: "#cc3311"}  # spotted: matching / not


def timeline_figure(t: ClipTimeline) -> Figure:
    """The clip's four stacked panels (intervals, curve, HR, EDA) and the two panels of
    heart rate and EDA around each expression."""
    fig = Figure(figsize=(12.4, 4.8))  # no pyplot: safe in worker threads
    grid = fig.add_gridspec(4, 2, width_ratios=(3.2, 1), height_ratios=(1.1, 1, 1, 1),
                            hspace=0.12, wspace=0.16, left=0.07, right=0.99, top=0.93,
                            bottom=0.1)
    axes = [fig.add_subplot(grid[0, 0])]
    axes += [fig.add_subplot(grid[i, 0], sharex=axes[0]) for i in (1, 2, 3)]
    _intervals(axes[0], t)
    _line(axes[1], t.curve, "flow (MAD)", "#555555", "no spotting curve (clip too short)")
    if t.curve is not None and t.threshold is not None:
        axes[1].axhline(t.threshold, color="#cc3311", lw=0.8, ls="--")
    _line(axes[2], t.heart, "HR (bpm)", "#aa3377", "no ECG: no heart rate")
    _line(axes[3], t.eda, "EDA (µS)", "#228833", "no EDA channel")
    for ax in axes[1:]:
        for m in t.truths:
            if m.apex is not None:
                ax.axvline(m.apex, color="#4477aa", lw=0.7, ls=":")
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel("seconds from the clip's first frame")
    axes[0].set_xlim(0, max(t.duration, 1e-3))
    apexes, source = _apexes(t)
    right = grid[:, 1].subgridspec(2, 1, hspace=0.45)
    for row, (trace, unit) in enumerate(((t.heart, "bpm"), (t.eda, "µS"))):
        ax = fig.add_subplot(right[row, 0])
        _around(ax, trace, apexes, f"{'HR' if row == 0 else 'EDA'} change ({unit})", source)
    fig.suptitle(_title(t), x=0.07, ha="left", fontsize=11)
    return fig


def _intervals(ax: Axes, t: ClipTimeline) -> None:
    for y, marks, colours in ((1, t.truths, TRUTH_COLOURS), (0, t.spotted, SPOT_COLOURS)):
        for m in marks:
            height = 0.7 if m.kind == "micro" else 0.3  # macro-expressions: thin bars
            ax.barh(y, max(m.offset - m.onset, 0.02), left=m.onset, height=height,
                    color=colours[m.matched] if m.kept else "none",
                    edgecolor=colours[m.matched], hatch=None if m.kept else "///", lw=0.6)
            if m.label:
                ax.text((m.onset + m.offset) / 2, y + 0.36, m.label[:3], fontsize=6,
                        ha="center", va="bottom", clip_on=True)
    ax.set_yticks([0, 1], ["spotted", "annotated"])
    ax.set_ylim(-0.5, 1.75)


def _line(ax: Axes, trace: Trace | None, label: str, colour: str, missing: str) -> None:
    ax.set_ylabel(label, fontsize=8)
    ax.tick_params(labelsize=7)
    if trace is None or len(trace.t) == 0:
        ax.text(0.5, 0.5, missing, transform=ax.transAxes, ha="center", va="center",
                color="#777777", fontsize=8)
        ax.set_yticks([])
        return
    ax.plot(trace.t, trace.y, color=colour, lw=0.8)


def _apexes(t: ClipTimeline) -> tuple[list[float], str]:
    """Annotated apexes (onset when none is given), else the spotted result's apexes."""
    if t.truths:
        return [m.apex if m.apex is not None else m.onset for m in t.truths], "annotated"
    return [m.apex for m in t.spotted if m.kept and m.apex is not None], "spotted"


def _around(ax: Axes, trace: Trace | None, apexes: list[float], label: str,
            source: str) -> None:
    """The signal +-AROUND_S around each apex, minus its value at the apex, and the mean."""
    ax.tick_params(labelsize=7)
    ax.set_title(f"{label}, {len(apexes)} {source} apex(es)", fontsize=8)
    ax.axvline(0, color="#999999", lw=0.6)
    grid = np.linspace(-AROUND_S, AROUND_S, int(2 * AROUND_S * TRACE_RATE) + 1)
    rows = []
    for apex in apexes:
        if trace is None or trace.t[0] > apex - AROUND_S or trace.t[-1] < apex + AROUND_S:
            continue  # not covered by the recording: no partial curve
        row = np.interp(grid + apex, trace.t, trace.y)
        rows.append(row - np.interp(apex, trace.t, trace.y))
        ax.plot(grid, rows[-1], color="#bbbbbb", lw=0.6)
    if rows:
        ax.plot(grid, np.mean(rows, axis=0), color="black", lw=1.4)
    else:
        ax.text(0.5, 0.5, "no signal around an apex", transform=ax.transAxes, ha="center",
                va="center", color="#777777", fontsize=8)
    ax.set_xlim(-AROUND_S, AROUND_S)
    ax.set_xlabel("s from apex", fontsize=7)
