"""A session's video segments as one camera clock: frame times and sync edges, for sync.

The camera keeps one clock across its video segments, so they are fitted together, in the
order of their first frame (docs/sync.md, "Edges in each device's data" and "What is
stored").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recordings.store.reader import Session
from recordings.sync.edges import Edges, camera_edges


@dataclass(frozen=True)
class _VideoSegment:
    """One video segment's frame columns and the camera settings sync needs."""

    name: str
    device_time: np.ndarray
    host_time: np.ndarray
    frame_number: np.ndarray
    gpi_level: np.ndarray
    gpi_mask: int  # the GPI bit wired to the box's sync line (0: none)
    latch_offset: float  # s from a frame's device_time to the instant its GPI level is latched
    frame_rate: float

    @classmethod
    def read(cls, session: Session, name: str) -> _VideoSegment | None:
        """The segment's columns and settings; None if it holds no frame."""
        segment = session.segment(name)
        if segment.n_frames == 0:
            return None
        settings = segment.camera_settings
        return cls(name, segment.column("device_time").astype(np.float64),
                   segment.column("host_time").astype(np.float64),
                   segment.column("frame_number"), segment.column("gpi_level"),
                   int(settings.get("gpi_sync_mask", 1) or 0),
                   float(settings.get("gpi_latch_offset_us", 0.0)) / 1e6,
                   float(segment.attrs.get("frame_rate", 0.0)) or 150.0)


@dataclass(frozen=True)
class CameraFrames:
    """All video segments' frames as one camera clock, in the order of their first frame."""

    device_time: np.ndarray
    host_time: np.ndarray
    edges: Edges  # sync-line edges in the GPI level (none if no GPI bit carries the line)
    gpi_mask: int  # of the first segment, as are the latch offset and frame rate
    frame_rate: float
    files: list[tuple[str, int, int]]  # segment name, first row, end row


def camera_frames(session: Session) -> CameraFrames | None:
    """The video segments with frames, pooled; None if there are none."""
    read = (_VideoSegment.read(session, name) for name in session.segment_names())
    parts = sorted((p for p in read if p is not None), key=lambda p: float(p.host_time[0]))
    if not parts:
        return None
    files, row = [], 0
    for p in parts:
        files.append((p.name, row, row + len(p.device_time)))
        row += len(p.device_time)
    device = np.concatenate([p.device_time for p in parts])
    host = np.concatenate([p.host_time for p in parts])
    first = parts[0]
    edges = camera_edges(np.concatenate([p.gpi_level for p in parts]), first.gpi_mask,
                         np.concatenate([p.frame_number for p in parts]), device, host,
                         first.frame_rate, first.latch_offset) if first.gpi_mask else (
        Edges.empty())
    return CameraFrames(device, host, edges, first.gpi_mask, first.frame_rate, files)
