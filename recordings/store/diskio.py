"""Keeping written data on disk: periodic fdatasync plus dropping written pages from cache."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import h5py

# Space held back in every session folder while recording: released on a full disk so that
# HDF5 can write its last metadata and close every file cleanly.
DEFAULT_RESERVE_BYTES = 64 << 20
RESERVE_FILE = ".melab-reserve"

# A fault hook is called before each physical write with (path, nbytes); tests raise
# OSError(ENOSPC) from it to rehearse a full disk.
FaultHook = Callable[[str, int], None]


def is_disk_full(exc: BaseException) -> bool:
    """Tell whether an exception (OS or HDF5) means the disk is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "no space left" in text or "disk quota" in text


def sync_to_disk(file: h5py.File) -> None:
    """Flush an HDF5 file, fdatasync it and drop its written pages from the page cache.

    Dropping the pages keeps dirty memory bounded at camera rates (see PLATFORM-NOTES:
    without it the page cache fills and the writer stalls).
    """
    file.flush()
    fd = file.id.get_vfd_handle()
    os.fdatasync(fd)
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


class DiskReserve:
    """A preallocated file holding back disk space until it is released."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        if size <= 0:
            return
        with path.open("xb") as fh:
            try:
                os.posix_fallocate(fh.fileno(), 0, size)
            except OSError:
                fh.close()
                path.unlink()
                raise

    def release(self) -> None:
        """Give the space back (idempotent)."""
        self.path.unlink(missing_ok=True)
