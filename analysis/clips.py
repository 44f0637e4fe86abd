"""A session's clips for the analysis: face crops, frame times, signals and annotations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.annotations import Annotation, annotations_from_ground_truth, load_annotations
from analysis.face import FaceCrop, face_crop_raw, iter_crops
from recordings.ground_truth import read_ground_truth
from recordings.reader import Session, StreamView

BLOCK_FRAMES = 300  # frames cropped at a time: bounded memory at full resolution
PHYSIO_CHANNELS = ("ECG", "EDA", "RSP", "SKT", "PPG")


@dataclass
class Clip:
    """One video segment ready for analysis."""

    subject: str
    session: str
    trial: str
    name: str
    fps: float
    crops: np.ndarray  # (n, 128, 128) uint8 grey face crops
    face: FaceCrop
    frame_numbers: np.ndarray  # device frame number of each crop
    times: np.ndarray  # session-clock time of each frame (aligned when synced)


def time_column(view: StreamView) -> str:
    """The best clock a stream offers: aligned session time after sync, else host time."""
    return "session_time" if "session_time" in view.group else "host_time"


def session_annotations(session: Session, external: list[Annotation]) -> list[Annotation]:
    """Annotations for a session: imported files first, then stored ones, then ground truth."""
    subject, number = session.metadata.participant, str(session.metadata.session)
    mine = [a for a in external if a.subject == subject and a.session in (number, "")]
    if mine:
        return mine
    stored = load_annotations(session.folder)
    if stored:
        return stored.get("ground_truth") or next(iter(stored.values()))
    truth = read_ground_truth(session.file)
    return annotations_from_ground_truth(truth, subject, number) if truth else []


def iter_clips(session: Session) -> Iterator[Clip]:
    """Every video segment of a session as face crops (read in blocks)."""
    meta = session.metadata
    for name in session.segment_names():
        seg = session.segment(name)
        if seg.n_frames < 2:
            continue
        face = face_crop_raw(seg.frame(0), seg.pixel_format)
        # Only the face region of each stored frame is read (h5py hyperslab), not whole frames.
        stored = seg.file["frames"]
        crops = np.concatenate(list(iter_crops(stored, seg.pixel_format, face, BLOCK_FRAMES)))
        crops = crops[: seg.n_frames]  # a crashed segment may hold unwritten frames past this
        column = "session_time" if "session_time" in seg.file else "host_time"
        yield Clip(
            subject=meta.participant,
            session=str(meta.session),
            trial=str(seg.attrs.get("trial", "")),
            name=name,
            fps=float(seg.attrs["frame_rate"]),
            crops=crops,
            face=face,
            frame_numbers=seg.column("frame_number"),
            times=seg.column(column),
        )


def stream_of_type(session: Session, kind: str) -> StreamView | None:
    """The session's first stream of a type (EEG, Physio), or None."""
    return next((s for s in session.streams.values() if s.type == kind), None)


@dataclass
class Signals:
    """A continuous stream read whole: samples by channel, times, rate."""

    samples: np.ndarray
    labels: list[str]
    times: np.ndarray
    rate: float

    def channel(self, label: str) -> np.ndarray | None:
        """One channel's samples, or None when absent."""
        return self.samples[:, self.labels.index(label)] if label in self.labels else None

    def physio(self) -> dict[str, np.ndarray]:
        """The peripheral channels present, by name."""
        return {c: x for c in PHYSIO_CHANNELS if (x := self.channel(c)) is not None}


def read_signals(view: StreamView | None) -> Signals | None:
    """A stream's samples and times (on its best clock), or None."""
    if view is None or len(view) == 0:
        return None
    return Signals(
        np.asarray(view.samples[:], dtype=np.float64),
        view.labels,
        view.times(time_column(view))[:],
        view.nominal_rate,
    )


def sessions_under(paths: list[Path]) -> list[Path]:
    """Session folders given directly or found below the given folders."""
    found: list[Path] = []
    for p in paths:
        if (p / "session.h5").exists():
            found.append(p)
        elif p.is_dir():
            found += sorted(q.parent for q in p.rglob("session.h5"))
        else:
            raise FileNotFoundError(f"{p}: neither a session folder nor a folder of sessions")
    if not found:
        raise FileNotFoundError(f"no sessions (session.h5) under {', '.join(map(str, paths))}")
    return found
