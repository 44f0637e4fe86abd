"""Coded expressions (ME / MaE) as records, their table in a session file, and the ground truth's.

One `Annotation` per coded expression; `store_annotations` / `load_annotations` keep them as
/annotations/<source> in a closed session.h5 (missing values: frames -1, seconds NaN, text
empty); `annotations_from_ground_truth` gives the simulated lab's expressions as annotations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recordings.store.h5files import open_for_update, open_h5
from recordings.store.layout import SESSION_FILE, SESSION_FORMAT, STRING, decoded


@dataclass(frozen=True)
class Annotation:
    """One coded expression (ME or MaE) of one clip; None marks an unknown value."""

    subject: str
    session: str
    trial: str  # trial number or clip/file name
    onset_frame: int | None
    apex_frame: int | None
    offset_frame: int | None
    onset_s: float | None = None
    apex_s: float | None = None
    offset_s: float | None = None
    aus: tuple[str, ...] = ()
    emotion: str = ""
    kind: str = "micro"  # "micro" | "macro"
    coder: str = ""

    @property
    def clip(self) -> tuple[str, str, str]:
        """Key of the clip the annotation belongs to: (subject, session, trial)."""
        return (self.subject, self.session, self.trial)


def annotations_from_ground_truth(
    truth: Mapping[str, Any], subject: str, session: str | int
) -> list[Annotation]:
    """Annotations of a simulated session's expressions (drivers/sim/lab.py ground_truth()).

    Frames are the camera frame numbers (*_frame), seconds are on the session clock
    (*_session_time), trial is the episode whose trial phases contain the onset ('' if none).
    kind is the simulator's, not re-derived: the truth is what was rendered.
    """
    scenario = truth["scenario"]
    t0 = float(truth.get("t0", 0.0))
    episodes = scenario.get("episodes", [])
    out = []
    for e in scenario["expressions"]:
        trial = next(
            (str(ep["trial"]) for ep in episodes if ep["start"] <= e["onset"] < ep["neutral_end"]),
            "",
        )
        times = {
            p: float(e.get(f"{p}_session_time", t0 + e[p])) for p in ("onset", "apex", "offset")
        }
        frames = {
            p: (int(e[f"{p}_frame"]) if f"{p}_frame" in e else None)
            for p in ("onset", "apex", "offset")
        }
        out.append(
            Annotation(
                subject=subject,
                session=str(session),
                trial=trial,
                onset_frame=frames["onset"],
                apex_frame=frames["apex"],
                offset_frame=frames["offset"],
                onset_s=times["onset"],
                apex_s=times["apex"],
                offset_s=times["offset"],
                aus=tuple(str(a) for a in e.get("aus", ())),
                emotion=str(e["emotion"]),
                kind=str(e["kind"]),
                coder="ground_truth",
            )
        )
    return out


ANNOTATION_DTYPE = np.dtype(
    [
        ("subject", STRING),
        ("session", STRING),
        ("trial", STRING),
        ("onset_frame", "i8"),
        ("apex_frame", "i8"),
        ("offset_frame", "i8"),
        ("onset_s", "f8"),
        ("apex_s", "f8"),
        ("offset_s", "f8"),
        ("aus", STRING),
        ("emotion", STRING),
        ("kind", STRING),
        ("coder", STRING),
    ]
)
_FRAMES = ("onset_frame", "apex_frame", "offset_frame")
_SECONDS = ("onset_s", "apex_s", "offset_s")
_TEXT = ("subject", "session", "trial", "emotion", "kind", "coder")


def _check_source(source: str) -> None:
    if not source or "/" in source or source.startswith("."):
        raise ValueError(
            f"annotation source must be a plain name (no '/', not starting with '.'): {source!r}"
        )


def _to_rows(annotations: Sequence[Annotation]) -> np.ndarray:
    rows = np.zeros(len(annotations), dtype=ANNOTATION_DTYPE)
    for k, a in enumerate(annotations):
        for name in _TEXT:
            rows[name][k] = getattr(a, name)
        for name in _FRAMES:
            value = getattr(a, name)
            rows[name][k] = -1 if value is None else value
        for name in _SECONDS:
            value = getattr(a, name)
            rows[name][k] = math.nan if value is None else value
        rows["aus"][k] = "+".join(a.aus)
    return rows


def _from_row(row: np.void) -> Annotation:
    values: dict[str, Any] = {name: str(decoded(row[name])) for name in _TEXT}
    for name in _FRAMES:
        values[name] = None if int(row[name]) < 0 else int(row[name])
    for name in _SECONDS:
        values[name] = None if math.isnan(row[name]) else float(row[name])
    aus = str(decoded(row["aus"]))
    values["aus"] = tuple(aus.split("+")) if aus else ()
    return Annotation(**values)


def store_annotations(
    session_folder: str | Path,
    annotations: Sequence[Annotation],
    source: str,
    *,
    overwrite: bool = False,
) -> None:
    """Write annotations as the table /annotations/<source> of a closed session.h5.

    source names the coding (e.g. 'coder1', 'consensus', 'ground_truth'); an existing table
    of that name is kept unless overwrite (annotations are derived data, raw data never).
    """
    _check_source(source)
    path = Path(session_folder) / SESSION_FILE
    with open_for_update(path, SESSION_FORMAT) as f:
        group = f.require_group("annotations")
        if source in group:
            if not overwrite:
                raise ValueError(
                    f"{path} already holds annotations {source!r}; "
                    f"pass overwrite=True to replace them"
                )
            del group[source]
        table = group.create_dataset(
            source, data=_to_rows(annotations), maxshape=(None,), chunks=(256,)
        )
        table.attrs["missing"] = "frames -1, seconds NaN, text empty"
        table.attrs["aus_separator"] = "+"


def load_annotations(
    session_folder: str | Path, source: str | None = None
) -> dict[str, list[Annotation]]:
    """Annotations stored in a session, by source name (only `source` if given)."""
    f, _ = open_h5(Path(session_folder) / SESSION_FILE, SESSION_FORMAT)
    with f:
        group = f.get("annotations")
        names = sorted(group) if group is not None else []
        if source is not None:
            if source not in names:
                raise KeyError(
                    f"{session_folder}: no annotations named {source!r} (stored: {names})"
                )
            names = [source]
        return {name: [_from_row(r) for r in group[name][:]] for name in names}
