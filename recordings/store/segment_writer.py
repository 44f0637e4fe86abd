"""One video segment file: raw frames queued by the camera, written as whole chunks.

The producer side (push_frame) only queues; the session's single writer thread calls the
I/O side (open, write_queued, flush, finish). Keeping every HDF5 call on one thread matters:
the HDF5 library in h5py's wheels is not thread-safe across files being closed and read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import hdf5plugin
import lz4.block
import numpy as np

from core.devices import PIXEL_FORMATS, CameraInfo, CameraLosses, Frame
from recordings.store.diskio import FaultHook, sync_to_disk
from recordings.store.errors import WriterStoppedError
from recordings.store.health import WriterHealth
from recordings.store.layout import FILE_LIBVER, FLUSH_INTERVAL_S, FORMAT_VERSION, SEGMENT_FORMAT
from recordings.store.tables import append_rows

GROW_STEP = 150  # frames added to the frame dataset at a time (1 s at 150 fps)
SYNC_EVERY = 150  # frames between fdatasync + page-cache drops
COMPRESSIONS = (None, "lz4")
_META_COLUMNS = (("frame_number", "i8"), ("device_time", "f8"), ("host_time", "f8"),
                 ("gpi_level", "u4"))
# Rows of the `camera_losses` dataset: what the camera's counters added, and by which frame.
LOSS_COLUMNS = ("frame_number", "transport_skipped", "api_skipped", "missed_triggers")


@dataclass(frozen=True)
class SegmentStats:
    """Counters of one segment."""

    name: str
    frames_written: int
    dropped_frames: int  # all frames lost before melab: gaps, skipped, missed triggers
    lost_frames: int  # frames melab could not queue (writer queue full)
    queue_fill: float  # 0..1
    frame_gaps: int = 0  # gaps in the device frame number
    camera_losses: CameraLosses = field(default_factory=CameraLosses)  # its own counters


def lz4_chunk(raw: bytes | memoryview) -> bytes:
    """Encode bytes in the HDF5 LZ4 filter's chunk layout (id 32004), one block."""
    block = lz4.block.compress(raw, store_size=False)
    if len(block) >= len(raw):  # the filter stores incompressible blocks as they are
        block = bytes(raw)
    return struct.pack(">QI", len(raw), len(raw)) + struct.pack(">I", len(block)) + block


