"""A library of candidate clips to be rated: a stimulus manifest whose ratings may be missing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from core.expressions import EMOTIONS
from protocols.library import Library, read_library
from protocols.model import NEUTRAL, Clip
from protocols.problems import Problem, ProtocolError, errors


@dataclass(frozen=True)
class Candidates:
    """The clips of a candidate library; `rated` are those raters see (every non-neutral one)."""

    manifest: Path
    folder: Path
    sha256: str
    library: Library

    @property
    def clips(self) -> dict[str, Clip]:
        """Every clip of the manifest, by id."""
        return self.library.clips

    @property
    def rated(self) -> dict[str, Clip]:
        """The clips to rate, by id: neutral clips are not rated (the form has no 'neutral')."""
        return {i: c for i, c in self.library.clips.items() if c.emotion != NEUTRAL}


def read_candidates(manifest: str | Path, stimuli: str | Path | None = None) -> Candidates:
    """Read a candidate library; raise ProtocolError listing every problem (file:line).

    Clip files resolve against `stimuli`, else against the manifest's folder.
    """
    manifest = Path(manifest)
    folder = Path(stimuli).expanduser() if stimuli else manifest.resolve().parent
    problems: list[Problem] = []
    library = read_library(manifest, folder, problems)
    if library.source is not None:
        problems += _check_clips(library)
    if errors(problems) or library.source is None:
        raise ProtocolError(problems)
    sha = hashlib.sha256(library.source.text.encode("utf-8")).hexdigest()
    return Candidates(manifest, folder, sha, library)


def _check_clips(library: Library) -> list[Problem]:
    assert library.source is not None
    problems = []
    for clip_id, clip in library.clips.items():
        row = library.rows[clip_id]
        if clip.emotion not in (*EMOTIONS, NEUTRAL):
            problems.append(library.source.problem(
                ("clip", row, "emotion"), f"clip {clip_id!r}: unknown emotion "
                                          f"{clip.emotion!r} (known: "
                                          f"{', '.join((*EMOTIONS, NEUTRAL))})"))
        if clip.duration <= 0:
            problems.append(library.source.problem(
                ("clip", row, "duration"), f"clip {clip_id!r}: duration must be > 0 s"))
    if not any(c.emotion != NEUTRAL for c in library.clips.values()):
        problems.append(Problem(library.source.path, None,
                                "the library has no emotional clip to rate"))
    return problems
