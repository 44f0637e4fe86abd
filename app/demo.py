"""The README demo: record a short session from the simulated lab, then summarize it."""

from __future__ import annotations

from pathlib import Path

from app.record import RecordOptions, new_session_folder, record_simulated
from recordings.metadata import SessionMetadata
from recordings.reader import open_session
from recordings.summary import format_summary, summarize


def run_demo(out: str | Path, duration: float = 10.0, seed: int = 1) -> Path:
    """Record `duration` seconds of the simulated lab (face camera, EEG, physiology, trigger)."""
    metadata = SessionMetadata("demo", notes="melab demo (simulated lab)")
    folder = new_session_folder(out, metadata.participant)
    options = RecordOptions(folder, metadata, duration, segment_length=duration / 2)
    print(f"Recording {duration:g} s from the simulated lab into {folder}")
    record_simulated(options, seed=seed)
    with open_session(folder) as session:
        print(format_summary(summarize(session)))
    return folder