class SegmentWriter:
    """A segment being recorded: push_frame never touches disk, the writer thread does."""

    def __init__(
        self,
        path: Path,
        name: str,
        camera: CameraInfo,
        *,
        trial: int,
        start_time: float,
        health: WriterHealth,
        wake: threading.Event,
        compression: str | None = None,
        queue_frames: int = 256,
        fault_hook: FaultHook | None = None,
    ) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression {compression!r} is not one of {COMPRESSIONS}")
        if camera.pixel_format not in PIXEL_FORMATS:
            raise ValueError(
                f"pixel format {camera.pixel_format!r} is not one of {PIXEL_FORMATS}"
            )
        self.path = path
        self.name = name
        self.camera = camera
        self.trial = trial
        self.start_time = start_time
        self.compression = compression
        self._health = health
        self._wake = wake
        self._fault_hook = fault_hook
        self._queue: queue.Queue[Frame] = queue.Queue(maxsize=queue_frames)
        self._last_pushed: int | None = None
        self._gaps: list[tuple[int, int]] = []  # (frame number after the gap, frames missing)
        self.frame_gaps = 0
        self._losses: list[tuple[int, int, int, int]] = []  # rows of LOSS_COLUMNS
        self.camera_losses = CameraLosses()
        self.lost_frames = 0
        self.frames_written = 0
        self.stop_time = float("nan")
        self.stopping = False
        self._file: h5py.File | None = None

    # --- producer side -------------------------------------------------------------
    def push_frame(self, frame: Frame, timeout: float = 0.0) -> bool:
        """Queue a frame for writing; False (and counted as lost) when the queue is full."""
        self._health.raise_if_failed()
        if self.stopping:
            raise WriterStoppedError(f"segment {self.name!r} is already stopped")
        if frame.image.shape != (self.camera.height, self.camera.width):
            raise ValueError(
                f"frame shape {frame.image.shape} does not match segment {self.name!r} "
                f"({self.camera.height}, {self.camera.width})"
            )
        if self._last_pushed is not None and frame.frame_number > self._last_pushed + 1:
            missing = frame.frame_number - self._last_pushed - 1
            self.frame_gaps += missing
            self._gaps.append((frame.frame_number, missing))
        self._last_pushed = frame.frame_number
        try:
            self._queue.put(frame, timeout=timeout if timeout > 0 else None, block=timeout > 0)
        except queue.Full:
            self.lost_frames += 1
            return False
        self._wake.set()
        return True

    def add_losses(self, losses: CameraLosses) -> None:
        """Count frames the camera's own counters say it lost while this segment recorded."""
        if losses == CameraLosses():
            return
        self.camera_losses = self.camera_losses + losses
        after = -1 if self._last_pushed is None else self._last_pushed
        self._losses.append((after, *losses.counts()))

    @property
    def dropped_frames(self) -> int:
        """All frames lost before melab: frame-number gaps, skipped frames, missed triggers."""
        return self.camera_losses.dropped(self.frame_gaps)

    def continue_numbering(self, previous: SegmentWriter) -> None:
        """Carry on the previous segment's frame numbering (the camera ran on between the two
        files): a jump from its last frame to this one's first is counted as dropped here."""
        self._last_pushed = previous._last_pushed

    def stats(self) -> SegmentStats:
        """Current counters."""
        return SegmentStats(
            self.name,
            self.frames_written,
            self.dropped_frames,
            self.lost_frames,
            self._queue.qsize() / self._queue.maxsize,
            self.frame_gaps,
            self.camera_losses,
        )

    @property
    def queued(self) -> int:
        """Frames waiting to be written."""
        return self._queue.qsize()

    # --- writer-thread side ----------------------------------------------------------
    def open(self) -> None:
        """Create the segment file (never over an existing one) and enter SWMR mode."""
        cam = self.camera
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            raise FileExistsError(errno.EEXIST, "segment file exists already", str(self.path))
        # Built under a hidden name and linked into place only once whole: a kill in between
        # must not leave a segment file HDF5 cannot open, which would make the whole crashed
        # session unreadable (reader, analysis, resume).
        creating = self.path.with_name(f".{self.path.name}.creating")
        f = h5py.File(creating, "x", libver=FILE_LIBVER)
        f.attrs.update(
            {
                "format": SEGMENT_FORMAT,
                "format_version": FORMAT_VERSION,
                "name": self.name,
                "trial": self.trial,
                "start_time": self.start_time,
                "pixel_format": cam.pixel_format,
                "width": cam.width,
                "height": cam.height,
                "frame_rate": cam.frame_rate,
                "camera_model": cam.model,
                "camera_serial": cam.serial,
                "camera_settings": json.dumps(cam.settings, sort_keys=True, default=str),
                "compression": self.compression or "none",
                "complete": False,
            }
        )
        filter_args = hdf5plugin.LZ4() if self.compression == "lz4" else {}
        f.create_dataset(
            "frames",
            shape=(0, cam.height, cam.width),
            maxshape=(None, cam.height, cam.width),
            dtype="u1",
            chunks=(1, cam.height, cam.width),
            **filter_args,
        )
        for column, dtype in _META_COLUMNS:
            f.create_dataset(column, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(4096,))
        f.create_dataset("dropped", shape=(0, 2), maxshape=(None, 2), dtype="i8", chunks=(256, 2))
        losses = f.create_dataset("camera_losses", shape=(0, len(LOSS_COLUMNS)),
                                  maxshape=(None, len(LOSS_COLUMNS)), dtype="i8",
                                  chunks=(256, len(LOSS_COLUMNS)))
        losses.attrs["columns"] = ",".join(LOSS_COLUMNS)
        f.swmr_mode = True
        sync_to_disk(f)
        os.link(creating, self.path)  # unlike a rename, never replaces an existing file
        creating.unlink()
        self._file = f
        self._meta: dict[str, list[float]] = {column: [] for column, _ in _META_COLUMNS}
        self._gaps_written = 0
        self._losses_written = 0
        self._since_sync = 0
        self._last_flush = time.monotonic()

    def write_queued(self, limit: int) -> int:
        """Write up to `limit` queued frames; returns how many were written."""
        assert self._file is not None
        frames = self._file["frames"]
        written = 0
        while written < limit:
            try:
                frame = self._queue.get_nowait()
            except queue.Empty:
                break
            index = self.frames_written
            if index >= frames.shape[0]:
                frames.resize(index + GROW_STEP, axis=0)
            # A byte view of the frame, not a copy (write_direct_chunk and lz4 take buffers).
            raw = memoryview(np.ascontiguousarray(frame.image, dtype=np.uint8)).cast("B")
            chunk = lz4_chunk(raw) if self.compression == "lz4" else raw
            if self._fault_hook is not None:
                self._fault_hook(str(self.path), len(chunk))
            frames.id.write_direct_chunk((index, 0, 0), chunk)
            self._meta["frame_number"].append(frame.frame_number)
            self._meta["device_time"].append(frame.device_time)
            self._meta["host_time"].append(frame.host_time)
            self._meta["gpi_level"].append(frame.gpi_level)
            self.frames_written += 1
            self._since_sync += 1
            written += 1
        return written

    def flush_due(self, now: float) -> bool:
        """True when the periodic flush (time or frame count) is due."""
        return now - self._last_flush >= FLUSH_INTERVAL_S or self._since_sync >= SYNC_EVERY

    def flush(self) -> None:
        """Append buffered per-frame metadata, then flush and fdatasync the file."""
        assert self._file is not None
        f = self._file
        # Per-frame metadata goes in after its frames, so its length is the count of frames
        # complete on disk (what a reader trusts after a crash).
        for column, values in self._meta.items():
            append_rows(f[column], np.asarray(values))
            values.clear()
        if len(self._gaps) > self._gaps_written:
            append_rows(f["dropped"], np.asarray(self._gaps[self._gaps_written:], dtype="i8"))
            self._gaps_written = len(self._gaps)
        if len(self._losses) > self._losses_written:
            rows = self._losses[self._losses_written:]
            append_rows(f["camera_losses"], np.asarray(rows, dtype="i8"))
            self._losses_written += len(rows)
        if self._fault_hook is not None:
            self._fault_hook(str(self.path), 0)
        sync_to_disk(f)
        self._last_flush, self._since_sync = time.monotonic(), 0

    def finish(self) -> None:
        """Write what is queued, trim the frame dataset, close and mark the file complete."""
        assert self._file is not None
        while self.write_queued(GROW_STEP):
            pass
        self._file["frames"].resize(self.frames_written, axis=0)
        self.flush()
        self._file.close()
        self._file = None
        with h5py.File(self.path, "r+") as f:
            f.attrs.update(
                {
                    "complete": True,
                    "stop_time": self.stop_time,
                    "frames": self.frames_written,
                    "dropped_frames": self.dropped_frames,
                    "frame_gaps": self.frame_gaps,
                    **dict(zip(LOSS_COLUMNS[1:], self.camera_losses.counts(), strict=True)),
                    "lost_frames": self.lost_frames,
                }
            )

    def abandon(self) -> None:
        """After an error: keep the frames already written, then close (best effort)."""
        if self._file is not None:
            with contextlib.suppress(Exception):
                self.flush()
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
