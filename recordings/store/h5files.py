"""Opening melab HDF5 files: to read (a crashed writer's file too) or, once closed, to add to.

Every open checks the file's `format` attribute and refuses a truncated file first (reading
one can hang HDF5); errors name the file and what to do.
"""

from __future__ import annotations

import struct
from pathlib import Path

import h5py

from recordings.store.errors import SessionError, SessionFormatError
from recordings.store.layout import FILE_LIBVER, decoded


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
    """Refuse a missing file, or one shorter than its HDF5 superblock says."""
    if not path.exists():
        raise SessionFormatError(f"{path}: file not found")
    with path.open("rb") as fh:
        head = fh.read(48)
    if head[:8] != b"\x89HDF\r\n\x1a\n":
        raise SessionFormatError(f"{path}: not an HDF5 file (no HDF5 signature)")
    if head[8] >= 2 and head[9] == 8:  # superblock v2/v3 with 8-byte addresses
        end_of_file = struct.unpack_from("<Q", head, 28)[0]
        size = path.stat().st_size
        if size < end_of_file:
            raise SessionFormatError(
                f"{path}: truncated HDF5 file ({size} bytes on disk, {end_of_file} expected); "
                "restore it from a backup copy"
            )
