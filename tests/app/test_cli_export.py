"""`melab export`: progress and one-line refusals (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.main import main
from recordings.store.metadata import SessionMetadata
from recordings.store.session_writer import SessionWriter


def _closed_unsynced(tmp_path: Path) -> Path:
    folder = tmp_path / "P01_s01"
    SessionWriter(folder, SessionMetadata("P01"), []).close()
    return folder


@pytest.mark.parametrize("command", [["export", "bids", "{s}", "--root", "{o}/bids"],
                                     ["export", "nwb", "{s}", "--out", "{o}/x.nwb"]])
def test_an_unsynced_session_is_refused_in_one_line(tmp_path: Path, capsys,
                                                    command: list[str]) -> None:
    folder = _closed_unsynced(tmp_path)
    argv = [a.format(s=folder, o=tmp_path) for a in command]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"melab export {command[1]}: error: ")
    assert "not synchronized; run `melab sync" in error
    assert not (tmp_path / "bids").exists() and not (tmp_path / "x.nwb").exists()


def test_an_incomplete_session_is_refused(tmp_path: Path, capsys) -> None:
    import h5py

    folder = _closed_unsynced(tmp_path)
    with h5py.File(folder / "session.h5", "a") as f:
        f.attrs["complete"] = False
    assert main(["export", "nwb", str(folder), "--out", str(tmp_path / "x.nwb")]) == 2
    assert "the session is incomplete" in capsys.readouterr().err


@pytest.mark.slow
def test_export_nwb_shows_progress(export_sessions_cli: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", "nwb", str(export_sessions_cli), "--out",
                 str(tmp_path / "s.nwb")]) == 0
    captured = capsys.readouterr()
    assert "100%" in captured.err and "EEG" in captured.err
    assert (tmp_path / "s.nwb").stat().st_size > 100_000


@pytest.fixture
def export_sessions_cli(console_session: dict) -> Path:
    return console_session["folder"]
