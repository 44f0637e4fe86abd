"""FACS coding files of facial expressions: import and inter-coder agreement.

Imports coding files (CSV or XLSX) in two common layouts:

* frame-based, CASME II-style: Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame,
  Action Units ('4+7', 'R12', 'AU1+AU2'), Estimated Emotion;
* time-based: subject, session, trial, onset_s/apex_s/offset_s (or '(ms)'), aus, emotion.

Headers are matched case-, space- and punctuation-insensitively ('Onset Frame', 'onset_frame'
and 'OnsetFrame' are the same column). Missing apex or offset is written '/', '-', 'NA' or
left empty (CASME convention); CAS(ME)^2 writes an unknown offset as 0, which is read as
missing when the onset is later than frame 0. A bare 'Onset' column holds frames (CAS(ME)^3);
seconds need an explicit unit ('onset_s', 'Onset (s)', 'onset_time', 'onset (ms)').

Missing values are None in Python and -1 (frames) / NaN (seconds) on disk.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.evaluation import frame_iou, greedy_pairs, time_iou
from core.expressions import EMOTIONS, classify_frames, classify_kind
from recordings.store.annotations import Annotation

# Labels used by public datasets besides the seven basic emotions (CASME II, CAS(ME)^2, SAMM).
EXTRA_EMOTIONS = ("others", "repression", "tense", "positive", "negative")
_EMOTION_SYNONYMS = {
    "happy": "happiness",
    "happieness": "happiness",
    "joy": "happiness",
    "surprised": "surprise",
    "sad": "sadness",
    "fearful": "fear",
    "afraid": "fear",
    "angry": "anger",
    "disgusted": "disgust",
    "contemptuous": "contempt",
    "other": "others",
}
_MISSING = {"", "/", "-", "na", "n/a", "nan", "none", "?"}
_AU_TOKEN = re.compile(r"^(?:AU)?\s*([LRU])?\s*(?:AU)?\s*(\d{1,2})\s*([A-E])?$")
_AU_SPLIT = re.compile(r"[+,;&/\s]+")
_HEADER_SEARCH_ROWS = 30
_ONSET_FIELDS = {"onset_frame", "onset_s", "onset_ms"}
_TIME_DIVISOR = {"s": 1.0, "ms": 1000.0}  # divide: 1900 / 1000 is exactly 1.9

# field -> accepted normalized header names, in priority order (first present wins).
_HEADERS: dict[str, tuple[str, ...]] = {
    "subject": ("subject", "sub", "subjectid", "participant", "participantid"),
    "session": ("session", "sessionid", "sess"),
    "trial": (
        "trial",
        "trialid",
        "clip",
        "clipname",
        "filename",
        "video",
        "videoname",
        "sequence",
        "episode",
    ),
    "aus": ("actionunits", "actionunit", "aus", "au", "facs", "aucode", "aucodes"),
    "emotion": ("estimatedemotion", "emotion", "emotions", "emotionlabel", "label"),
    "coder": ("coder", "annotator", "rater"),
}
for _point in ("onset", "apex", "offset"):
    _HEADERS[f"{_point}_frame"] = (f"{_point}frame", _point, f"{_point}f", f"{_point}frames")
    _HEADERS[f"{_point}_s"] = tuple(
        f"{_point}{suffix}" for suffix in ("s", "sec", "secs", "seconds", "time", "times")
    )
    _HEADERS[f"{_point}_ms"] = (f"{_point}ms", f"{_point}timems")


@dataclass(frozen=True)
class AnnotationIssue:
    """One problem found in a coding file: where, and why."""

    file: str
    row: int  # spreadsheet row / CSV line, header = 1; 0 for a problem with the whole file
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        return f"{self.file}: {where}: {self.reason}"


class AnnotationError(ValueError):
    """Coding files with problems; nothing was imported. `issues` lists every problem."""

    def __init__(self, issues: Sequence[AnnotationIssue]) -> None:
        self.issues = list(issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"{len(self.issues)} problem(s) in annotation files:\n{lines}")


# ------------------------------------------------------------------------------ value parsing


def parse_aus(text: str) -> tuple[str, ...]:
    """'AU4+L10', '4 + 7', 'R12,14B' -> ('4', 'L10') ...; intensity letters are dropped.

    Laterality (L/R/U) is kept because CASME codes it as part of the AU; intensity (A-E) is
    dropped because agreement counts AUs, not intensities. Raises ValueError on bad tokens.
    """
    text = text.strip()
    if text.lower() in _MISSING:
        return ()
    text = re.sub(r"AU\s+", "AU", text.upper())  # 'AU 4' is one token
    out: list[str] = []
    for token in _AU_SPLIT.split(text):
        if not token:
            continue
        m = _AU_TOKEN.match(token)
        if m is None:
            raise ValueError(f"cannot read action unit {token!r} in {text!r}")
        code = f"{m.group(1) or ''}{int(m.group(2))}"
        if code not in out:
            out.append(code)
    return tuple(out)


def parse_emotion(text: str) -> str:
    """Normalized emotion label ('' when not coded); ValueError for an unknown label."""
    label = text.strip().lower()
    if label in _MISSING:
        return ""
    label = _EMOTION_SYNONYMS.get(label, label)
    if label not in EMOTIONS + EXTRA_EMOTIONS:
        raise ValueError(
            f"unknown emotion {text!r} (expected one of {', '.join(EMOTIONS + EXTRA_EMOTIONS)})"
        )
    return label


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # XLSX stores frame 46 as 46.0 and subject 1 as 1.0
    return str(value).strip()


def _parse_frame(text: str, name: str) -> int | None:
    if text.lower() in _MISSING:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ValueError(
            f"{name} {text!r} is not a frame number (a time column needs a "
            f"unit in its header, e.g. 'onset_s')"
        ) from None
    if not number.is_integer() or number < 0:
        raise ValueError(f"{name} {text!r} is not a frame number (whole number >= 0)")
    return int(number)


def _parse_seconds(text: str, name: str, divisor: float) -> float | None:
    if text.lower() in _MISSING:
        return None
    try:
        value = float(text) / divisor
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} {text!r} must be a finite time >= 0")
    return value


def _check_order(onset: float | None, apex: float | None, offset: float | None, unit: str) -> None:
    if onset is None:
        return
    if apex is not None and apex < onset:
        raise ValueError(f"apex ({apex} {unit}) before onset ({onset} {unit})")
    if offset is not None and offset <= onset:
        raise ValueError(f"offset ({offset} {unit}) not after onset ({onset} {unit})")
    if apex is not None and offset is not None and apex > offset:
        raise ValueError(f"apex ({apex} {unit}) after offset ({offset} {unit})")


# ------------------------------------------------------------------------------- file reading


def _normalize_header(text: str) -> str:
    text = text.lower().replace("(ms)", "ms").replace("(s)", "s")
    return re.sub(r"[^a-z0-9]", "", text)


def _map_columns(header: Sequence[str]) -> dict[str, int]:
    keys = [_normalize_header(h) for h in header]
    columns: dict[str, int] = {}
    for fieldname, aliases in _HEADERS.items():
        for alias in aliases:
            if alias in keys:
                columns[fieldname] = keys.index(alias)
                break
    return columns


def _header_ok(columns: Mapping[str, int]) -> bool:
    return "subject" in columns and bool(columns.keys() & _ONSET_FIELDS)


def _read_rows(path: Path, sheet: str | None) -> list[tuple[int, list[str]]]:
    """All rows of a CSV or XLSX file as text, with their 1-based row numbers."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            ws = book[sheet] if sheet else book.worksheets[0]
            return [
                (i, [_cell_text(v) for v in row])
                for i, row in enumerate(ws.iter_rows(values_only=True), start=1)
            ]
        finally:
            book.close()
    text = path.read_text(encoding="utf-8-sig")  # Excel writes a BOM in UTF-8 CSV
    try:
        dialect: Any = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text, newline=""), dialect)
    return [(i, [c.strip() for c in row]) for i, row in enumerate(rows, start=1)]


