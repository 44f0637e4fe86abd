"""report.html: the analysis results as tables and plots a person reads in a browser."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: the analysis runs headless and in worker threads
import matplotlib.pyplot as plt

from core.expressions import KINDS


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return str(value)


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


STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
)


def write_report(
    out: Path, summary: dict[str, Any], concordance: Sequence[Any]
) -> Path:
    """Write report.html (and its PNG plots) into out."""
    body = "".join([
        "<h1>melab analysis</h1>",
        f"<p>{summary['sessions']} session(s); {summary['spotted']} intervals spotted.</p>",
        _face_section(summary.get("face")),
        _spotting_section(summary["spotting"]),
        _recognition_section(out, summary["recognition"]),
        _concordance_section(concordance),
    ])
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>melab analysis</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


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
    """Precision, recall, F1 and counts per kind, without and with the Candidate Clip Filter."""
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
        "<h2>Spotting (MEGC rules: IoU &ge; 0.5, counts pooled over clips)</h2>"
        + _table(["", "precision", "recall", "F1", "TP", "FP", "FN"], rows)
    )


def _recognition_section(out: Path, recognition: dict[str, Any]) -> str:
    """Scores per modality and task, with a UF1 plot and the fused confusion matrix."""
    parts = ["<h2>Recognition (leave-one-subject-out)</h2>"]
    if "skipped" in recognition:
        parts.append(f"<p>{html.escape(recognition['skipped'])}</p>")
    for task in ("3class", "7class"):
        if task not in recognition:
            continue
        scores = recognition[task]
        parts.append(f"<h3>{task}</h3>")
        parts.append(
            _table(
                ["modality", "Acc", "F1", "UF1", "UAR"],
                [[m, s["acc"], s["f1"], s["uf1"], s["uar"]] for m, s in scores.items()],
            )
        )
        parts.append(f'<img src="{_recognition_plot(out, task, scores)}">')
        if "fused" in scores:
            parts.append(f'<img src="{_confusion_plot(out, task, scores["fused"])}">')
    return "".join(parts)


def _concordance_section(concordance: Sequence[Any]) -> str:
    """The significant paired t-tests (at most 40; all of them are in concordance.csv)."""
    significant = [r for r in concordance if r.significance][:40]
    return (
        "<h2>Concordance (paired t-tests, before vs after each ME apex)</h2>"
        f"<p>{len(concordance)} tests, {len(significant)} shown (p &lt; 0.05); "
        "all in concordance.csv.</p>"
        + _table(
            ["feature", "epoch (s)", "before", "after", "t", "p", ""],
            [
                [r.feature, r.epoch_s, r.mean_before, r.mean_after, r.t, r.p, r.significance]
                for r in significant
            ],
        )
    )
