"""Leftovers of a killed melab: its pty folders and socat processes, and nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from core.ownership import Owner
from drivers.sim.ptypair import OWNER_FILE, PtyPair, remove_stale_pty_pairs

# This process's pid with another start time: the owner was a process that has ended and whose
# pid the system has given to another one since (here, to the test itself).
ENDED = Owner(os.getpid(), 0)
ME = Owner.this_process()
assert ME is not None, "these tests need Linux's /proc"


def marked_folder(base: Path, name: str, melab: Owner, socat: Owner | None = None) -> Path:
    """A pty folder as PtyPair marks it."""
    folder = base / name
    folder.mkdir()
    lines = [f"melab {melab.tag()}"] + ([f"socat {socat.tag()}"] if socat else [])
    (folder / OWNER_FILE).write_text("\n".join(lines) + "\n")
    return folder


def test_only_the_folders_and_processes_of_ended_melabs_are_removed(tmp_path):
    stand_in = subprocess.Popen(["sleep", "60"])  # plays the stale socat process
    try:
        stand_in_owner = Owner.of(stand_in.pid)
        assert stand_in_owner is not None
        stale = marked_folder(tmp_path, "melab-pty-stale", ENDED, stand_in_owner)
        in_use = marked_folder(tmp_path, "melab-pty-in-use", ME)
        unmarked = tmp_path / "melab-pty-unmarked"  # an older melab's, or being created now
        unmarked.mkdir()
        other = marked_folder(tmp_path, "not-melab", ENDED)
        assert remove_stale_pty_pairs(tmp_path) == [stale]
        assert stand_in.wait(timeout=10) == -15  # SIGTERM
        assert not stale.exists() and in_use.exists() and unmarked.exists() and other.exists()
    finally:
        stand_in.kill()
        stand_in.wait()


def test_a_process_with_a_reused_pid_is_not_the_owner():
    assert ME.alive() and Owner.from_tag(f"melab {ME.tag()}") == ME
    assert not ENDED.alive()
    assert Owner.from_tag("no tag here") is None


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed")
def test_a_pty_pair_names_its_owner_and_leaves_nothing_when_closed(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    pair = PtyPair()
    folder = Path(pair.a).parent
    lines = (folder / OWNER_FILE).read_text().splitlines()
    assert lines == [f"melab {ME.tag()}",
                     f"socat {Owner.of(pair.proc.pid).tag()}"]  # type: ignore[union-attr]
    assert remove_stale_pty_pairs(tmp_path) == []  # its owner runs: not stale
    pair.close()
    assert pair.proc.poll() is not None and not folder.exists()
