"""A writer killed with SIGKILL, and a disk that fills up mid-recording."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.cli.main import main
from recordings.store.diskio import is_disk_full
from recordings.store.errors import DiskFullError
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import check_session, open_session
from recordings.store.session_writer import SessionWriter
from tests.recordings.store_helpers import CAMERA, EEG, eeg_chunk, frame_image, make_frame

HERE = Path(__file__).parent


@pytest.mark.slow
def test_sigkill_mid_segment_keeps_everything_but_the_last_second(tmp_path, capsys):
    folder = tmp_path / "crashed"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1])]))
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crash_writer.py"), str(folder)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    last = None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        last = line.split()
        if float(last[3]) >= 3.0 or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last is not None, "the writer subprocess printed nothing"
    pushed_frames, pushed_samples = int(last[1]), int(last[2])
    assert pushed_frames >= 300

    with open_session(folder) as s:
        assert not s.closed_cleanly and not s.complete
        assert [e.kind for e in s.events] == ["session_start"]
        finished = s.segment("trial001")
        assert finished.complete and finished.n_frames == 30
        np.testing.assert_array_equal(finished.frames(), [frame_image(n) for n in range(30)])
        current = s.segment("trial002")
        assert not current.complete
        # At most one second (150 frames, 1000 samples) may be missing.
        assert pushed_frames - 150 <= current.n_frames <= pushed_frames
        numbers = current.column("frame_number")
        np.testing.assert_array_equal(numbers, np.arange(current.n_frames))
        for n in (0, current.n_frames // 2, current.n_frames - 1):
            np.testing.assert_array_equal(current.frame(n), frame_image(n))
        eeg = s.streams["EEG"]
        assert pushed_samples - 1000 <= len(eeg) <= pushed_samples
        np.testing.assert_array_equal(eeg.samples[:], eeg_chunk(0, len(eeg)).samples)
    # `melab info` reads a crashed session and says so.
    assert main(["info", str(folder)]) == 0
    assert "INCOMPLETE" in capsys.readouterr().out


def _fill_after(limit: int):
    """A fault hook: the video file's writes fail once `limit` bytes went to it."""
    written = {"bytes": 0}

    def hook(path: str, nbytes: int) -> None:
        if not path.endswith("trial001.h5"):
            return
        written["bytes"] += nbytes
        if written["bytes"] > limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    return hook


def _record_until_full(folder: Path, **writer_args) -> tuple[SessionWriter, int, DiskFullError]:
    writer = SessionWriter(folder, SessionMetadata("P01"), [EEG], **writer_args)
    seg = writer.start_segment("trial001", CAMERA, trial=1)
    pushed = 0
    with pytest.raises(DiskFullError) as caught:
        for n in range(100000):
            seg.push_frame(make_frame(n), timeout=1.0)
            writer.push_chunk("EEG", eeg_chunk(n * 10, 10))
            pushed = n + 1
            time.sleep(0.002)
    return writer, pushed, caught.value


def test_a_crash_while_a_segment_file_is_created_leaves_the_session_readable(tmp_path):
    """A kill before the new segment file was whole once left a file HDF5 cannot open, and
    with it the whole crashed session unreadable (melab info, analyze, --resume)."""
    folder = tmp_path / "crashed"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1])]))
    done = subprocess.run(
        [sys.executable, str(HERE / "crash_writer.py"), str(folder), "--die-creating-segment"],
        stdout=subprocess.DEVNULL, env=env, timeout=300)
    assert done.returncode == 9  # it died inside the segment file's creation
    assert check_session(folder) == folder
    with open_session(folder) as s:
        assert s.segment_names() == ["trial001"] and s.segment("trial001").n_frames == 30
    assert not (folder / "video" / "trial002.h5").exists()


def test_disk_full_mid_write_stops_cleanly_and_keeps_data(tmp_path):
    folder = tmp_path / "full"
    frame_bytes = CAMERA.width * CAMERA.height
    writer, pushed, error = _record_until_full(folder, fault_hook=_fill_after(200 * frame_bytes))
    assert "disk full" in str(error) and "trial001.h5" in str(error)
    with pytest.raises(DiskFullError):  # every later call says the same
        writer.add_event("after")
    with pytest.raises(DiskFullError):
        writer.close()
    with open_session(folder) as s:
        assert s.stop_reason == "disk full" and not s.complete
        seg = s.segment("trial001")
        assert 150 <= seg.n_frames <= 200 < pushed + 1
        np.testing.assert_array_equal(seg.frame(seg.n_frames - 1), frame_image(seg.n_frames - 1))
        errors = [e for e in s.events if e.kind == "error"]
        assert len(errors) == 1 and "disk full" in errors[0].payload["message"]
        # The EEG stream was written up to the stop, not only to the last periodic flush:
        # the chunks pushed before the last frame written (frame n goes before chunk n, and
        # the disk may fill between the two).
        eeg = s.streams["EEG"]
        assert len(eeg) >= 10 * (seg.n_frames - 1)
        np.testing.assert_array_equal(eeg.samples[:], eeg_chunk(0, len(eeg)).samples)


