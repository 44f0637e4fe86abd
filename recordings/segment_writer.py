"""One video segment file: raw frames written as whole chunks by a background thread."""

from __future__ import annotations

import contextlib
import json
import queue
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import hdf5plugin
import lz4.block
import numpy as np

from drivers.base import PIXEL_FORMATS, CameraInfo, Frame
from recordings.diskio import FaultHook, is_disk_full, sync_to_disk
from recordings.errors import DiskFullError, WriterStoppedError
from recordings.health import WriterHealth
from recordings.layout import FLUSH_INTERVAL_S, FORMAT_VERSION, SEGMENT_FORMAT
from recordings.tables import append_rows

GROW_STEP = 150  # frames added to the frame dataset at a time (1 s at 150 fps)
SYNC_EVERY = 150  # frames between fdatasync + page-cache drops
COMPRESSIONS = (None, "lz4")


@dataclass(frozen=True)
class SegmentStats:
    """Counters of one segment."""

    name: str
    frames_written: int
    dropped_frames: int  # gaps in the device frame number (lost before melab)
    lost_frames: int  # frames melab could not queue (writer queue full)
    queue_fill: float  # 0..1


def lz4_chunk(raw: bytes) -> bytes:
    """Encode bytes in the HDF5 LZ4 filter's chunk layout (id 32004), one block."""
    block = lz4.block.compress(raw, store_size=False)
    if len(block) >= len(raw):  # the filter stores incompressible blocks as they are
        block = raw
    return struct.pack(">QI", len(raw), len(raw)) + struct.pack(">I", len(block)) + block


