"""The rated library as files: clip_ratings.csv, reliability.csv, selection.csv, report.html."""

from __future__ import annotations

import csv
import html
import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from core.expressions import EMOTIONS
from protocols.norms import ClipNorms, RatingStudy
from protocols.selection import Selection

# One colour per emotion (Okabe-Ito, readable by colour-blind readers).
COLOURS = dict(zip(EMOTIONS, ("#E69F00", "#56B4E9", "#0072B2", "#009E73", "#D55E00",
                              "#CC79A7", "#000000"), strict=True))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows([[_fmt(v) for v in row] for row in rows])
    return path


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def clip_rows(study: RatingStudy) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of clip_ratings.csv."""
    header = [f.name for f in fields(ClipNorms)]
    return header, [list(asdict(c).values()) for c in study.clips]


def reliability_rows(study: RatingStudy) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of reliability.csv: alpha, then each ICC form, per scale."""
    header = ["scale", "statistic", "form", "value", "ci95_low", "ci95_high", "raters",
              "clips", "clips_left_out", "raters_left_out", "note"]
    rows = []
    for scale, rel in study.reliability.items():
        common = [rel.raters, rel.clips, rel.clips_left_out, " ".join(rel.raters_left_out),
                  rel.note]
        rows.append([scale, "cronbach_alpha", "raters as items, clips as cases", rel.alpha,
                     *rel.alpha_ci, *common])
        rows += [[scale, icc.form, f"{icc.shrout_fleiss}: {icc.description}", icc.value,
                  icc.ci_low, icc.ci_high, *common] for icc in rel.iccs]
    return header, rows


def selection_rows(selection: Selection) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of selection.csv: every rated clip, its role and why."""
    header = ["clip", "emotion", "role", "rank", "hit_rate", "arousal_mean", "ratings",
              "duration", "reason"]
    return header, [[c.clip.clip, c.clip.emotion, c.role or "not chosen", c.rank or "",
                     c.clip.hit_rate, c.clip.arousal_mean, c.clip.ratings, c.clip.duration,
                     c.reason] for c in selection.choices]


def plot_plane(study: RatingStudy, path: Path, chosen: set[str] | None = None) -> Path:
    """Each clip at its mean valence and arousal, coloured by intended emotion."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    for emotion in EMOTIONS:
        clips = [c for c in study.clips if c.emotion == emotion]
        if not clips:
            continue
        ax.scatter([c.valence_mean for c in clips], [c.arousal_mean for c in clips],
                   color=COLOURS[emotion], label=emotion, alpha=0.8,
                   edgecolors=["black" if chosen and c.clip in chosen else "none"
                               for c in clips], linewidths=1.5)
    ax.set(xlim=(1, 9), ylim=(1, 9), xlabel="valence (mean)", ylabel="arousal (mean)",
           title="Clips on the valence-arousal plane" + (" (outlined: chosen)" if chosen else ""))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(out: Path, study: RatingStudy, selection: Selection | None = None,
                 title: str = "Stimulus ratings") -> Path:
    """Write the CSVs, the plot and report.html into out; return the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    header, rows = reliability_rows(study)
    _write_csv(out / "reliability.csv", header, rows)
    sections.append("<h2>Reliability</h2>" + _table(header, rows))
    missing = {r: n for r, n in study.missing_by_rater.items() if n}
    sections.append(f"<h2>Raters</h2><p>{len(study.raters)} raters; "
                    f"{len(missing)} with missing answers"
                    + "".join(f"<br>{html.escape(r)}: {n} clip(s) without an answer"
                              for r, n in missing.items()) + "</p>")
    chosen = None
    if selection is not None:
        chosen = {c.clip for c in selection.chosen("main")}
        header, rows = selection_rows(selection)
        _write_csv(out / "selection.csv", header, rows)
        sections.append("<h2>Selection</h2>" + _table(header, rows))
    plot = plot_plane(study, out / "valence_arousal.png", chosen)
    sections.insert(0, f'<h2>Valence-arousal plane</h2><img src="{plot.name}" alt="plane">')
    header, rows = clip_rows(study)
    _write_csv(out / "clip_ratings.csv", header, rows)
    sections.append("<h2>Clips</h2>" + _table(header, rows))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
            "collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}</style>"
            f"</head><body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>")
    report = out / "report.html"
    report.write_text(page, encoding="utf-8")
    return report
