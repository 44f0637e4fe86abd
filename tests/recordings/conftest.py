"""Builders the recordings tests share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SessionRecorder = Callable[..., Path]


@pytest.fixture(scope="session")
def record_sim_session(tmp_path_factory: pytest.TempPathFactory) -> SessionRecorder:
    """Record the simulated lab as `melab record --simulate` does, into a new folder:
    `record_sim_session(participant, duration=, segment_length=, seed=, width=, height=)`
    returns the session folder (its ground truth stored in it)."""
    from app.cli.record import RecordOptions, record_simulated
    from recordings.store.metadata import SessionMetadata

    def record(participant: str, *, duration: float, segment_length: float, seed: int,
               width: int, height: int) -> Path:
        folder = tmp_path_factory.mktemp("sim") / f"{participant}_s01"
        options = RecordOptions(folder, SessionMetadata(participant), duration=duration,
                                segment_length=segment_length)
        return record_simulated(options, seed=seed, width=width, height=height, progress=False)

    return record