def _row_annotation(
    cells: Mapping[str, str], fps: float | None, defaults: Mapping[str, str], has: set[str]
) -> Annotation:
    """One annotation from a row's text by field name; ValueError with the reason otherwise."""
    subject = cells.get("subject", "")
    if not subject:
        raise ValueError("subject is empty")
    trial = cells.get("trial", "")
    if "trial" in has and not trial:
        raise ValueError("trial/clip name is empty")
    frames = {
        p: _parse_frame(cells.get(f"{p}_frame", ""), f"{p} frame")
        for p in ("onset", "apex", "offset")
    }
    onset_f = frames["onset"]
    for point in ("apex", "offset"):  # CAS(ME)^2 writes an unknown frame as 0
        if frames[point] == 0 and onset_f:
            frames[point] = None
    seconds: dict[str, float | None] = {}
    for p in ("onset", "apex", "offset"):
        unit = "ms" if f"{p}_ms" in has and f"{p}_s" not in has else "s"
        seconds[p] = _parse_seconds(cells.get(f"{p}_{unit}", ""), f"{p} time", _TIME_DIVISOR[unit])
    if onset_f is None and seconds["onset"] is None:
        raise ValueError("no onset (frame or time)")
    _check_order(onset_f, frames["apex"], frames["offset"], "frame")
    _check_order(seconds["onset"], seconds["apex"], seconds["offset"], "s")
    if seconds["onset"] is not None:
        kind = classify_kind(seconds["onset"], seconds["apex"], seconds["offset"])
    elif fps is None:
        raise ValueError("frame-based row needs the clip's fps to tell micro from macro")
    else:
        kind = classify_frames(onset_f, frames["apex"], frames["offset"], fps)
    if kind is None:
        raise ValueError("neither apex nor offset known: cannot tell micro from macro")
    return Annotation(
        subject=subject,
        session=cells.get("session", "") or defaults["session"],
        trial=trial,
        onset_frame=onset_f,
        apex_frame=frames["apex"],
        offset_frame=frames["offset"],
        onset_s=seconds["onset"],
        apex_s=seconds["apex"],
        offset_s=seconds["offset"],
        aus=parse_aus(cells.get("aus", "")),
        emotion=parse_emotion(cells.get("emotion", "")),
        kind=kind,
        coder=cells.get("coder", "") or defaults["coder"],
    )