@pytest.fixture
def small_filesystem(tmpfs):
    return tmpfs("4m")


def test_real_full_filesystem(small_filesystem):
    # The writer's space reserve (released on ENOSPC) lets every file close cleanly; the
    # recording runs in its own process, whose exit code shows any crash on the full disk.
    folder = small_filesystem / "full"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1])]))
    done = subprocess.run([sys.executable, str(HERE / "fill_disk_writer.py"), str(folder)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "disk full" in result["error"] and "disk full" in result["close_error"]
    assert not (folder / ".melab-reserve").exists()
    with open_session(folder) as s:
        assert s.closed_cleanly and not s.complete and s.stop_reason == "disk full"
        seg = s.segment("trial001")
        assert seg.closed_cleanly
        # Frames queued but not yet written when the disk filled are the only ones missing.
        assert result["pushed"] - 260 <= seg.n_frames <= result["pushed"]
        np.testing.assert_array_equal(seg.frame(seg.n_frames - 1), frame_image(seg.n_frames - 1))
        assert [e.kind for e in s.events] == ["error"]
    # A new session on the full disk is refused up front and leaves nothing behind.
    assert "disk full" in result["next_error"]
    assert not (small_filesystem / "next").exists()


@pytest.mark.slow
@pytest.mark.parametrize("segment_length", [60.0, 0.25], ids=["one-segment", "short-segments"])
def test_melab_record_stops_every_device_at_once_when_the_disk_fills(tmpfs, segment_length):
    # 80 MiB: the session's 64 MiB space reserve plus ~16 MiB, full after ~1.5 s of 320x240
    # video with both 1000 Hz streams; --force starts although the preflight says it won't fit.
    out = tmpfs("80m")
    repo = HERE.parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "record", "--simulate", "--force", "--duration", "30",
         "--size", "320x240", "--segment-length", str(segment_length), "--out", str(out)],
        cwd=repo, capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    (folder,) = out.iterdir()
    said = [line for line in done.stderr.splitlines() if "session closed" in line]
    assert said == [f"melab record: stopped: disk full; session closed: {folder} (everything "
                    "written before the stop is kept)"]
    assert "stopped: disk full" in done.stdout  # the summary says so too
    assert not (folder / ".melab-reserve").exists()
    with open_session(folder) as s:
        assert s.closed_cleanly and not s.complete and s.stop_reason == "disk full"
        (error,) = [e for e in s.events if e.kind == "error"]
        assert "disk full" in error.payload["message"]
        # Stopped within 1 s of the error, on the session's own clock.
        assert 0 <= s.attrs["stop_time"] - error.time <= 1.0
        # Everything written is kept and readable, up to the stop: the streams and the frames
        # reach to within 1 s of the error.
        for name in ("SynAmps", "MP160"):
            stream = s.streams[name]
            assert 0 <= error.time - stream.times()[-1] <= 1.0
            assert np.isfinite(stream.samples[-1]).all()
        segments = [s.segment(name) for name in s.segment_names()]
        assert 0 <= error.time - segments[-1].column("host_time")[-1] <= 1.0
        assert segments[-1].frame(segments[-1].n_frames - 1).shape == (240, 320)
        # The segments finished before the disk filled are complete, and no frame is missing
        # between any two of them.
        if segment_length < 1:
            assert len(segments) >= 3 and all(seg.complete for seg in segments[:-1])
        numbers = np.concatenate([seg.column("frame_number") for seg in segments])
        np.testing.assert_array_equal(np.diff(numbers), 1)
    info = subprocess.run([sys.executable, "-m", "app.cli", "info", str(folder)], cwd=repo,
                          capture_output=True, text=True, timeout=60)
    assert info.returncode == 0 and "stopped: disk full" in info.stdout


def test_writes_stop_while_the_disk_still_has_room_for_closing(tmp_path):
    from recordings.store.diskio import MIN_FREE_BYTES, space_checked

    calls: list[tuple[str, int]] = []
    before_write = space_checked(lambda path, nbytes: calls.append((path, nbytes)))
    target = str(tmp_path / "session.h5")
    before_write(target, 4096)
    assert calls == [(target, 4096)]
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(OSError) as refused:
        before_write(target, free - MIN_FREE_BYTES // 2)
    assert refused.value.errno == errno.ENOSPC and is_disk_full(refused.value)
    assert calls == [(target, 4096)]  # the refused write never reached the file
