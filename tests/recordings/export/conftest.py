"""Sessions to export: copies of the console-recorded session (tests/conftest.py), one with
consent level 2 (the default) and one with consent level 1 and its expressions coded."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import h5py
import pytest


@pytest.fixture(scope="session")
def export_sessions(console_session: dict[str, Any],
                    tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """{consent level: session folder}; the level-1 copy has its ground truth stored as the
    `ground_truth` annotations (coded micro-expressions)."""
    from recordings.store.annotations import annotations_from_ground_truth, store_annotations
    from recordings.store.ground_truth import read_ground_truth
    from recordings.store.reader import open_session

    base = tmp_path_factory.mktemp("export_sessions")
    level2 = base / "P09_s01"
    shutil.copytree(console_session["folder"], level2)
    level1 = base / "P10_s01"
    shutil.copytree(console_session["folder"], level1)
    with h5py.File(level1 / "session.h5", "a") as f:  # the same recording, another consent
        f.attrs["consent_level"] = 1
        f.attrs["participant"] = "P10"
    with open_session(level1) as session:
        truth = read_ground_truth(session.file)
    assert truth is not None
    store_annotations(level1, annotations_from_ground_truth(truth, "P10", 1), "ground_truth")
    return {2: level2, 1: level1}
