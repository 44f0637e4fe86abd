"""SIGTERM, SIGHUP and SIGINT close a recording cleanly; after SIGKILL the next start cleans up.

Each melab runs in its own process (the signals go to it, not to pytest) with its own TMPDIR,
so the pty folders and socat processes of this test are told apart from any other run's.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import psutil
import pytest

from core.ownership import Owner
from recordings.store.ground_truth import read_ground_truth
from recordings.store.reader import open_session
from recordings.sync.storage import read_sync

REPO = Path(__file__).resolve().parents[2]
RECORD = ["record", "--simulate", "--size", "160x120", "--segment-length", "1"]


class Melab:
    """`python -m app.cli ARGS` in a process of its own; its stdout lines are collected."""

    def __init__(self, args: list[str], tmp_path: Path, name: str) -> None:
        self.tmp = tmp_path / "tmp"  # TMPDIR: where its pty folders go
        self.tmp.mkdir(exist_ok=True)
        env = {**os.environ, "TMPDIR": str(self.tmp), "QT_QPA_PLATFORM": "offscreen",
               "MELAB_STIMULI_CACHE": str(tmp_path / "stimuli")}
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        # stderr to a file: liblsl logs there, and an unread pipe could fill and block melab.
        self.stderr_path = tmp_path / f"{name}.stderr"
        with self.stderr_path.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=REPO,
                                         env=env, stdout=subprocess.PIPE, stderr=err,
                                         text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, ready: object, what: str, timeout: float = 300.0) -> None:
        """Wait until ready() holds (a callable) or a stdout line holds ready (a string)."""
        deadline = time.monotonic() + timeout  # only against a hang
        while not (ready() if callable(ready) else any(ready in x for x in self.lines)):
            assert self.proc.poll() is None, f"melab ended before {what}: {self.stderr()}"
            assert time.monotonic() < deadline, f"no {what} after {timeout:g} s"
            time.sleep(0.05)

    def finish(self, timeout: float = 300.0) -> int:
        """Wait for melab to end; its exit code."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def stdout(self) -> str:
        """Everything melab printed on stdout so far."""
        return "".join(self.lines)

    def stderr(self) -> str:
        """Everything melab printed on stderr."""
        return self.stderr_path.read_text()


def socat_processes(tmp: Path) -> list[psutil.Process]:
    """The socat processes serving pty folders under tmp."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if process.info["name"] == "socat" and str(tmp) in cmdline:
            found.append(process)
    return found


def assert_nothing_left(tmp: Path, session: Path) -> None:
    """No socat process, pty folder or space reserve of this melab remains."""
    assert socat_processes(tmp) == []
    assert list(tmp.glob("melab-pty-*")) == []
    assert not (session / ".melab-reserve").exists()


def assert_closed_as_at_its_end(session: Path, sig: signal.Signals) -> None:
    """Complete, closed cleanly, synchronized, the simulation's ground truth stored."""
    with open_session(session) as s:
        assert s.complete and s.closed_cleanly and s.stop_reason == sig.name
        assert [e.kind for e in s.events].count("recording_stop") == 1
        assert read_sync(s.file)  # sync ran
        for stream in s.streams.values():
            assert "session_time" in stream.group
        assert read_ground_truth(s.file) is not None
        assert all(s.segment(name).complete for name in s.segment_names())


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
                         ids=lambda s: s.name)
def test_melab_record_closes_the_session_on_a_stop_signal(tmp_path, sig):
    out = tmp_path / "out"
    melab = Melab([*RECORD, "--duration", "120", "--out", str(out)], tmp_path, "record")
    melab.wait_for(" frames ", "status line of the running recording")
    melab.proc.send_signal(sig)
    assert melab.finish() == 128 + sig
    (session,) = out.iterdir()
    stderr = melab.stderr()
    assert "Traceback" not in stderr, stderr[-3000:]
    said = [line for line in stderr.splitlines() if "stopped by" in line]
    assert said == [f"melab record: stopped by {sig.name}; session closed: {session}"]
    assert f"complete (stopped by {sig.name})" in melab.stdout()  # the summary
    assert_closed_as_at_its_end(session, sig)
    assert_nothing_left(melab.tmp, session)


