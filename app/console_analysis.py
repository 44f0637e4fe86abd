"""'Analyze session...', Qt-free: finding the analysis, running it, reading its results.

The console calls one entry point, `analysis.pipeline.analyze(paths, out_dir, progress=...,
cancel=...)`, imported only when asked for, so the console works before the analysis exists.
Its result may be a dict or an object with `summary`, `tables`, `plots`, `report`; whatever it
leaves out is looked for in out_dir (*.png plots, report.html).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENTRY_POINT = "analysis.pipeline.analyze"
Progress = Callable[[float, str], None]
Analyze = Callable[..., Any]
RESULT_KEYS = ("summary", "tables", "plots", "report")


class AnalysisUnavailable(RuntimeError):
    """The offline analysis is not part of this installation (yet)."""


class AnalysisCancelled(RuntimeError):
    """The experimenter cancelled the analysis."""


@dataclass
class AnalysisResult:
    """What the results view shows: summary, tables (lists of dicts), PNG plots, the report."""

    out_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)
    report: Path | None = None


def find_analyze() -> Analyze:
    """The analysis entry point; AnalysisUnavailable says clearly when it is missing."""
    module_name, _, name = ENTRY_POINT.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in ("analysis", module_name):
            raise  # the pipeline exists but something it needs is missing: show that
        raise AnalysisUnavailable(
            f"The offline analysis is not available in this installation: {module_name} is "
            f"missing (step 6 of melab is still being built). Sessions are recorded and "
            f"synchronised; analyse them once {ENTRY_POINT}() exists.") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise AnalysisUnavailable(f"{module_name} has no {name}() function yet")
    return function  # type: ignore[no-any-return]


def default_out_dir(session: Path) -> Path:
    """Where a session's analysis goes: OUTPUT/analysis/SESSION (the session stays as recorded)."""
    return session.parent / "analysis" / session.name


def progress_of(*args: Any) -> tuple[float | None, str]:
    """(fraction 0..1 or None, message) from what a progress callback was given.

    Accepts (fraction), (fraction, message), (done, total), (done, total, message), (message).
    """
    numbers = [a for a in args if isinstance(a, int | float) and not isinstance(a, bool)]
    message = " ".join(str(a) for a in args if isinstance(a, str))
    if len(numbers) >= 2 and numbers[1] > 0:
        fraction: float | None = numbers[0] / numbers[1]
    elif numbers:
        value = float(numbers[0])
        fraction = value / 100 if value > 1 else value  # a percentage, sometimes
    else:
        fraction = None
    if fraction is not None:
        fraction = min(1.0, max(0.0, fraction))
    return fraction, message


def _get(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(key)
    return getattr(value, key, None)


def _is_table(value: Any) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str) and bool(value)
            and all(isinstance(row, Mapping) for row in value))


def read_result(value: Any, out_dir: Path) -> AnalysisResult:
    """An AnalysisResult from whatever analyze() returned, completed from out_dir."""
    summary = _get(value, "summary")
    if summary is None and isinstance(value, Mapping):
        summary = {k: v for k, v in value.items() if k not in RESULT_KEYS}
    summary = dict(summary or {})
    tables = dict(_get(value, "tables") or {})
    if isinstance(value, Mapping):  # tables may also sit beside the summary
        tables.update({k: v for k, v in value.items() if k not in RESULT_KEYS and _is_table(v)})
    for key, item in list(summary.items()):
        if _is_table(item):  # tables inside the summary show as tables, not as text
            tables.setdefault(key, item)
            del summary[key]
    plots = [Path(p) for p in (_get(value, "plots") or [])]
    if not plots and out_dir.is_dir():
        plots = sorted(out_dir.rglob("*.png"))
    report = _get(value, "report")
    if report is None and (out_dir / "report.html").is_file():
        report = out_dir / "report.html"
    return AnalysisResult(out_dir, summary, {str(k): list(v) for k, v in tables.items()},
                          plots, Path(report) if report else None)


def run_analysis(paths: list[Path], out_dir: Path, progress: Progress,
                 cancel: threading.Event, analyze: Analyze | None = None) -> AnalysisResult:
    """Run the analysis (in the caller's thread) and read its results."""
    analyze = analyze or find_analyze()
    out_dir.mkdir(parents=True, exist_ok=True)

    def report(*args: Any) -> None:
        fraction, message = progress_of(*args)
        progress(-1.0 if fraction is None else fraction, message)

    value = analyze(paths, out_dir, progress=report, cancel=cancel)
    if cancel.is_set():
        raise AnalysisCancelled("analysis cancelled")
    return read_result(value, out_dir)


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
