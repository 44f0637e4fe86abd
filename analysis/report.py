"""report.html: the analysis results as tables and plots a person reads in a browser."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: the analysis runs headless and in worker threads
import matplotlib.pyplot as plt

from analysis.concordance import MIN_PAIRS
from analysis.report_html import STYLE, img
from analysis.report_html import fmt as _fmt
from analysis.report_html import table as _table
from analysis.report_overview import overview_section
from analysis.report_timeline import ClipTimeline, timelines_section
from core.expressions import KINDS


def _save(fig: Any, path: Path) -> str:
    """Write a figure as PNG, free it, and return the file name for the page."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _recognition_plot(out: Path, task: str, scores: dict[str, Any]) -> str:
    names = list(scores)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(names, [scores[n]["uf1"] for n in names], color="#4477aa")
    ax.set_ylabel("UF1")
    ax.set_ylim(0, 1)
    ax.set_title(f"{task}: UF1 per modality (LOSO)")
    return _save(fig, out / f"recognition_{task}.png")


def _confusion_plot(out: Path, task: str, fused: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(4, 4))
    matrix = fused["confusion"]
    ax.imshow(matrix, cmap="Blues")
    labels = fused["labels"]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{task} fused")
    return _save(fig, out / f"confusion_{task}.png")


def write_report(
    out: Path, summary: dict[str, Any], concordance: Sequence[Any],
    overviews: dict[str, dict[str, Any]] | None = None,
    timelines: Sequence[ClipTimeline] = (),
) -> list[str]:
    """Write report.html (self-contained: plots embedded) and its PNG plots into out; return
    the plots' file names."""
    plots: list[str] = []
    body = "".join([
        "<h1>melab analysis</h1>",
        f"<p>{summary['sessions']} session(s); {summary['spotted']} intervals spotted.</p>",
        NAV,
        overview_section(overviews or {}),
        _signals_section(summary.get("signals", [])),
        _channels_section(summary.get("channels", {})),
        _face_section(summary.get("face")),
        _spotting_section(summary["spotting"]),
        timelines_section(timelines),
        _recognition_section(out, summary["recognition"], plots),
        _concordance_section(concordance),
    ])
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>melab analysis</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
    (out / "report.html").write_text(page, encoding="utf-8")
    return plots


def _signals_section(notes: Sequence[dict[str, Any]]) -> str:
    """Channels skipped (flat, too short) and outages, per session (all rows: signals.csv)."""
    if not notes:
        return ""
    return (
        "<h2>Signals as recorded</h2><p>Skipped channels and outages; features never span "
        "an outage (all channels and stretches in signals.csv).</p>"
        + _table(["subject", "session", "stream", "channel", "status", "detail"],
                 [[n["subject"], n["session"], n["stream"], n["channel"] or "(all)",
                   n["status"], n["detail"]] for n in notes])
    )


NAV = ("<nav><a href='#overview'>Sessions</a><a href='#spotting'>Spotting</a>"
       "<a href='#timelines'>Clips</a><a href='#recognition'>Recognition</a>"
       "<a href='#concordance'>Concordance</a></nav>")


def _channels_section(channels: dict[str, list[str]]) -> str:
    """Which stream and channel each signal of each session was read from, in which unit."""
    items = "".join(f"<li>{html.escape(session)}: {html.escape(line)}</li>"
                    for session, lines in channels.items() for line in lines)
    return f"<h2>Channels used</h2><ul>{items or '<li>no EEG or physiology</li>'}</ul>"


def _face_section(face: dict[str, Any] | None) -> str:
    """Frames with the face found, and every stretch without it (never spotted)."""
    if not face:
        return ""
    items = "".join(f"<li>{html.escape(m)}</li>" for m in face["messages"])
    return (
        "<h2>Face tracking</h2>"
        f"<p>Face found in {face['found']} of {face['frames']} frames (face_track.csv); "
        "frames without a face are never spotted.</p>"
        + (f"<ul>{items}</ul>" if items else "")
    )


