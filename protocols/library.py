"""The stimulus library: the clips a manifest lists, and where each is written (for error lines)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.toml_source import TomlSource, read_toml, resolve_path, toml_value
from protocols.model import UNRATED, Clip
from protocols.problems import Problem
from protocols.schema import MANIFEST_SCHEMA, check_keys


@dataclass
class Library:
    """The clips of a manifest plus where each one is written (for error lines)."""

    source: TomlSource | None
    clips: dict[str, Clip] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # clip id -> index in [[clip]]


def read_library(manifest: Path, folder: Path, problems: list[Problem]) -> Library:
    """The clips of a manifest; schema problems and duplicate ids go into problems."""
    source, problem = read_toml(manifest)
    if source is None:
        assert problem is not None
        problems.append(Problem(problem.file, problem.line,
                                f"stimulus manifest: {problem.message}"))
        return Library(None)
    problems += check_keys(source, source.data, MANIFEST_SCHEMA)
    library = Library(source)
    for index, item in enumerate(toml_value(source.data, "clip", default=[], kind=list)):
        if not isinstance(item, dict):
            continue
        clip_id = toml_value(item, "id", kind=str)
        if not clip_id:
            continue
        if clip_id in library.clips:
            first = source.line("clip", library.rows[clip_id])
            problems.append(source.problem(
                ("clip", index, "id"), f"duplicate clip id {clip_id!r} (first at line {first})"))
            continue
        file = toml_value(item, "file", default="", kind=str)
        library.clips[clip_id] = Clip(
            id=clip_id, file=file,
            emotion=toml_value(item, "emotion", default="", kind=str),
            valence=toml_value(item, "valence", default=UNRATED, kind=float),
            arousal=toml_value(item, "arousal", default=UNRATED, kind=float),
            duration=toml_value(item, "duration", default=0.0, kind=float),
            path=resolve_path(file, folder) if file else folder,
        )
        library.rows[clip_id] = index
    return library