@pytest.mark.slow
def test_a_terminal_that_hangs_up_still_gets_its_session_closed_and_synchronized(tmp_path):
    """A dropped SSH session: SIGHUP, and the terminal melab prints to is gone."""
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    master, terminal = os.openpty()

    def take_the_terminal() -> None:  # as a login shell's job: the pty is its terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *RECORD, "--duration", "120", "--out", str(out)],
        cwd=REPO, env={**os.environ, "TMPDIR": str(tmp)}, stdin=terminal, stdout=terminal,
        stderr=terminal, start_new_session=True, preexec_fn=take_the_terminal)
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 300  # only against a hang
    while b" frames " not in seen:  # the status line of the running recording
        assert time.monotonic() < deadline and proc.poll() is None, seen[-2000:]
        seen += os.read(master, 4096)
    os.close(master)  # the terminal hangs up: the kernel sends SIGHUP, and writes now fail
    assert proc.wait(timeout=300) == 128 + signal.SIGHUP
    (session,) = out.iterdir()
    assert_closed_as_at_its_end(session, signal.SIGHUP)
    assert_nothing_left(tmp, session)


@pytest.mark.slow
def test_after_a_sigkill_the_next_start_removes_only_what_the_killed_melab_left(tmp_path):
    out = tmp_path / "out"
    killed = Melab([*RECORD, "--duration", "120", "--out", str(out)], tmp_path, "killed")
    killed.wait_for(" frames ", "status line of the running recording")
    killed.proc.send_signal(signal.SIGKILL)
    assert killed.finish() == -signal.SIGKILL
    (crashed,) = out.iterdir()
    tmp = killed.tmp
    # What the SIGKILL left: socat still running, its pty folder, the session's space reserve.
    assert len(socat_processes(tmp)) == 1 and len(list(tmp.glob("melab-pty-*"))) == 1
    assert (crashed / ".melab-reserve").exists()
    # And what is not the killed melab's: a pty folder without an owner, one whose owner runs,
    # and the reserve of a recording still running.
    me = Owner.this_process()
    (tmp / "melab-pty-unmarked").mkdir()
    (tmp / "melab-pty-running").mkdir()
    (tmp / "melab-pty-running" / "owner").write_text(f"melab {me.tag()}\n")
    (out / "P09_running").mkdir()
    (out / "P09_running" / ".melab-reserve").write_text(f"melab-reserve {me.tag()}\n")

    second = Melab([*RECORD, "--duration", "1", "--out", str(out)], tmp_path, "second")
    assert second.finish() == 0, second.stderr()[-3000:]
    assert socat_processes(tmp) == []
    assert sorted(p.name for p in tmp.glob("melab-pty-*")) == ["melab-pty-running",
                                                               "melab-pty-unmarked"]
    assert not (crashed / ".melab-reserve").exists()
    assert (out / "P09_running" / ".melab-reserve").exists()
    with open_session(crashed) as s:  # the killed recording itself is left as it was
        assert not s.closed_cleanly and not s.complete and s.stop_reason == ""


@pytest.mark.slow
def test_the_console_closes_the_session_on_sigterm(tmp_path):
    out = tmp_path / "out"
    melab = Melab(["demo", "--out", str(out)], tmp_path, "demo")
    # A trial's video segment is being written: the protocol and the recording run.
    melab.wait_for(lambda: any(out.glob("*/video/*.h5")), "video segment of a trial")
    melab.proc.send_signal(signal.SIGTERM)
    assert melab.finish() == 128 + signal.SIGTERM
    (session,) = [p for p in out.iterdir() if (p / "session.h5").exists()]
    stderr = melab.stderr()
    assert "Traceback" not in stderr, stderr[-3000:]
    said = [line for line in stderr.splitlines() if "stopped by" in line]
    assert said == [f"melab demo: stopped by SIGTERM; session closed: {session}"]
    assert not (out / "analysis").exists()  # the demo's analysis is skipped
    assert_closed_as_at_its_end(session, signal.SIGTERM)
    assert_nothing_left(melab.tmp, session)
