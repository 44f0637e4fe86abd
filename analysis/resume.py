"""Per-session results kept in the output folder, so `melab analyze --resume` can skip them.

Each session's task results are written as soon as its last task finishes, into
OUT/per_session/<session folder name>-<hash of its path>.pkl, together with what they were
computed from: the size and modification time (ns) of every file in the session folder and
a hash of the analysis options and the session's annotations. A rerun with --resume takes a
stored result only when all of that still matches; anything else is analysed again.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FOLDER = "per_session"
VERSION = 2  # 2: signal pieces, notes, channels, overview, timelines


@dataclass
class SessionResult:
    """A session's task results and the inputs they were computed from."""

    folder: str
    fingerprint: dict[str, Any]
    clips: list[Any]  # analysis.tasks.ClipResult, in segment order
    signals: Any  # analysis.tasks.SignalsResult


def fingerprint(folder: Path, inputs: str) -> dict[str, Any]:
    """Size and mtime of every file of a session, and a hash of the other inputs (options,
    annotations) as text."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = path.stat()
        files[path.relative_to(folder).as_posix()] = [st.st_size, st.st_mtime_ns]
    return {"version": VERSION, "files": files,
            "inputs": hashlib.sha256(inputs.encode()).hexdigest()}


def result_path(out: Path, folder: Path) -> Path:
    """Where a session's results are kept in an output folder."""
    tag = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:10]
    return out / FOLDER / f"{folder.name}-{tag}.pkl"


def store(out: Path, result: SessionResult) -> Path:
    """Write a session's results (atomically: a crash never leaves a half file as complete)."""
    path = result_path(out, Path(result.folder))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    with partial.open("wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)
    return path


def load_matching(out: Path, folder: Path, expected: dict[str, Any]) -> SessionResult | None:
    """The stored results of a session when they were computed from these very inputs."""
    path = result_path(out, folder)
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            stored = pickle.load(fh)  # melab's own file in the user's output folder
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None  # unreadable or from another melab: analysed again
    if not isinstance(stored, SessionResult) or stored.fingerprint != expected:
        return None
    return stored
