"""One rater's ratings file (CSV): a commented header, then one row per clip shown.

docs/stimuli.md describes the format. Rows are appended and flushed to disk one by one, so a
crash loses at most the clip being rated, and a later run with the same rater resumes.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core.expressions import EMOTIONS
from protocols.report_form import SCALE
from recordings.store.metadata import validate_participant_id

FORMAT = "melab ratings 1"
COLUMNS = ("rater", "position", "clip", "status", "emotion", "valence", "arousal", "rt_s",
           "written")
STATUSES = ("answered", "timeout", "clip_error")  # only "answered" rows carry answers


class RatingsError(ValueError):
    """A ratings file that cannot be used; the message names file and line."""


def validate_rater_id(rater: str) -> str:
    """Return rater unchanged if it follows the participant ID rules, else raise ValueError."""
    try:
        return validate_participant_id(rater)
    except ValueError as exc:
        raise ValueError(str(exc).replace("participant ID", "rater ID", 1)) from None


def ratings_path(folder: str | Path, rater: str) -> Path:
    """Where a rater's file lives in a folder: ratings_<RATER>.csv."""
    return Path(folder) / f"ratings_{validate_rater_id(rater)}.csv"


@dataclass(frozen=True)
class RatingsHeader:
    """Who rated, the seed and order of presentation, and which library."""

    rater: str
    seed: int
    order: tuple[str, ...]
    library: str = ""
    library_sha256: str = ""


@dataclass(frozen=True)
class Rating:
    """One row: a clip shown to a rater and what they answered (empty unless answered)."""

    rater: str
    position: int  # 1-based place of the clip in the rater's order
    clip: str
    status: str
    emotion: str = ""
    valence: int | None = None
    arousal: int | None = None
    rt_s: float | None = None
    written: str = ""  # local wall-clock time the row was written (ISO 8601)
    line: int = 0  # line in the file (0 for rows not read from a file)

    @property
    def answered(self) -> bool:
        """Whether the row carries the three answers."""
        return self.status == "answered"


@dataclass
class RatingsFile:
    """A ratings file read back: its header and rows, by clip."""

    path: Path
    header: RatingsHeader
    header_line: int
    rows: dict[str, Rating] = field(default_factory=dict)


def _header_lines(header: RatingsHeader) -> list[str]:
    return [f"# {FORMAT}", f"# rater: {header.rater}", f"# seed: {header.seed}",
            f"# library: {header.library}", f"# library_sha256: {header.library_sha256}",
            f"# order: {' '.join(header.order)}", ",".join(COLUMNS)]


class RatingsWriter:
    """Appends rows to a rater's file; creates it with its header if it does not exist."""

    def __init__(self, path: str | Path, header: RatingsHeader) -> None:
        self.path = Path(path)
        self.header = header
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "x", encoding="utf-8", newline="") as out:  # never overwrite
                out.write("\n".join(_header_lines(header)) + "\n")
                _sync(out)

    def add(self, rating: Rating) -> None:
        """Append one row and push it to the disk."""
        if rating.rater != self.header.rater:
            raise ValueError(f"row of rater {rating.rater!r} in {self.header.rater!r}'s file")
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(_cells(rating))
        with open(self.path, "a", encoding="utf-8", newline="") as out:
            out.write(text.getvalue())
            _sync(out)


def _sync(out: io.TextIOWrapper) -> None:
    out.flush()
    os.fsync(out.fileno())


def _cells(rating: Rating) -> list[str]:
    def text(value: object) -> str:
        return "" if value is None else str(value)

    written = rating.written or datetime.now().astimezone().isoformat(timespec="seconds")
    rt = "" if rating.rt_s is None else f"{rating.rt_s:.3f}"
    return [rating.rater, str(rating.position), rating.clip, rating.status, rating.emotion,
            text(rating.valence), text(rating.arousal), rt, written]