def _read_file(
    path: Path,
    fps: float | None,
    defaults: Mapping[str, str],
    sheet: str | None,
    issues: list[AnnotationIssue],
) -> list[Annotation]:
    name = str(path)
    try:
        rows = [(i, r) for i, r in _read_rows(path, sheet) if any(r)]  # skip blank rows
    except (OSError, ValueError, KeyError, csv.Error, zipfile.BadZipFile) as exc:
        issues.append(AnnotationIssue(name, 0, f"cannot read file: {exc}"))
        return []
    if not rows:
        issues.append(AnnotationIssue(name, 0, "no header row"))
        return []
    # The header is the first row naming a subject and an onset column; rows above it are
    # titles or notes (SAMM's sheet starts with a block of them).
    start = next(
        (k for k, (_, r) in enumerate(rows[:_HEADER_SEARCH_ROWS]) if _header_ok(_map_columns(r))),
        None,
    )
    if start is None:
        header_row, header = rows[0]
        found = _map_columns(header)
        missing = [] if "subject" in found else ["subject"]
        if not found.keys() & _ONSET_FIELDS:
            missing.append("onset (frame or seconds)")
        issues.append(
            AnnotationIssue(
                name, header_row, f"header has no column for {', '.join(missing)}: {header}"
            )
        )
        return []
    columns = _map_columns(rows[start][1])
    rows = rows[start:]
    has = set(columns)
    if fps is None and not has & {"onset_s", "onset_ms"}:
        issues.append(
            AnnotationIssue(
                name, 0, "frame-based file: give the clip's fps to tell micro from macro"
            )
        )
        fps = 1.0  # placeholder so the rows' own problems are still all reported
    out = []
    for number, row in rows[1:]:
        cells = {f: (row[c] if c < len(row) else "") for f, c in columns.items()}
        try:
            out.append(_row_annotation(cells, fps, defaults, has))
        except ValueError as exc:
            issues.append(AnnotationIssue(name, number, str(exc)))
    return out


