"""`melab record --resume` (issue 16): a killed headless recording goes on in a new session
folder linked to it, the killed one untouched, both analysed together with each segment
once; a session that cannot be continued this way is refused before anything is created."""

from __future__ import annotations

import csv
import hashlib
import signal
from collections import Counter
from pathlib import Path

import pytest

from app.cli.main import main
from recordings.store.diskio import RESERVE_FILE
from recordings.store.links import session_chain
from recordings.store.reader import open_session
from tests.app.test_signals import RECORD, Melab

LIGHT = [*RECORD, "--fps", "30"]  # 160x120 at 30 fps, 1 s segments: light on a busy machine


def file_hashes(folder: Path) -> dict[str, str]:
    """Every file under folder (relative path) and the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def segment_trials(folder: Path) -> dict[str, int]:
    """Segment name -> trial number of a recorded session."""
    with open_session(folder) as session:
        return {n: int(session.segment(n).attrs["trial"]) for n in session.segment_names()}


def refused(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Run melab in this process; it must exit 2 with one line on stderr, which is returned."""
    assert main(args) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def kill_mid_recording(out: Path, tmp_path: Path) -> Path:
    """`melab record` of the simulated lab, SIGKILLed while its third segment gets frames."""
    killed = Melab([*LIGHT, "--duration", "300", "--participant", "P03", "--session", "2",
                    "--consent", "1", "--out", str(out)], tmp_path, "killed")
    third = lambda: next(out.glob("*/video/segment003.h5"), None)  # noqa: E731
    killed.wait_for(lambda: third() is not None, "the third segment file")
    created = third().stat().st_size
    killed.wait_for(lambda: third().stat().st_size > created, "frames in the third segment")
    killed.proc.send_signal(signal.SIGKILL)
    assert killed.finish() == -signal.SIGKILL
    (crashed,) = out.iterdir()
    return crashed


@pytest.mark.slow
def test_a_killed_recording_goes_on_in_a_linked_folder_and_is_analysed_with_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    crashed = kill_mid_recording(out, tmp_path)
    with open_session(crashed) as session:
        assert not session.complete and session.stop_reason == ""  # a crash, not a stop
    crashed_trials = segment_trials(crashed)
    assert sorted(crashed_trials.values())[:3] == [1, 2, 3]
    before = file_hashes(crashed)
    assert RESERVE_FILE in before  # the killed melab's space reserve, stale now

    # Options that disagree with the crashed session: refused, nothing created.
    elsewhere = tmp_path / "elsewhere"
    for option, value in (("participant", "P04"), ("session", "3"), ("consent", "2"),
                          ("out", str(elsewhere))):
        line = refused(capsys, [*LIGHT, "--duration", "2", "--resume", str(crashed),
                                f"--{option}", value])
        assert line.startswith(f"melab record: error: --{option} "), line
        assert "leave out" in line
    assert list(out.iterdir()) == [crashed] and not elsewhere.exists()

    resume = Melab([*LIGHT, "--duration", "3", "--resume", str(crashed)], tmp_path, "resume")
    assert resume.finish() == 0, resume.stderr()[-3000:]
    (resumed,) = set(out.iterdir()) - {crashed}
    with open_session(resumed) as session:
        assert session.complete and session.metadata.resumes == crashed.name
        kept = (session.metadata.participant, session.metadata.session,
                session.metadata.consent_level)
    assert kept == ("P03", 2, 1)
    resumed_trials = sorted(segment_trials(resumed).values())
    first = max(crashed_trials.values()) + 1  # numbering goes on after the crashed session's
    assert resumed_trials == list(range(first, first + len(resumed_trials)))
    assert session_chain(resumed) == [crashed, resumed]
    # Never written into: only the stale reserve went (docs/user-guide.md, "Signals and
    # leftovers"); every byte of the session's own files is as the kill left it.
    del before[RESERVE_FILE]
    assert file_hashes(crashed) == before

    assert main(["analyze", str(crashed), str(resumed), "--out", str(tmp_path / "an")]) == 0
    capsys.readouterr()  # the analysis' progress and figures
    # Every analysed clip has its frames in face_track.csv, under "session folder/segment".
    with (tmp_path / "an" / "face_track.csv").open(encoding="utf-8") as fh:
        rows = Counter(row["segment"] for row in csv.DictReader(fh))
    analysed = [tuple(name.split("/")) for name in rows]
    trials = {**{(crashed.name, n): t for n, t in crashed_trials.items()},
              **{(resumed.name, n): t for n, t in segment_trials(resumed).items()}}
    with_video = set()
    for folder in (crashed, resumed):
        with open_session(folder) as session:  # a clip needs two frames for optical flow
            with_video |= {(folder.name, n) for n in session.segment_names()
                           if session.segment(n).n_frames >= 2}
    assert sorted(analysed) == sorted(with_video)
    for folder in (crashed, resumed):  # each once: one row per frame, not two
        with open_session(folder) as session:
            for n in session.segment_names():
                if (folder.name, n) in with_video:
                    assert rows[f"{folder.name}/{n}"] == session.segment(n).n_frames
    assert len({trials[a] for a in analysed}) == len(analysed)  # no trial number twice
    # The last segment of either may be too short for a clip; the others are whole seconds.
    assert {trials[a] for a in analysed} >= {1, 2, *resumed_trials[:-1]}

    # Neither session can be continued (again) now.
    line = refused(capsys, [*LIGHT, "--duration", "2", "--resume", str(resumed)])
    assert "recorded to its planned end" in line and "nothing to resume" in line
    line = refused(capsys, [*LIGHT, "--duration", "2", "--resume", str(crashed)])
    assert f"was resumed already, by {resumed.name}" in line
    assert sorted(out.iterdir()) == sorted([crashed, resumed])
    assert file_hashes(crashed) == before


def test_resume_of_a_folder_that_is_no_session_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "not_a_session"
    folder.mkdir()
    (folder / "notes.txt").write_text("a folder of other things")
    line = refused(capsys, [*LIGHT, "--duration", "2", "--resume", str(folder)])
    assert line.startswith("melab record: error: argument --resume: ")
    assert "not a melab session folder" in line
    assert [p.name for p in tmp_path.iterdir()] == ["not_a_session"]
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
