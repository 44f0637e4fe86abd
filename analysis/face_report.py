"""Where the face was found: face_track.csv and the "no face" messages of the outputs."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.face_track import TrackPoint

TRACK_COLUMNS = ("segment", "frame", "found", "x", "y", "w", "h", "quality")


def lost_spans(points: list[TrackPoint]) -> list[tuple[int, int]]:
    """(first, last) clip frame indices of each stretch of frames without a face."""
    spans: list[tuple[int, int]] = []
    for p in points:
        if p.found:
            continue
        if spans and spans[-1][1] == p.frame - 1:
            spans[-1] = (spans[-1][0], p.frame)
        else:
            spans.append((p.frame, p.frame))
    return spans


@dataclass
class FaceReport:
    """Every analysed segment's face track, by segment name."""

    tracks: dict[str, list[TrackPoint]] = field(default_factory=dict)
    frame_numbers: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, segment: str, track: list[TrackPoint], frame_numbers: np.ndarray) -> None:
        """Record one segment's track (frame_numbers: its camera frame numbers)."""
        self.tracks[segment] = track
        self.frame_numbers[segment] = np.asarray(frame_numbers)

    def messages(self) -> list[str]:
        """One line per segment without any face and per stretch of frames without one
        (camera frame numbers)."""
        lines = []
        for segment, track in self.tracks.items():
            numbers = self.frame_numbers[segment]
            if track and not any(p.found for p in track):
                lines.append(f"no face in segment {segment} (all {len(track)} frames): "
                             "not spotted")
                continue
            for a, b in lost_spans(track):
                lines.append(f"no face in segment {segment} frames {numbers[a]}-{numbers[b]}")
        return lines

    def summary(self) -> dict:
        """Frame counts and the messages, for the summary and report."""
        frames = sum(len(t) for t in self.tracks.values())
        found = sum(p.found for t in self.tracks.values() for p in t)
        return {
            "frames": frames,
            "found": found,
            "no_face_segments": [s for s, t in self.tracks.items()
                                 if t and not any(p.found for p in t)],
            "messages": self.messages(),
        }

    def write_csv(self, path: Path) -> None:
        """face_track.csv: one row per frame of every segment, camera frame numbers; box and
        quality (the HOG detector's score, > 0 for a face) empty where no face was found."""
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(TRACK_COLUMNS)
            for segment, points in self.tracks.items():
                numbers = self.frame_numbers[segment]
                for p in points:
                    box = p.box if p.box is not None else ("",) * 4
                    quality = "" if p.quality != p.quality else round(p.quality, 3)
                    writer.writerow([segment, int(numbers[p.frame]), int(p.found), *box, quality])
