"""Sessions linked by a resume: a session continued after a crash names the one it continues.

The continuing session's metadata holds `resumes`, the folder name of the crashed session
(a sibling: the console writes the continuation beside it). The crashed session is never
written to again. Analysed together, the trials the continuation ran again replace the
crashed session's interrupted ones (docs/session-format.md, "Resumed sessions").
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from recordings.store.errors import SessionError
from recordings.store.layout import SESSION_FILE
from recordings.store.reader import open_session


def resumed_folder(folder: Path) -> Path | None:
    """The session folder this session continues (None when it started afresh, or when the
    session cannot be read: whoever reads it next says why)."""
    try:
        with open_session(folder) as session:
            name = session.metadata.resumes
    except (SessionError, OSError):
        return None
    return folder.parent / name if name else None


def continued_by(folder: Path) -> list[Path]:
    """The sessions beside folder that continue it (their `resumes` names it): a session
    continued once is not resumed again, or the continuations would repeat trials."""
    folder = Path(folder)
    return sorted(p for p in folder.parent.iterdir()
                  if p.name != folder.name and (p / SESSION_FILE).is_file()
                  and (previous := resumed_folder(p)) is not None
                  and previous.name == folder.name)


def already_resumed(folder: Path) -> str:
    """Why folder cannot be resumed again (a continuation of it exists), or ''."""
    later = continued_by(folder)
    if not later:
        return ""
    return (f"{Path(folder).name} was resumed already, by {later[-1].name}: resume that one "
            "instead if it stopped early too")


def session_chain(folder: Path) -> list[Path]:
    """The session and those it continues, first session first; a predecessor that is no
    longer beside it (moved, deleted) ends the chain there."""
    chain = [folder]
    previous = resumed_folder(folder)
    while previous is not None and previous not in chain and (previous / "session.h5").exists():
        chain.insert(0, previous)
        previous = resumed_folder(previous)
    return chain


def superseded_trials(folders: Iterable[Path]) -> dict[Path, set[int]]:
    """Per session folder, the trials that a continuation among `folders` ran again: their
    (interrupted) recording in the crashed session is left out of a joint analysis."""
    folders = [Path(f) for f in folders]
    resolved = {f.resolve(): f for f in folders}
    out: dict[Path, set[int]] = {}
    for folder in folders:
        previous = resumed_folder(folder)
        if previous is None or previous.resolve() not in resolved:
            continue
        with open_session(folder) as session:
            rerun = {t.trial for t in session.trials}
            rerun |= {int(session.segment(n).attrs.get("trial", -1))
                      for n in session.segment_names()}
        out.setdefault(resolved[previous.resolve()], set()).update(rerun - {-1})
    return out