def read_annotations(
    paths: str | Path | Iterable[str | Path],
    *,
    fps: float | None = None,
    coder: str = "",
    session: str | int = "",
    sheet: str | None = None,
) -> list[Annotation]:
    """Import coding files (CSV/XLSX); raise one AnnotationError listing every bad row.

    fps converts frame numbers to time for the micro/macro rule (needed unless rows carry
    seconds). coder and session fill in values the files do not have columns for.
    """
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be > 0, not {fps}")
    if isinstance(paths, str | Path):
        paths = [paths]
    defaults = {"coder": coder, "session": str(session)}
    issues: list[AnnotationIssue] = []
    out: list[Annotation] = []
    for path in paths:
        out += _read_file(Path(path), fps, defaults, sheet, issues)
    if issues:
        raise AnnotationError(issues)  # all or nothing: never a half-imported coding
    return out


# ------------------------------------------------------------------------------- agreement


@dataclass(frozen=True)
class MatchedPair:
    """One expression found by both coders, with its AU agreement."""

    a: Annotation
    b: Annotation
    iou: float
    common: int  # |AU(A1) ∩ AU(A2)|
    total: int  # All_AU = |AU(A1)| + |AU(A2)|

    @property
    def r(self) -> float:
        """2 * common / All_AU (MMME eq. 3); NaN when neither coder coded an AU."""
        return 2 * self.common / self.total if self.total else math.nan


@dataclass(frozen=True)
class Agreement:
    """Inter-coder agreement over the expressions both coders found."""

    pairs: list[MatchedPair]
    only_a: list[Annotation] = field(default_factory=list)
    only_b: list[Annotation] = field(default_factory=list)

    @property
    def r(self) -> float:
        """Overall r pooled over matched MEs: 2 * sum(common) / sum(All_AU)."""
        total = sum(p.total for p in self.pairs)
        return 2 * sum(p.common for p in self.pairs) / total if total else math.nan

    @property
    def mean_r(self) -> float:
        """Mean of the per-ME r (MEs where neither coder coded an AU are left out)."""
        values = [p.r for p in self.pairs if p.total]
        return float(np.mean(values)) if values else math.nan


def annotation_iou(a: Annotation, b: Annotation) -> float:
    """Overlap of two annotations: frame IoU if both have frames, else time IoU, else 0."""

    def end(onset: Any, apex: Any, offset: Any) -> Any:
        return offset if offset is not None else apex if apex is not None else onset

    if a.onset_frame is not None and b.onset_frame is not None:
        return frame_iou(
            (a.onset_frame, end(a.onset_frame, a.apex_frame, a.offset_frame)),
            (b.onset_frame, end(b.onset_frame, b.apex_frame, b.offset_frame)),
        )
    if a.onset_s is not None and b.onset_s is not None:
        return time_iou(
            (a.onset_s, end(a.onset_s, a.apex_s, a.offset_s)),
            (b.onset_s, end(b.onset_s, b.apex_s, b.offset_s)),
        )
    return 0.0


def coder_agreement(
    coder_a: Sequence[Annotation], coder_b: Sequence[Annotation], min_iou: float = 0.0
) -> Agreement:
    """Match two coders' expressions per clip by overlap, then score AU agreement (eq. 3).

    Pairs are formed greedily by descending IoU (one-to-one, same subject/session/trial);
    a pair needs IoU > 0 and >= min_iou. Unmatched expressions are listed, not scored.
    """
    matched = greedy_pairs(
        (iou, i, j)
        for i, a in enumerate(coder_a)
        for j, b in enumerate(coder_b)
        if a.clip == b.clip and (iou := annotation_iou(a, b)) > 0 and iou >= min_iou
    )
    pairs = []
    for iou, i, j in matched:
        a, b = coder_a[i], coder_b[j]
        pairs.append(
            MatchedPair(a, b, iou, len(set(a.aus) & set(b.aus)), len(set(a.aus)) + len(set(b.aus)))
        )
    used_a = {i for _, i, _ in matched}
    used_b = {j for _, _, j in matched}
    return Agreement(
        pairs,
        [a for i, a in enumerate(coder_a) if i not in used_a],
        [b for j, b in enumerate(coder_b) if j not in used_b],
    )