def read_ratings(path: str | Path, clip_ids: set[str] | None = None) -> RatingsFile:
    """Read and check a ratings file; raise RatingsError naming file and line on bad input.

    clip_ids: the library's clips; a row or order naming another clip is an error.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RatingsError(f"{path}: cannot read the ratings file: {exc}") from None
    lines = text.splitlines()
    header, table_line = _read_header(path, lines)
    unknown = [c for c in header.order if clip_ids is not None and c not in clip_ids]
    if unknown:
        raise RatingsError(f"{path}:{_meta_line(lines, 'order')}: the order names clip "
                           f"{unknown[0]!r}, which is not in the library")
    ratings = RatingsFile(path, header, _meta_line(lines, "rater"))
    reader = csv.reader(lines[table_line:])
    for offset, cells in enumerate(reader):
        number = table_line + offset + 1
        if not cells or not "".join(cells).strip():
            continue
        row = _parse_row(path, number, cells, header, clip_ids)
        first = ratings.rows.get(row.clip)
        if first is not None:
            raise RatingsError(f"{path}:{number}: rater {header.rater!r} rated clip "
                               f"{row.clip!r} twice (first at line {first.line})")
        ratings.rows[row.clip] = row
    return ratings


def _meta_line(lines: list[str], key: str) -> int:
    return next((i for i, line in enumerate(lines, 1) if line.startswith(f"# {key}:")), 1)


def _read_header(path: Path, lines: list[str]) -> tuple[RatingsHeader, int]:
    """The header and the index of the CSV column line."""
    if not lines or lines[0].strip() != f"# {FORMAT}":
        raise RatingsError(f"{path}:1: not a melab ratings file (its first line must be "
                           f"'# {FORMAT}')")
    meta: dict[str, str] = {}
    index = 1
    while index < len(lines) and lines[index].startswith("#"):
        key, _, value = lines[index][1:].partition(":")
        meta[key.strip()] = value.strip()
        index += 1
    if index >= len(lines) or next(csv.reader([lines[index]])) != list(COLUMNS):
        raise RatingsError(f"{path}:{index + 1}: expected the column line "
                           f"'{','.join(COLUMNS)}'")
    for key in ("rater", "seed", "order"):
        if key not in meta:
            raise RatingsError(f"{path}:{index}: the header has no '# {key}:' line")
    try:
        rater = validate_rater_id(meta["rater"])
        seed = int(meta["seed"])
    except ValueError as exc:
        raise RatingsError(f"{path}:{_meta_line(lines, 'rater')}: {exc}") from None
    header = RatingsHeader(rater, seed, tuple(meta["order"].split()), meta.get("library", ""),
                           meta.get("library_sha256", ""))
    return header, index + 1


def _parse_row(path: Path, number: int, cells: list[str], header: RatingsHeader,
               clip_ids: set[str] | None) -> Rating:
    where = f"{path}:{number}"
    if len(cells) != len(COLUMNS):
        raise RatingsError(f"{where}: {len(cells)} cells, expected {len(COLUMNS)} "
                           f"({','.join(COLUMNS)})")
    values = dict(zip(COLUMNS, (c.strip() for c in cells), strict=True))
    if values["rater"] != header.rater:
        raise RatingsError(f"{where}: rater {values['rater']!r} in the file of rater "
                           f"{header.rater!r}")
    clip = values["clip"]
    if clip_ids is not None and clip not in clip_ids:
        raise RatingsError(f"{where}: unknown clip id {clip!r} (not in the library)")
    if values["status"] not in STATUSES:
        raise RatingsError(f"{where}: status {values['status']!r} is not one of "
                           f"{', '.join(STATUSES)}")
    if not values["position"].isdigit():
        raise RatingsError(f"{where}: position {values['position']!r} is not a whole number")
    rating = Rating(header.rater, int(values["position"]), clip, values["status"],
                    written=values["written"], line=number)
    if not rating.answered:
        return rating
    emotion = values["emotion"]
    if emotion not in EMOTIONS:
        raise RatingsError(f"{where}: emotion {emotion!r} is not one of {', '.join(EMOTIONS)}")
    scores = {name: _score(where, name, values[name]) for name in ("valence", "arousal")}
    try:
        rt = float(values["rt_s"]) if values["rt_s"] else None
    except ValueError:
        raise RatingsError(f"{where}: rt_s {values['rt_s']!r} is not a number") from None
    return Rating(header.rater, rating.position, clip, rating.status, emotion,
                  scores["valence"], scores["arousal"], rt, rating.written, number)


def _score(where: str, name: str, text: str) -> int:
    if not (text.isdigit() and int(text) in SCALE):
        raise RatingsError(f"{where}: {name} {text!r} is outside {SCALE.start}..{SCALE.stop - 1} "
                           "(a whole number)")
    return int(text)


def read_rating_files(paths: list[Path], clip_ids: set[str]) -> list[RatingsFile]:
    """Read several raters' files; a rater found in two files is an error naming both."""
    files: list[RatingsFile] = []
    seen: dict[str, RatingsFile] = {}
    for path in paths:
        ratings = read_ratings(path, clip_ids)
        first = seen.get(ratings.header.rater)
        if first is not None:
            raise RatingsError(f"{path}:{ratings.header_line}: rater "
                               f"{ratings.header.rater!r} also rated in {first.path} "
                               "(duplicate rater; keep one file per rater)")
        seen[ratings.header.rater] = ratings
        files.append(ratings)
    return files
