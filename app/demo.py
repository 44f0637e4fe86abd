"""The README demo: record a short session from synthetic streams, then summarize it."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np

from drivers.base import CameraInfo, Chunk, Frame, StreamInfo
from drivers.lslconfig import local_clock
from recordings.metadata import SessionMetadata
from recordings.reader import open_session
from recordings.session_writer import SessionWriter
from recordings.summary import format_summary, summarize


def new_session_folder(out: str | Path, participant: str) -> Path:
    """A fresh, timestamped session folder name under out (never an existing one)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(out) / f"{participant}_{stamp}"


def run_demo(out: str | Path, duration: float = 5.0, seed: int = 1) -> Path:
    """Record `duration` seconds of synthetic EEG, physiology and video; print the summary."""
    rng = np.random.default_rng(seed)
    eeg = StreamInfo("EEG", "EEG", "demo-eeg", tuple(f"E{i + 1}" for i in range(8)),
                     ("uV",) * 8, 1000.0)
    camera = CameraInfo("synthetic", "demo", 320, 240, "mono8", 30.0)
    folder = new_session_folder(out, "demo")
    writer = SessionWriter(folder, SessionMetadata("demo", simulated=True), [eeg])
    segment = writer.start_segment("trial001", camera, trial=1)
    start = local_clock()
    frame_index, sample_index = 0, 0
    while (now := local_clock()) - start < duration:
        due = int((now - start) * eeg.nominal_rate) - sample_index
        if due > 0:
            t = start + (sample_index + np.arange(due)) / eeg.nominal_rate
            samples = rng.normal(0, 10, (due, 8)).astype(np.float32)
            writer.push_chunk("EEG", Chunk(samples, t, np.full(due, now)))
            sample_index += due
        if (now - start) * camera.frame_rate >= frame_index:
            image = rng.integers(0, 255, (camera.height, camera.width), dtype=np.uint8)
            segment.push_frame(Frame(image, frame_index, now - start, now, 0))
            frame_index += 1
        time.sleep(0.005)
    writer.add_event("demo_end")
    writer.close()
    with open_session(folder) as session:
        print(format_summary(summarize(session)))
    return folder
