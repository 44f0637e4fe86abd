"""Read a protocol file and its stimulus manifest into a Protocol, collecting every problem."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocols.demo_stimuli import MANIFEST_NAME, ensure_demo_stimuli, stimulus_cache
from protocols.model import (
    EVENT_CODE_NAMES,
    ONSET_CODE_NAMES,
    TEXT_NAMES,
    Clip,
    CodeTable,
    Protocol,
    Randomisation,
    Reminder,
    Timings,
)
from protocols.problems import Problem, ProtocolError, errors
from protocols.schema import MANIFEST_SCHEMA, PROTOCOL_SCHEMA, check_keys
from protocols.source import TomlSource, read_toml

PACKAGE_DIR = Path(__file__).resolve().parent
GENERATORS = ("demo",)


@dataclass
class Library:
    """The clips of a manifest plus where each one is written (for error lines)."""

    source: TomlSource | None
    clips: dict[str, Clip] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # clip id -> index in [[clip]]


def resolve_protocol_path(name: str | Path) -> Path:
    """A protocol file path, or the name of a packaged protocol ('cmrr', 'demo')."""
    path = Path(name)
    if path.exists() or path.suffix:
        return path
    packaged = PACKAGE_DIR / f"{name}.toml"
    return packaged if packaged.exists() else path


def _get(data: Mapping[str, Any], *path: str, default: Any = None, kind: type = object) -> Any:
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


def _resolve(text: str, base: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path)


def _stimulus_location(source: TomlSource, stimuli: str | Path | None,
                       problems: list[Problem]) -> tuple[Path | None, Path | None]:
    """The stimulus folder and manifest path; generates demo clips when the file asks for them."""
    base = source.path.resolve().parent
    table = _get(source.data, "stimuli", default={}, kind=dict)
    generate = _get(table, "generate", kind=str)
    if generate is not None and generate not in GENERATORS:
        problems.append(source.problem(("stimuli", "generate"),
                                       f"unknown generator {generate!r} (known: demo)"))
        generate = None
    folder: Path | None
    if stimuli is not None:
        folder = Path(stimuli).expanduser()
    elif _get(table, "folder", kind=str):
        folder = _resolve(table["folder"], base)
    elif generate:
        folder = stimulus_cache() / generate
    else:
        problems.append(source.problem(
            ("stimuli",), "no stimulus folder: set [stimuli].folder or pass --stimuli DIR"))
        folder = None
    if generate == "demo" and folder is not None:
        try:
            ensure_demo_stimuli(folder)
        except (OSError, RuntimeError) as exc:
            problems.append(source.problem(("stimuli", "generate"),
                                           f"cannot generate the demo clips in {folder}: {exc}"))
    manifest_text = _get(table, "manifest", kind=str)
    if manifest_text:
        return folder, _resolve(manifest_text, base)
    if folder is None:
        return None, None
    return folder, folder / MANIFEST_NAME


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
    for index, item in enumerate(_get(source.data, "clip", default=[], kind=list)):
        if not isinstance(item, dict):
            continue
        clip_id = _get(item, "id", kind=str)
        if not clip_id:
            continue
        if clip_id in library.clips:
            first = source.line("clip", library.rows[clip_id])
            problems.append(source.problem(
                ("clip", index, "id"), f"duplicate clip id {clip_id!r} (first at line {first})"))
            continue
        file = _get(item, "file", default="", kind=str)
        library.clips[clip_id] = Clip(
            id=clip_id, file=file,
            emotion=_get(item, "emotion", default="", kind=str),
            valence=_get(item, "valence", default=0.0, kind=float),
            arousal=_get(item, "arousal", default=0.0, kind=float),
            duration=_get(item, "duration", default=0.0, kind=float),
            path=_resolve(file, folder) if file else folder,
        )
        library.rows[clip_id] = index
    return library


def build_protocol(source: TomlSource, folder: Path, manifest: Path,
                   library: Library) -> Protocol:
    """The Protocol a (possibly faulty) file describes; missing values get neutral defaults."""
    data = source.data
    codes = CodeTable(
        events={n: _get(data, "codes", n, default=0, kind=int) for n in EVENT_CODE_NAMES},
        onset={n: _get(data, "codes", "stimulus_onset", n, default=0, kind=int)
               for n in ONSET_CODE_NAMES},
    )
    defaults = Timings()
    seed = _get(data, "randomisation", "seed", kind=int)
    return Protocol(
        name=_get(data, "protocol", "name", default="", kind=str),
        version=_get(data, "protocol", "version", default=0, kind=int),
        description=_get(data, "protocol", "description", default="", kind=str),
        source=source.path,
        sha256=hashlib.sha256(source.text.encode("utf-8")).hexdigest(),
        stimulus_folder=folder,
        manifest=manifest,
        clips=library.clips,
        practice=_get(data, "practice", "clips", default=(), kind=tuple),
        emotions=_get(data, "design", "emotions", default=(), kind=tuple),
        clips_per_emotion=_get(data, "design", "clips_per_emotion", default=0, kind=int),
        main=_get(data, "design", "clips", default=(), kind=tuple),
        neutral=_get(data, "design", "neutral", default=(), kind=tuple),
        randomisation=Randomisation(
            max_run=_get(data, "randomisation", "max_same_emotion_in_a_row", default=0,
                         kind=int),
            seed=seed),
        timings=Timings(
            self_report_s=_get(data, "timings", "self_report_s", default=0.0, kind=float),
            neutral_s=_get(data, "timings", "neutral_s", default=0.0, kind=float),
            max_stimulus_s=_get(data, "timings", "max_stimulus_s", default=0.0, kind=float),
            clip_grace_s=_get(data, "timings", "clip_grace_s", default=defaults.clip_grace_s,
                              kind=float),
        ),
        codes=codes,
        texts={n: _get(data, "texts", n, default="", kind=str) for n in TEXT_NAMES},
        reminder=Reminder(text=_get(data, "reminder", "text", default="", kind=str),
                          seconds=_get(data, "reminder", "seconds", default=0.0, kind=float)),
        segment=_get(data, "camera", "segment", default="stimulus", kind=str),
    )


def read_protocol(path: str | Path, stimuli: str | Path | None = None, *,
                  check_clips: bool = True) -> tuple[Protocol | None, list[Problem]]:
    """Load and validate a protocol; returns it (None if unreadable) and every problem found."""
    from protocols.validate import validate

    source, problem = read_toml(resolve_protocol_path(path))
    if source is None:
        assert problem is not None
        return None, [problem]
    problems = check_keys(source, source.data, PROTOCOL_SCHEMA)
    folder, manifest = _stimulus_location(source, stimuli, problems)
    if folder is None or manifest is None:
        library = Library(None)
        folder = manifest = Path()
    else:
        library = read_library(manifest, folder, problems)
    protocol = build_protocol(source, folder, manifest, library)
    problems += validate(protocol, source, library, check_clips=check_clips)
    return protocol, problems


def load_protocol(path: str | Path, stimuli: str | Path | None = None, *,
                  check_clips: bool = True) -> Protocol:
    """Load a protocol ready to run; raise ProtocolError listing every problem otherwise."""
    protocol, problems = read_protocol(path, stimuli, check_clips=check_clips)
    if protocol is None or errors(problems):
        raise ProtocolError(problems)
    return protocol
