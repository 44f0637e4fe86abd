"""Reading stored frames in blocks: straight from the file, and through h5py where not."""

from __future__ import annotations

import h5py
import hdf5plugin
import numpy as np
import pytest

from recordings.store.frame_reads import FrameReads

SHAPE = (12, 40, 64)


def _frames(path, **storage) -> np.ndarray:
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, SHAPE, dtype=np.uint8)
    with h5py.File(path, "w") as f:
        frames = f.create_dataset("frames", (SHAPE[0] + 3, *SHAPE[1:]), np.uint8,
                                  chunks=(1, *SHAPE[1:]), **storage)
        frames[: SHAPE[0]] = data  # the last 3 frames never written
    return data


@pytest.mark.parametrize("storage", [{}, hdf5plugin.LZ4()], ids=["uncompressed", "lz4"])
def test_blocks_equal_what_h5py_reads_and_unwritten_frames_are_zeros(tmp_path, storage):
    path = tmp_path / "segment.h5"
    data = _frames(path, **(storage if isinstance(storage, dict) else dict(storage)))
    with h5py.File(path, "r") as f:
        reads = FrameReads(f["frames"])
        assert reads.direct == (not isinstance(storage, hdf5plugin.LZ4))
        got = reads.read(2, 9, slice(5, 30), slice(10, 60))
        np.testing.assert_array_equal(got, data[2:9, 5:30, 10:60])
        tail = reads.read(10, 15, slice(None), slice(None))
        np.testing.assert_array_equal(tail[:2], data[10:12])
        assert not tail[2:].any()
        reads.close()
        reads.close()  # idempotent


def test_frames_that_are_not_uint8_images_are_refused(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        frames = f.create_dataset("frames", (4, 8, 8), np.uint16)
        with pytest.raises(ValueError, match="expected uint8"):
            FrameReads(frames)


def test_frames_in_memory_are_sliced_as_they_are():
    data = np.arange(np.prod(SHAPE), dtype=np.int64).reshape(SHAPE).astype(np.uint8)
    reads = FrameReads(data)
    assert not reads.direct
    np.testing.assert_array_equal(reads.read(1, 4, slice(2, 5), slice(None)), data[1:4, 2:5])
