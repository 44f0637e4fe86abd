"""Keeping written data on disk: periodic fdatasync plus dropping written pages from cache."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py

from core.ownership import Owner

# Space held back in every session folder while recording: released on a full disk so that
# HDF5 can write its last metadata and close every file cleanly.
DEFAULT_RESERVE_BYTES = 64 << 20
RESERVE_FILE = ".melab-reserve"

# A fault hook is called before each physical write with (path, nbytes); tests raise
# OSError(ENOSPC) from it to rehearse a full disk.
FaultHook = Callable[[str, int], None]

# Writes stop while this much is still free, so that every HDF5 call succeeds: after a write
# that failed on a full disk HDF5's caches are unsafe (freeing or closing such a file crashed
# the process), so the disk is called full before HDF5 can find out.
MIN_FREE_BYTES = 1 << 20


def is_disk_full(exc: BaseException) -> bool:
    """Tell whether an exception (OS or HDF5) means the disk is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "no space left" in text or "disk quota" in text


def space_checked(hook: FaultHook | None) -> FaultHook:
    """A write hook that raises ENOSPC before a write would leave under MIN_FREE_BYTES free,
    then calls hook (if any)."""
    def before_write(path: str, nbytes: int) -> None:
        free = shutil.disk_usage(os.path.dirname(path) or ".").free
        if free - nbytes < MIN_FREE_BYTES:
            raise OSError(errno.ENOSPC, f"No space left on device: {free} bytes free, "
                          f"{nbytes} to write and {MIN_FREE_BYTES} kept for closing", path)
        if hook is not None:
            hook(path, nbytes)
    return before_write


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
    """A preallocated file holding back disk space until it is released.

    Its first bytes name the process that owns it, so that a reserve a killed melab left
    behind can be told from one in use (remove_stale_reserves).
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        if size <= 0:
            return
        with path.open("xb") as fh:
            try:
                os.posix_fallocate(fh.fileno(), 0, size)
                owner = Owner.this_process()
                if owner is not None:
                    fh.write(f"melab-reserve {owner.tag()}\n".encode())
            except OSError:
                fh.close()
                path.unlink()
                raise

    def release(self) -> None:
        """Give the space back (idempotent)."""
        self.path.unlink(missing_ok=True)


def remove_stale_reserves(out: Path) -> list[Path]:
    """Delete the space reserves that melab processes no longer running left in the session
    folders under out (a recording killed with SIGKILL); returns the files removed.

    Only reserves whose first line names their owner are touched, and only when that owner
    has ended: a recording still running elsewhere keeps its reserve.
    """
    removed = []
    for path in out.glob(f"*/{RESERVE_FILE}"):
        try:
            with path.open("rb") as fh:
                head = fh.read(100).decode("ascii", errors="replace")
        except OSError:
            continue
        owner = Owner.from_tag(head) if head.startswith("melab-reserve ") else None
        if owner is not None and not owner.alive():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
