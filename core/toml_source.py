"""A parsed TOML file that still knows the line of every table and key (tomllib gives none).

Shared by protocol files, stimulus manifests (protocols/) and rig profiles (recordings/rigs/).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.problems import Problem

KeyPath = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_NAME = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*({_NAME}(?:\s*\.\s*{_NAME})*)\s*=\s*(.*)$")
_TOML_ERROR_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def _split_dotted(name: str) -> tuple[str, ...]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", name)
    return tuple(p.strip("\"'") for p in parts)


def index_lines(text: str) -> dict[KeyPath, int]:
    """Map each table header and key (as a key path) to the 1-based line that defines it."""
    index: dict[KeyPath, int] = {}
    table: KeyPath = ()
    array_counts: dict[tuple[str, ...], int] = {}
    closing: str | None = None  # delimiter of a multi-line string we are inside
    for number, line in enumerate(text.splitlines(), start=1):
        if closing is not None:
            if closing in line:
                closing = None
            continue
        header = _HEADER.match(line)
        if header and not line.lstrip().startswith("#"):
            name = _split_dotted(header.group(2))
            if header.group(1) == "[[":
                position = array_counts.get(name, 0)
                array_counts[name] = position + 1
                table = (*name, position)
            else:
                table = name
            index.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key and not line.lstrip().startswith("#"):
            index.setdefault((*table, *_split_dotted(key.group(1))), number)
            value = key.group(2)
            for quote in ('"""', "'''"):
                # a multi-line string opens here when its delimiter appears an odd number of times
                if value.startswith(quote) and value.count(quote) % 2 == 1:
                    closing = quote
    return index


@dataclass
class TomlSource:
    """A TOML file's data plus the lines of its tables and keys."""

    path: Path
    text: str
    data: dict[str, Any]
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, *path: str | int) -> int | None:
        """Line of a key path, or of its nearest enclosing table that has one."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def value_line(self, path: KeyPath, value: str) -> int | None:
        """Line of a quoted string value inside the (possibly multi-line) array at path."""
        start = self.line(*path)
        if start is None:
            return None
        rows = self.text.splitlines()
        for number in range(start, len(rows) + 1):
            row = rows[number - 1]
            if number > start and (_HEADER.match(row) or _KEY.match(row)):
                break
            if f'"{value}"' in row or f"'{value}'" in row:
                return number
        return start

    def problem(self, path: KeyPath, message: str, severity: str = "error") -> Problem:
        """A problem located at the line of path."""
        return Problem(self.path, self.line(*path), message, severity)


def read_toml(path: str | Path) -> tuple[TomlSource | None, Problem | None]:
    """Parse a TOML file; on failure return the problem (with the parser's line) instead."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, Problem(path, None, "file not found")
    except (OSError, UnicodeDecodeError) as exc:
        return None, Problem(path, None, f"cannot read: {exc}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_ERROR_LINE.search(str(exc))
        return None, Problem(path, int(match.group(1)) if match else None,
                             f"not valid TOML: {exc}")
    return TomlSource(path, text, data, index_lines(text)), None


def toml_value(data: Mapping[str, Any], *path: str, default: Any = None,
               kind: type = object) -> Any:
    """A value deep in the data, or default when missing or of the wrong type."""
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else default
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else default
    if kind is tuple:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else default
    return value if isinstance(value, kind) else default


def resolve_path(text: str, base: Path) -> Path:
    """A path from a file, relative to base unless absolute (~ expanded)."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path)