class SegmentWriter:
    """Writes one segment file from a bounded frame queue; push_frame never touches disk."""

    def __init__(
        self,
        path: Path,
        name: str,
        camera: CameraInfo,
        *,
        trial: int,
        start_time: float,
        health: WriterHealth,
        compression: str | None = None,
        queue_frames: int = 256,
        fault_hook: FaultHook | None = None,
    ) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression {compression!r} is not one of {COMPRESSIONS}")
        if camera.pixel_format not in PIXEL_FORMATS:
            raise ValueError(f"pixel format {camera.pixel_format!r} is not one of {PIXEL_FORMATS}")
        self.path = path
        self.name = name
        self.camera = camera
        self.trial = trial
        self.start_time = start_time
        self.compression = compression
        self._health = health
        self._fault_hook = fault_hook
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize=queue_frames)
        self._last_pushed: int | None = None
        self._gaps: list[tuple[int, int]] = []  # (frame number after the gap, frames missing)
        self.dropped_frames = 0
        self.lost_frames = 0
        self.frames_written = 0
        self.stop_time = float("nan")
        self._closed = False
        self._create_file()
        self._thread = threading.Thread(target=self._run, name=f"segment-{name}", daemon=True)
        self._thread.start()

    # --- producer side -------------------------------------------------------------
    def push_frame(self, frame: Frame, timeout: float = 0.0) -> bool:
        """Queue a frame for writing; False (and counted as lost) when the queue is full."""
        self._health.raise_if_failed()
        if self._closed:
            raise WriterStoppedError(f"segment {self.name!r} is already stopped")
        if frame.image.shape != (self.camera.height, self.camera.width):
            raise ValueError(
                f"frame shape {frame.image.shape} does not match segment {self.name!r} "
                f"({self.camera.height}, {self.camera.width})"
            )
        if self._last_pushed is not None and frame.frame_number > self._last_pushed + 1:
            missing = frame.frame_number - self._last_pushed - 1
            self.dropped_frames += missing
            self._gaps.append((frame.frame_number, missing))
        self._last_pushed = frame.frame_number
        try:
            if timeout > 0:
                self._queue.put(frame, timeout=timeout)
            else:
                self._queue.put_nowait(frame)
        except queue.Full:
            self.lost_frames += 1
            return False
        return True

    def stats(self) -> SegmentStats:
        """Current counters."""
        return SegmentStats(
            self.name,
            self.frames_written,
            self.dropped_frames,
            self.lost_frames,
            self._queue.qsize() / self._queue.maxsize,
        )

    def stop(self, stop_time: float) -> SegmentStats:
        """Write every queued frame, close the file and mark it complete."""
        if not self._closed:
            self._closed = True
            self.stop_time = stop_time
            self._queue.put(None)
            self._thread.join()
            if not self._health.failed:
                self._mark_complete()
        self._health.raise_if_failed()
        return self.stats()

    # --- writer thread -------------------------------------------------------------
    def _create_file(self) -> None:
        cam = self.camera
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            raise FileExistsError(f"video segment file {self.path} exists; refusing to overwrite")
        f = h5py.File(self.path, "x", libver="latest")
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
        for column, dtype in (
            ("frame_number", "i8"),
            ("device_time", "f8"),
            ("host_time", "f8"),
            ("gpi_level", "u1"),
        ):
            f.create_dataset(column, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(4096,))
        f.create_dataset("dropped", shape=(0, 2), maxshape=(None, 2), dtype="i8", chunks=(256, 2))
        f.swmr_mode = True
        self._file = f

    def _run(self) -> None:
        f = self._file
        frames = f["frames"]
        meta: dict[str, list[float | int]] = {
            k: [] for k in ("frame_number", "device_time", "host_time", "gpi_level")
        }
        gaps_written = 0
        frame_bytes = self.camera.width * self.camera.height
        last_flush = time.monotonic()
        since_sync = 0
        try:
            while True:
                try:
                    item = self._queue.get(timeout=FLUSH_INTERVAL_S / 2)
                except queue.Empty:
                    item = "idle"
                if isinstance(item, Frame):
                    index = self.frames_written
                    if index >= frames.shape[0]:
                        frames.resize(index + GROW_STEP, axis=0)
                    raw = np.ascontiguousarray(item.image, dtype=np.uint8).tobytes()
                    chunk = lz4_chunk(raw) if self.compression == "lz4" else raw
                    if self._fault_hook is not None:
                        self._fault_hook(str(self.path), len(chunk))
                    frames.id.write_direct_chunk((index, 0, 0), chunk)
                    meta["frame_number"].append(item.frame_number)
                    meta["device_time"].append(item.device_time)
                    meta["host_time"].append(item.host_time)
                    meta["gpi_level"].append(item.gpi_level)
                    self.frames_written += 1
                    since_sync += 1
                now = time.monotonic()
                done = item is None
                if done or now - last_flush >= FLUSH_INTERVAL_S or since_sync >= SYNC_EVERY:
                    # Per-frame metadata is appended after its frames, so its length is the
                    # count of frames complete on disk (what a reader trusts after a crash).
                    for column, values in meta.items():
                        append_rows(f[column], np.asarray(values))
                        values.clear()
                    if len(self._gaps) > gaps_written:
                        append_rows(f["dropped"], np.asarray(self._gaps[gaps_written:], dtype="i8"))
                        gaps_written = len(self._gaps)
                    if done:
                        frames.resize(self.frames_written, axis=0)
                    if self._fault_hook is not None:
                        self._fault_hook(str(self.path), 0)
                    sync_to_disk(f)
                    last_flush, since_sync = now, 0
                if done:
                    break
        except Exception as exc:  # every failure must stop the writer and be reported
            self._health.fail(self._describe(exc, frame_bytes))
            self._closed = True
        finally:
            # Closing can fail on a full disk; what was flushed earlier stays readable.
            with contextlib.suppress(Exception):
                f.close()

    def _describe(self, exc: Exception, frame_bytes: int) -> Exception:
        if is_disk_full(exc):
            return DiskFullError(
                f"disk full while writing video segment {self.path}: recording stopped after "
                f"{self.frames_written} frames of this segment (frame size {frame_bytes} bytes); "
                "everything written before is kept. Free space or choose another output folder."
            )
        return WriterStoppedError(f"writing video segment {self.path} failed: {exc}")

    def _mark_complete(self) -> None:
        with h5py.File(self.path, "r+") as f:
            f.attrs["complete"] = True
            f.attrs["stop_time"] = self.stop_time
            f.attrs["frames"] = self.frames_written
            f.attrs["dropped_frames"] = self.dropped_frames
            f.attrs["lost_frames"] = self.lost_frames
