"""Run as a subprocess by test_crash_safety: records until it is killed with SIGKILL, or
(--die-creating-segment) dies while the second segment's file is being created."""

from __future__ import annotations

import os
import sys
import time

import h5py
from store_helpers import CAMERA, EEG, eeg_chunk, make_frame

from recordings.store.metadata import SessionMetadata
from recordings.store.session_writer import SessionWriter


def main(folder: str, die_creating_segment: bool = False) -> None:
    """Finish one segment, then keep writing a second one and the EEG stream."""
    writer = SessionWriter(folder, SessionMetadata("P01"), [EEG])
    writer.add_event("session_start", trial=0, code=1)
    seg = writer.start_segment("trial001", CAMERA, trial=1)
    for n in range(30):
        seg.push_frame(make_frame(n), timeout=2.0)
    writer.stop_segment("trial001")
    if die_creating_segment:  # the next dataset created is the new segment file's first
        h5py.Group.create_dataset = lambda *args, **kwargs: os._exit(9)
    seg = writer.start_segment("trial002", CAMERA, trial=2)
    start = time.monotonic()
    frames = samples = 0
    while True:
        elapsed = time.monotonic() - start
        while frames < elapsed * 150:
            seg.push_frame(make_frame(frames), timeout=1.0)
            frames += 1
        due = int(elapsed * 1000) - samples
        if due > 0:
            writer.push_chunk("EEG", eeg_chunk(samples, due))
            samples += due
        print(f"pushed {frames} {samples} {elapsed:.3f}", flush=True)
        time.sleep(0.01)


if __name__ == "__main__":
    main(sys.argv[1], "--die-creating-segment" in sys.argv[2:])
