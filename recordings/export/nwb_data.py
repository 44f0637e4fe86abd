"""Stored samples and times for NWB, read and written a block at a time: an hdmf chunk iterator
over the session file's datasets, chunked and gzip-compressed in the NWB file, so exporting a
long session never holds a whole stream in memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np
from hdmf.backends.hdf5.h5_utils import H5DataIO
from hdmf.data_utils import GenericDataChunkIterator

CHUNK_BYTES = 4 * 2**20  # HDF5 chunks of the NWB datasets (HDF5 and NWB advise 2-16 MB)
BUFFER_BYTES = 32 * 2**20  # read from the session file and written at a time
SCAN_ROWS = 1_000_000  # timestamps checked at a time
# gzip: the filter every HDF5 reader has (MATLAB, h5py, HDFView); level 4 for speed.
COMPRESSION = {"compression": "gzip", "compression_opts": 4}
REGULAR_TOLERANCE_S = 1e-6  # NWB's advice: starting_time and rate when regular to 1 µs


class StoredColumns(GenericDataChunkIterator):
    """Columns of a stored (n, channels) dataset, or one column as (n,), or a 1-D dataset,
    minus an offset (times), handed to HDF5 a buffer of rows at a time."""

    def __init__(self, dataset: h5py.Dataset, columns: list[int] | int | None = None,
                 minus: float = 0.0) -> None:
        self._dataset, self._columns, self._minus = dataset, columns, minus
        row_bytes = dataset.dtype.itemsize * (len(columns) if isinstance(columns, list) else 1)
        n = dataset.shape[0]
        chunk = max(1, min(n, CHUNK_BYTES // row_bytes))
        buffer = min(n, chunk * max(1, BUFFER_BYTES // (chunk * row_bytes)))
        width = self._get_maxshape()[1:]
        super().__init__(chunk_shape=(chunk, *width), buffer_shape=(buffer, *width))

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        rows = selection[0]
        if isinstance(self._columns, list):
            picked = self._columns[selection[1]]
            if picked == list(range(picked[0], picked[-1] + 1)):  # a hyperslab: no copies
                block = self._dataset[rows, picked[0]:picked[-1] + 1]
            else:
                block = self._dataset[rows][:, picked]
        elif isinstance(self._columns, int):
            block = self._dataset[rows, self._columns]
        else:
            block = self._dataset[rows]
        return block - self._minus if self._minus else block

    def _get_maxshape(self) -> tuple[int, ...]:
        n = self._dataset.shape[0]
        return (n, len(self._columns)) if isinstance(self._columns, list) else (n,)

    def _get_dtype(self) -> np.dtype:
        return self._dataset.dtype


def stored(dataset: h5py.Dataset, columns: list[int] | int | None = None,
           minus: float = 0.0) -> H5DataIO:
    """A stored dataset's columns for an NWB series, written chunked and compressed."""
    return H5DataIO(StoredColumns(dataset, columns, minus), **COMPRESSION)


def blocks(times: Any) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, values) of a 1-D array or dataset, SCAN_ROWS at a time."""
    for lo in range(0, len(times), SCAN_ROWS):
        yield lo, np.asarray(times[lo:lo + SCAN_ROWS], dtype=np.float64)


def regular_rate(times: Any) -> float | None:
    """The rate when the times (array or dataset) lie on a regular grid to 1 µs, else None."""
    n = len(times)
    if n <= 2:
        return None
    first, last = float(times[0]), float(times[n - 1])
    if not last > first:
        return None
    rate = (n - 1) / (last - first)
    for lo, block in blocks(times):
        grid = first + np.arange(lo, lo + len(block)) / rate
        if not np.max(np.abs(block - grid)) < REGULAR_TOLERANCE_S:
            return None
    return rate