def _spotting_section(spot: dict[str, Any]) -> str:
    """Precision, recall, F1 and counts per kind, without and with the Candidate Clip Filter;
    without annotations only the number of spotted intervals."""
    if not spot["annotated"]:
        return (
            "<h2 id='spotting'>Spotting</h2><p>No annotations: nothing to score against. Spotted "
            f"{spot['micro_spotted']} micro and {spot['macro_spotted']} macro intervals "
            f"({spot['micro_spotted_ccf']} micro after the Candidate Clip Filter); "
            "they are listed in spotting.csv.</p>"
        )
    rows = [
        [
            f"{kind}{' + CCF' if sfx else ''}",
            *(spot[f"{kind}_{measure}{sfx}"]
              for measure in ("precision", "recall", "f1", "tp", "fp", "fn")),
        ]
        for sfx in ("", "_ccf")
        for kind in (*KINDS, "overall")
    ]
    return (
        "<h2 id='spotting'>Spotting (MEGC rules: IoU &ge; 0.5, counts pooled over clips)</h2>"
        f"<p>Ground truth: {spot['micro_truth']} micro, {spot['macro_truth']} macro "
        "(n/a: no instance of that kind to score against).</p>"
        + _table(["", "precision", "recall", "F1", "TP", "FP", "FN"], rows)
    )


def _recognition_section(out: Path, recognition: dict[str, Any], plots: list[str]) -> str:
    """Scores per modality and task beside the class counts and chance levels, with a UF1
    plot and the fused confusion matrix (one row per class of the task)."""
    parts = ["<h2 id='recognition'>Recognition (leave-one-subject-out)</h2>"]
    if "skipped" in recognition:
        parts.append(f"<p>{html.escape(recognition['skipped'])}</p>")
    for task in ("3class", "7class"):
        if task not in recognition:
            continue
        scores = recognition[task]
        parts.append(f"<h3>{task}</h3>")
        first = next(iter(scores.values()))
        parts.append(_class_counts(first))
        parts.append(
            _table(
                ["modality", "Acc", "F1", "UF1", "UAR"],
                [[m, s["acc"], s["f1"], s["uf1"], s["uar"]] for m, s in scores.items()],
            )
        )
        plots.append(_recognition_plot(out, task, scores))
        parts.append(img(out / plots[-1], f"{task} UF1"))
        if "fused" in scores:
            plots.append(_confusion_plot(out, task, scores["fused"]))
            parts.append(img(out / plots[-1], f"{task} confusion"))
    return "".join(parts)


def _class_counts(scores: dict[str, Any]) -> str:
    """True samples per class and the chance levels the scores must be read against."""
    chance = scores["chance"]
    counts = ", ".join(f"{c} {n}" for c, n in zip(scores["labels"], scores["support"],
                                                   strict=True))
    return (
        f"<p>Samples per class: {html.escape(counts)}. Chance: always "
        f"{html.escape(str(chance['majority_class']))} gives Acc "
        f"{_fmt(chance['majority_acc'])}, UF1 {_fmt(chance['majority_uf1'])}, UAR "
        f"{_fmt(chance['uniform'])}; uniform guessing gives Acc and UAR "
        f"{_fmt(chance['uniform'])}.</p>"
    )


def _concordance_section(concordance: Sequence[Any]) -> str:
    """The paired t-tests significant after Benjamini-Hochberg (at most 40 shown; every row
    is in concordance.csv)."""
    tested = [r for r in concordance if r.tested]
    significant = [r for r in tested if r.significance]
    return (
        "<h2 id='concordance'>Concordance (paired t-tests, before vs after each ME apex)</h2>"
        f"<p>{len(tested)} tests run (features with &ge; {MIN_PAIRS} pairs), "
        f"{len(concordance) - len(tested)} not tested (fewer pairs); p corrected by "
        f"Benjamini-Hochberg over all {len(tested)} tests; {len(significant)} significant "
        f"(corrected p &lt; 0.05){', first 40 shown' if len(significant) > 40 else ''}; "
        "all rows in concordance.csv.</p>"
        + _table(
            ["feature", "epoch (s)", "pairs", "before", "after", "t", "p", "p (BH)", ""],
            [
                [r.feature, r.epoch_s, r.n_pairs, r.mean_before, r.mean_after, r.t, r.p,
                 r.p_fdr, r.significance]
                for r in significant[:40]
            ],
        )
    )
