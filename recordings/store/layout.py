"""Names and versions of the on-disk session format (see docs/session-format.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import h5py

SESSION_FORMAT = "melab-session"
SEGMENT_FORMAT = "melab-video-segment"
FORMAT_VERSION = 1

SESSION_FILE = "session.h5"
VIDEO_DIR = "video"

STRING = h5py.string_dtype("utf-8")

# Writers flush at least this often, so at most this much data is at risk in a crash.
FLUSH_INTERVAL_S = 0.5

# Why a recording stopped (root attribute `stop_reason`): its end as planned or asked for, a
# write error, or the name of the signal it was closed on (SIGTERM, SIGHUP, SIGINT).
STOP_END = "end"
STOP_DISK_FULL = "disk full"
STOP_WRITE_ERROR = "write error"


def decoded(value: Any) -> Any:
    """A value read back from HDF5: bytes decoded as UTF-8, anything else unchanged."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def segment_filename(name: str) -> str:
    """Relative path of a video segment file inside a session folder."""
    return f"{VIDEO_DIR}/{name}.h5"


def new_session_folder(out: str | Path, participant: str, session: int = 1) -> Path:
    """A fresh session folder name under out: participant, session number, start time."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(out) / f"{participant}_s{session:02d}_{stamp}"

# SWMR needs at least the HDF5 1.10 file format; asking for no newer objects than needed keeps
# the files readable by HDF5 1.10-1.14 (MATLAB, older h5py), not only by HDF5 2.x.
FILE_LIBVER = ("v110", "latest")
TRIGGER_LOG_TYPE = "Trigger"  # stream type of the trigger box's own log (recorder)
