"""Reading stored camera frames in blocks, straight from the segment file where it can.

A frame the writer stored as one uncompressed chunk is read with os.preadv at the chunk's byte
offset: that releases Python's GIL, which h5py holds through its reads, so the analysis' reader
thread and its flow thread overlap (bench_analysis: reading 9000 full frames through h5py took
3.3x a plain read of the file, blocking the flows meanwhile). Other layouts (compressed frames)
are read through h5py.
"""

from __future__ import annotations

import os

import h5py
import numpy as np


class FrameReads:
    """Blocks of frames [start, stop) of a (n, height, width) uint8 frames dataset (or an
    array already in memory)."""

    def __init__(self, frames: h5py.Dataset | np.ndarray) -> None:
        if len(frames.shape) != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 (n, h, w) frames, got {frames.dtype} {frames.shape}")
        self.frames = frames
        self.shape = frames.shape[1:]
        self.direct = (isinstance(frames, h5py.Dataset) and frames.chunks == (1, *self.shape)
                       and not frames._filters)
        self._fd = os.open(frames.file.filename, os.O_RDONLY) if self.direct else None

    def read(self, start: int, stop: int, rows: slice, cols: slice) -> np.ndarray:
        """Frames [start, stop), rows and cols of each (a view into whole frames when read
        directly; a frame never written reads as zeros)."""
        if self._fd is None:
            return np.asarray(self.frames[start:stop, rows, cols])
        block = np.zeros((stop - start, *self.shape), np.uint8)
        for i in range(start, stop):
            where = self.frames.id.get_chunk_info_by_coord((i, 0, 0)).byte_offset
            if where is not None:
                os.preadv(self._fd, [memoryview(block[i - start]).cast("B")], where)
        return block[:, rows, cols]

    def close(self) -> None:
        """Close the file descriptor of direct reads (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
