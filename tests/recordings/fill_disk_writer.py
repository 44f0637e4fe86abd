"""Run as a subprocess by test_crash_safety: records onto a small file system until it fills.

A process of its own, as a lab PC's recorder would be: should HDF5 ever fail to close a file
on the full disk, the crash shows as this process's exit code instead of taking pytest down.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from store_helpers import CAMERA, EEG, eeg_chunk, make_frame

from recordings.store.errors import DiskFullError
from recordings.store.metadata import SessionMetadata
from recordings.store.session_writer import SessionWriter


def main(folder: str) -> None:
    """Record until the disk is full, close, then try a second session; print what happened."""
    writer = SessionWriter(folder, SessionMetadata("P01"), [EEG], reserve_bytes=1 << 20)
    seg = writer.start_segment("trial001", CAMERA, trial=1)
    pushed, error, close_error, next_error = 0, "", "", ""
    try:
        for n in range(100000):
            seg.push_frame(make_frame(n), timeout=1.0)
            writer.push_chunk("EEG", eeg_chunk(n * 10, 10))
            pushed = n + 1
            time.sleep(0.002)
    except DiskFullError as exc:
        error = str(exc)
    try:
        writer.close()
    except DiskFullError as exc:
        close_error = str(exc)
    try:
        SessionWriter(Path(folder).parent / "next", SessionMetadata("P01"), [EEG])
    except DiskFullError as exc:
        next_error = str(exc)
    print(json.dumps({"pushed": pushed, "error": error, "close_error": close_error,
                      "next_error": next_error}))


if __name__ == "__main__":
    main(sys.argv[1])
