"""Simulation ground truth stored in a session (marked as such, never mixed with real data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py

from recordings.store.h5files import open_for_update
from recordings.store.layout import SESSION_FILE, SESSION_FORMAT, STRING


def write_ground_truth(folder: str | Path, truth: dict[str, Any]) -> None:
    """Store the simulation's ground truth in a closed session's /ground_truth group."""
    with open_for_update(Path(folder) / SESSION_FILE, SESSION_FORMAT) as f:
        group = f.require_group("ground_truth")
        if "json" in group:
            raise ValueError(f"{folder} already holds ground truth; it is never overwritten")
        group.attrs["simulation_ground_truth"] = True
        group.create_dataset("json", data=json.dumps(truth, sort_keys=True), dtype=STRING)


def read_ground_truth(file: h5py.File) -> dict[str, Any] | None:
    """The stored ground truth of an open session file, or None for a real recording."""
    group = file.get("ground_truth")
    if group is None or "json" not in group:
        return None
    return json.loads(group["json"].asstr()[()])
