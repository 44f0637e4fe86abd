"""'Analyze session...', Qt-free: running analysis.pipeline.analyze and reading its results.

analysis.pipeline is imported only when an analysis runs (it loads OpenCV, NeuroKit2 and
scikit-learn). The results view shows the summary analyze() returns, the tables it wrote
(spotting.csv, concordance.csv), its PNG plots and report.html.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis import AnalysisCancelled
from recordings.store.links import session_chain

Progress = Callable[[float, str], None]
Analyze = Callable[..., dict[str, Any]]
TABLES = ("spotting.csv", "concordance.csv")


@dataclass
class AnalysisResult:
    """What the results view shows: summary, tables (lists of dicts), PNG plots, the report."""

    out_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)
    report: Path | None = None


def default_out_dir(session: Path) -> Path:
    """Where a session's analysis goes: OUTPUT/analysis/SESSION (the session stays as recorded)."""
    return session.parent / "analysis" / session.name


def read_result(summary: Mapping[str, Any], out_dir: Path) -> AnalysisResult:
    """The summary analyze() returned, with the tables, plots and report it wrote."""
    tables = {}
    for name in TABLES:
        path = out_dir / name
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as fh:
                tables[path.stem] = list(csv.DictReader(fh))
    report = out_dir / "report.html"
    return AnalysisResult(out_dir, dict(summary), tables, sorted(out_dir.glob("*.png")),
                          report if report.is_file() else None)


def run_analysis(paths: list[Path], out_dir: Path, progress: Progress,
                 cancel: threading.Event, analyze: Analyze | None = None) -> AnalysisResult:
    """Run the analysis (in the caller's thread) and read its results; AnalysisCancelled
    when the cancel event stopped it."""
    if analyze is None:
        from analysis.pipeline import analyze
    # A resumed session is analysed with the crashed session(s) it continues.
    paths = [p for path in paths for p in (
        session_chain(path) if (path / "session.h5").exists() else [path])]
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = analyze(paths, out_dir, progress=progress, cancel=cancel)
    if cancel.is_set():
        raise AnalysisCancelled("analysis cancelled")
    return read_result(summary, out_dir)


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Column names in first-seen order over all rows."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def cell_text(value: Any) -> str:
    """A table cell: floats to 4 significant digits, None empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summary_lines(summary: Mapping[str, Any], indent: str = "") -> list[str]:
    """The summary dict as indented 'key: value' lines."""
    lines = []
    for key, value in summary.items():
        if isinstance(value, Mapping):
            lines.append(f"{indent}{key}:")
            lines += summary_lines(value, indent + "  ")
        else:
            lines.append(f"{indent}{key}: {cell_text(value)}")
    return lines


def empty_reason(table: str, summary: Mapping[str, Any]) -> str:
    """Why a table or the plots came out empty, in a sentence for its tab."""
    if table == "spotting":
        return ("No interval was spotted: the spotter found no movement that looks "
                "like an expression (or no face to look at). spotting_summary.json still "
                "scores the ground truth against nothing (recall 0).")
    if table == "concordance":
        return ("No concordance test: it needs micro-expressions with physiology around their "
                "apex and epochs free of other expressions.")
    if table == "plots":
        skipped = summary.get("recognition", {}).get("skipped")
        why = f"recognition was skipped ({skipped})" if skipped else "no recognition ran"
        return f"No plots: they show recognition results, and {why}."
    return f"{table}.csv has no rows."
