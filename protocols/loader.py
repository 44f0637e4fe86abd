"""Read a protocol file and its stimulus manifest into a Protocol, collecting every problem."""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.toml_source import TomlSource, read_toml, resolve_path, toml_value
from protocols.demo_stimuli import MANIFEST_NAME, ensure_demo_stimuli, stimulus_cache
from protocols.library import Library, read_library
from protocols.model import (
    EVENT_CODE_NAMES,
    ONSET_CODE_NAMES,
    TEXT_NAMES,
    CodeTable,
    Protocol,
    Randomisation,
    Reminder,
    Timings,
)
from protocols.problems import Problem, ProtocolError, errors
from protocols.schema import PROTOCOL_SCHEMA, check_keys
from protocols.validate import validate

PACKAGE_DIR = Path(__file__).resolve().parent
GENERATORS = ("demo",)


def resolve_protocol_path(name: str | Path) -> Path:
    """A protocol file path, or the name of a packaged protocol ('cmrr', 'demo')."""
    path = Path(name)
    if path.exists() or path.suffix:
        return path
    packaged = PACKAGE_DIR / f"{name}.toml"
    return packaged if packaged.exists() else path


def _stimulus_location(source: TomlSource, stimuli: str | Path | None,
                       problems: list[Problem]) -> tuple[Path | None, Path | None]:
    """The stimulus folder and manifest path; generates demo clips when the file asks for them."""
    base = source.path.resolve().parent
    table = toml_value(source.data, "stimuli", default={}, kind=dict)
    generate = toml_value(table, "generate", kind=str)
    if generate is not None and generate not in GENERATORS:
        problems.append(source.problem(("stimuli", "generate"),
                                       f"unknown generator {generate!r} (known: demo)"))
        generate = None
    folder: Path | None
    if stimuli is not None:
        folder = Path(stimuli).expanduser()
    elif toml_value(table, "folder", kind=str):
        folder = resolve_path(table["folder"], base)
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
    manifest_text = toml_value(table, "manifest", kind=str)
    if manifest_text:
        return folder, resolve_path(manifest_text, base)
    if folder is None:
        return None, None
    return folder, folder / MANIFEST_NAME


def build_protocol(source: TomlSource, folder: Path, manifest: Path,
                   library: Library) -> Protocol:
    """The Protocol a (possibly faulty) file describes; missing values get neutral defaults."""
    data = source.data
    codes = CodeTable(
        events={n: toml_value(data, "codes", n, default=0, kind=int) for n in EVENT_CODE_NAMES},
        onset={n: toml_value(data, "codes", "stimulus_onset", n, default=0, kind=int)
               for n in ONSET_CODE_NAMES},
    )
    defaults = Timings()
    seed = toml_value(data, "randomisation", "seed", kind=int)
    return Protocol(
        name=toml_value(data, "protocol", "name", default="", kind=str),
        version=toml_value(data, "protocol", "version", default=0, kind=int),
        description=toml_value(data, "protocol", "description", default="", kind=str),
        source=source.path,
        sha256=hashlib.sha256(source.text.encode("utf-8")).hexdigest(),
        stimulus_folder=folder,
        manifest=manifest,
        clips=library.clips,
        practice=toml_value(data, "practice", "clips", default=(), kind=tuple),
        emotions=toml_value(data, "design", "emotions", default=(), kind=tuple),
        clips_per_emotion=toml_value(data, "design", "clips_per_emotion", default=0, kind=int),
        main=toml_value(data, "design", "clips", default=(), kind=tuple),
        neutral=toml_value(data, "design", "neutral", default=(), kind=tuple),
        randomisation=Randomisation(
            max_run=toml_value(data, "randomisation", "max_same_emotion_in_a_row", default=0,
                         kind=int),
            seed=seed),
        timings=Timings(
            self_report_s=toml_value(data, "timings", "self_report_s", default=0.0, kind=float),
            neutral_s=toml_value(data, "timings", "neutral_s", default=0.0, kind=float),
            max_stimulus_s=toml_value(data, "timings", "max_stimulus_s", default=0.0, kind=float),
            clip_grace_s=toml_value(data, "timings", "clip_grace_s", default=defaults.clip_grace_s,
                              kind=float),
        ),
        codes=codes,
        texts={n: toml_value(data, "texts", n, default="", kind=str) for n in TEXT_NAMES},
        reminder=Reminder(text=toml_value(data, "reminder", "text", default="", kind=str),
                          seconds=toml_value(data, "reminder", "seconds", default=0.0, kind=float)),
        segment=toml_value(data, "camera", "segment", default="stimulus", kind=str),
    )


def read_protocol(path: str | Path, stimuli: str | Path | None = None, *,
                  check_clips: bool = True) -> tuple[Protocol | None, list[Problem]]:
    """Load and validate a protocol; returns it (None if unreadable) and every problem found."""
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
