"""Opening melab HDF5 files: to read (a crashed writer's file too) or, once closed, to add to.

Every open checks the file's `format` attribute and refuses a truncated file first (reading
one can hang HDF5); errors name the file and what to do.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from recordings.store.errors import SessionError, SessionFormatError
from recordings.store.layout import FILE_LIBVER, decoded

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_SUPERBLOCK_HEAD = 56  # bytes that hold the end-of-file address of every superblock version
# Per superblock version: where the size of addresses is and where the base address is
# (HDF5 file format specification, section II.A).
_SUPERBLOCK_LAYOUT = {0: (13, 24), 1: (13, 28), 2: (9, 12), 3: (9, 12)}


def open_h5(path: Path, expected_format: str) -> tuple[h5py.File, bool]:
    """Open a melab HDF5 file read-only; returns (file, closed_cleanly).

    A file whose writer was killed is opened in SWMR-read mode, which reads everything
    up to the writer's last flush.
    """
    _check_exists_and_whole(path)
    try:
        f = h5py.File(path, "r")
        clean = True
    except OSError as first:
        if "already open for write" not in str(first):
            raise SessionFormatError(
                f"{path}: not a readable HDF5 file (truncated or damaged?): {first}"
            ) from None
        # The writer was killed before closing: SWMR-read gives everything it flushed.
        f = h5py.File(path, "r", libver="latest", swmr=True)
        clean = False
    _check_format(f, path, expected_format)
    return f, clean


def open_for_update(path: Path, expected_format: str) -> h5py.File:
    """Open a closed melab HDF5 file read/write to add derived data (sync, annotations, truth)."""
    _check_exists_and_whole(path)
    try:
        f = h5py.File(path, "r+", libver=FILE_LIBVER)
    except OSError as exc:
        raise SessionError(
            f"{path}: cannot open for adding data (still being recorded, or crashed? a crashed "
            f"file must be copied and cleared with `h5clear -s` first, see "
            f"docs/session-format.md): {exc}"
        ) from exc
    _check_format(f, path, expected_format)
    return f


def _check_format(f: h5py.File, path: Path, expected_format: str) -> None:
    """Close f and raise unless its `format` attribute is expected_format."""
    fmt = decoded(f.attrs.get("format", ""))
    if fmt != expected_format:
        f.close()
        raise SessionFormatError(
            f"{path}: an HDF5 file, but not a {expected_format} file "
            f"(its 'format' attribute is {fmt or 'missing'})"
        )


def _check_exists_and_whole(path: Path) -> None:
    """Refuse a missing file, a folder, or a file shorter than its HDF5 superblock says."""
    if not path.exists():
        raise SessionFormatError(f"{path}: file not found")
    if not path.is_file():
        raise SessionFormatError(f"{path}: a folder, not a file; give the file itself")
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(_SUPERBLOCK_HEAD)
    if not head.startswith(HDF5_SIGNATURE):
        what = "an empty file" if size == 0 else "not an HDF5 file (no HDF5 signature)"
        raise SessionFormatError(f"{path}: {what}; restore it from a backup copy")
    end_of_file = _superblock_end_of_file(path, head)
    if size < end_of_file:
        raise SessionFormatError(
            f"{path}: truncated HDF5 file ({size} bytes on disk, {end_of_file} expected); "
            "restore it from a backup copy"
        )


def _superblock_end_of_file(path: Path, head: bytes) -> int:
    """The end-of-file address the HDF5 superblock at the start of head records; raises
    SessionFormatError when the superblock is cut short or unreadable."""
    cut = SessionFormatError(f"{path}: truncated HDF5 file ({len(head)} bytes on disk); "
                             "restore it from a backup copy")
    damaged = SessionFormatError(f"{path}: damaged HDF5 file (unreadable superblock); "
                                 "restore it from a backup copy")
    if len(head) <= 8:
        raise cut
    if head[8] not in _SUPERBLOCK_LAYOUT:
        raise damaged
    width_at, base_at = _SUPERBLOCK_LAYOUT[head[8]]
    if len(head) <= width_at:
        raise cut
    width = head[width_at]
    if width not in (2, 4, 8):
        raise damaged
    end_at = base_at + 2 * width  # the third address after the base address
    if len(head) < end_at + width:
        raise cut
    return int.from_bytes(head[end_at:end_at + width], "little")
