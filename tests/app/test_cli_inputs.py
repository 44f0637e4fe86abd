"""Every `melab` command refuses bad input before it starts: bad options, bad paths and damaged
files give exit code 2, one line on stderr naming the problem, no traceback, nothing created.
"""

from __future__ import annotations

import errno
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from app.cli.main import build_parser, main
from recordings.store.metadata import SessionMetadata
from recordings.store.session_writer import SessionWriter
from tests.recordings.store_helpers import CAMERA, EEG, eeg_chunk, make_frame

REPO = Path(__file__).resolve().parents[2]
SIGNATURE = b"\x89HDF\r\n\x1a\n"


def write_tiny_session(folder: Path) -> None:
    """A real session: 100 EEG samples and a 3-frame video segment `s1`."""
    writer = SessionWriter(folder, SessionMetadata("P01"), [EEG])
    writer.push_chunk("EEG", eeg_chunk(0, 100))
    segment = writer.start_segment("s1", CAMERA, trial=1)
    for n in range(3):
        assert segment.push_frame(make_frame(n), timeout=2.0)
    writer.close()


def damaged_session_files(real: bytes) -> dict[str, bytes]:
    """Damaged session.h5 contents by name, made from a real one's bytes."""
    rng = np.random.default_rng(12)
    flipped = bytearray(real)
    flipped[100:164] = b"\xa5" * 64  # the root group's object header: its checksum fails
    return {
        "empty": b"",
        "5 bytes": SIGNATURE[:5],
        "9 bytes": SIGNATURE + b"\x02",  # a superblock version 2 cut after its version byte
        "48 bytes": real[:48],  # the whole superblock, nothing after it
        "1000 bytes": SIGNATURE + b"\xee" + rng.bytes(991),
        "random": b"\x00" + rng.bytes(999),
        "half": real[: len(real) // 2],
        "checksum": bytes(flipped),
    }


# What the one line says about each damaged session (the folder holds the named session.h5)
DAMAGED = {
    "empty": "session.h5: an empty file; restore it from a backup copy",
    "5 bytes": "session.h5: not an HDF5 file (no HDF5 signature)",
    "9 bytes": "session.h5: truncated HDF5 file (9 bytes on disk)",
    "48 bytes": "session.h5: truncated HDF5 file (48 bytes on disk, ",
    "1000 bytes": "session.h5: damaged HDF5 file (unreadable superblock)",
    "random": "session.h5: not an HDF5 file (no HDF5 signature)",
    "half": "session.h5: truncated HDF5 file (",
    "checksum": "session.h5: damaged HDF5 file (Unable to synchronously open object",
    "foreign": "session.h5: an HDF5 file, but not a melab-session file",
    "bad segment": "video/s1.h5: not an HDF5 file",
    "h5 folder": "session.h5: a folder, not a file",
}


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Paths the bad inputs name: a file, folders, a good session and damaged ones."""
    root = tmp_path_factory.mktemp("inputs")
    good = root / "good"
    write_tiny_session(good)
    (root / "afile").write_text("not a folder\n")
    (root / "folder").mkdir()
    (root / "nonempty").mkdir()
    (root / "nonempty" / "x.txt").write_text("x")
    paths = {"root": root, "good": good, "afile": root / "afile", "folder": root / "folder",
             "nonempty": root / "nonempty", "missing": root / "missing"}
    real = (good / "session.h5").read_bytes()
    for name, content in damaged_session_files(real).items():
        folder = root / name.replace(" ", "_")
        folder.mkdir()
        (folder / "session.h5").write_bytes(content)
        paths[name] = folder
    foreign = paths["foreign"] = root / "foreign"
    foreign.mkdir()
    with h5py.File(foreign / "session.h5", "w") as f:
        f["x"] = [1, 2, 3]
    segment = paths["bad segment"] = root / "bad_segment"
    write_tiny_session(segment)
    (segment / "video" / "s1.h5").write_bytes(b"not hdf5 at all")
    hollow = paths["h5 folder"] = root / "h5_folder"
    (hollow / "session.h5").mkdir(parents=True)
    rng = np.random.default_rng(5)
    for file, content in {"empty.csv": b"", "random.csv": b"\xff" + rng.bytes(499),
                          "random.xlsx": rng.bytes(500)}.items():
        paths[file.replace(".", " ")] = root / file  # a '.' in a {place} means an attribute
        (root / file).write_bytes(content)
    return paths


# (command line with {place} names, what the one line on stderr must say)
BAD_INPUTS: list[tuple[list[str], str]] = [
    # info and sync: paths
    (["info", "{missing}"], "no such session folder"),
    (["info", "{afile}"], "a file, not a session folder"),
    (["info", "{folder}"], "not a melab session folder (no session.h5 in it)"),
    (["sync", "{missing}"], "no such session folder"),
    (["sync", "{afile}"], "a file, not a session folder"),
    (["sync", "{folder}"], "no session.h5 in it"),
    # record: options
    *[(["record", "--simulate", "--duration", value, "--out", "{new}"],
       f"argument --duration: '{value}' is not usable; give seconds above 0")
      for value in ("-1", "0", "nan", "inf", "ten", "1e9")],
    (["record", "--simulate", "--duration=-inf", "--out", "{new}"],  # '-inf' alone: an option
     "argument --duration: '-inf' is not usable"),
    (["record", "--simulate", "--duration", "900", "--out", "{new}"], "at most 870 s"),
    *[(["record", "--simulate", "--duration", "2", "--segment-length", value, "--out", "{new}"],
       f"argument --segment-length: '{value}' is not usable") for value in ("0", "-5", "nan")],
    *[(["record", "--simulate", "--duration", "2", "--size", value, "--out", "{new}"],
       f"argument --size: '{value}' is not usable; give WIDTHxHEIGHT")
      for value in ("0x0", "99999x1", "641x480", "640", "axb")],
    *[(["record", "--simulate", "--duration", "2", "--fps", value, "--out", "{new}"],
       f"argument --fps: '{value}' is not usable") for value in ("0", "-1", "nan", "inf", "1e6")],
    *[(["record", "--simulate", "--duration", "2", "--seed", value, "--out", "{new}"],
       f"argument --seed: '{value}' is not usable") for value in ("-1", "1.5", "4294967296")],
    (["record", "--simulate", "--duration", "2", "--session", "0", "--out", "{new}"],
     "argument --session: '0' is not usable"),
    (["record", "--simulate", "--duration", "2", "--consent", "3", "--out", "{new}"],
     "argument --consent: invalid choice: 3"),
    (["record", "--simulate", "--duration", "2", "--participant", "../x", "--out", "{new}"],
     "participant ID '../x' is not usable as a folder name"),
    # record: paths and options that decide together
    (["record", "--simulate", "--duration", "2", "--out", "{afile}"], "not a folder"),
    (["record", "--simulate", "--duration", "2", "--out", "{afile}/sub"],
     "not a folder ({afile} is a file)"),
    (["record", "--replay", "{missing}", "--out", "{new}"], "no such session folder"),
    (["record", "--replay", "{afile}", "--out", "{new}"], "a file, not a session folder"),
    (["record", "--simulate", "--out", "{new}"], "--duration is required"),
    (["record", "--duration", "2", "--out", "{new}"], "nothing to record"),
    (["record", "--trigger", "serial:/dev/null", "--duration", "2", "--out", "{new}"],
     "nothing to record"),
    (["record", "--simulate", "--camera", "opencv:0", "--duration", "2", "--out", "{new}"],
     "--simulate and --camera name different labs"),
    (["record", "--replay", "{good}", "--simulate", "--out", "{new}"],
     "--simulate and --replay SESSION name different labs"),
    (["record", "--camera", "webcam", "--duration", "2", "--out", "{new}"],
     "argument --camera: 'webcam' is not usable"),
    (["record", "--camera", "opencv:first", "--duration", "2", "--out", "{new}"],
     "argument --camera: 'opencv:first' is not usable"),
    (["record", "--camera", "file:{missing}", "--duration", "2", "--out", "{new}"],
     "{missing}: no such file"),
    (["record", "--eeg", "EEG", "--trigger", "COM3", "--duration", "2", "--out", "{new}"],
     "argument --trigger: 'COM3' is not usable; give serial:PORT"),
    (["record", "--simulate", "--duration", "2", "--bogus", "--out", "{new}"],
     "unrecognized arguments: --bogus"),
    # gui: checked before any window opens (there is no display here)
    (["gui", "--simulate", "--fps", "nan"], "argument --fps: 'nan' is not usable"),
    (["gui", "--simulate", "--size", "0x0"], "argument --size: '0x0' is not usable"),
    (["gui", "--simulate", "--seed", "-1"], "argument --seed: '-1' is not usable"),
    (["gui", "--simulate", "--participant", "a b"], "participant ID 'a b' is not usable"),
    (["gui", "--simulate", "--out", "{afile}/sessions"], "not a folder ({afile} is a file)"),
    (["gui", "--simulate", "--protocol", "{missing}.toml"], "no such protocol file"),
    (["gui", "--simulate", "--protocol", "{folder}"], "a folder, not a protocol file"),
    (["gui", "--simulate", "--stimuli", "{afile}"], "a file, not a folder"),
    (["gui"], "nothing to record"),
    (["gui", "--simulate", "--eeg", "EEG"], "--simulate and --eeg name different labs"),
    (["gui", "--camera", "opencv:x"], "argument --camera: 'opencv:x' is not usable"),
    (["gui", "--simulate"], "no display"),  # the inputs are fine: the display is missing
    # demo
    (["demo", "--out", "{afile}"], "argument --out: {afile}: not a folder"),
    (["demo", "--out", "{afile}/sessions"], "not a folder ({afile} is a file)"),
    (["demo", "--out", "{new}", "--seed", "nan"], "argument --seed: 'nan' is not usable"),
    # protocol check: paths (a protocol's content is what the command checks: exit 1)
    (["protocol", "check", "{missing}.toml"], "no such protocol file"),
    (["protocol", "check", "nosuchprotocol"], "no such protocol file"),
    (["protocol", "check", "{folder}"], "a folder, not a protocol file"),
    (["protocol", "check", "demo", "--stimuli", "{afile}"], "a file, not a folder"),
    # simulate-dataset
    *[(["simulate-dataset", "--participants", value, "--out", "{new}"],
       f"argument --participants: '{value}' is not usable") for value in ("0", "-3", "1.5")],
    *[(["simulate-dataset", "--duration", value, "--out", "{new}"],
       f"argument --duration: '{value}' is not usable") for value in ("10", "nan", "inf", "1e7")],
    (["simulate-dataset", "--size", "0x0", "--out", "{new}"], "argument --size: '0x0'"),
    (["simulate-dataset", "--size", "99999x1", "--out", "{new}"], "argument --size: '99999x1'"),
    (["simulate-dataset", "--fps", "0", "--out", "{new}"], "argument --fps: '0'"),
    (["simulate-dataset", "--seed", "-1", "--out", "{new}"], "argument --seed: '-1'"),
    (["simulate-dataset", "--out", "{afile}"], "not a folder"),
    (["simulate-dataset", "--out", "{afile}/ds"], "not a folder ({afile} is a file)"),
    (["simulate-dataset", "--out", "{nonempty}"], "is not empty"),
    (["simulate-dataset"], "the following arguments are required: --out"),
    # analyze
    (["analyze", "{missing}", "--out", "{new}"], "{missing}: no such folder"),
    (["analyze", "{afile}", "--out", "{new}"], "{afile}: a file, not a folder"),
    (["analyze", "{folder}", "--out", "{new}"], "no sessions (session.h5) under"),
    (["analyze", "{good}", "--annotations", "{missing}.csv", "--out", "{new}"], "no such file"),
    (["analyze", "{good}", "--annotations", "{folder}", "--out", "{new}"], "a folder, not a file"),
    (["analyze", "{good}", "--annotations", "{empty csv}", "--out", "{new}"], "no header row"),
    (["analyze", "{good}", "--annotations", "{random csv}", "--out", "{new}"],
     "random.csv: file: cannot read file: 'utf-8' codec can't decode"),
    (["analyze", "{good}", "--annotations", "{random xlsx}", "--out", "{new}"],
     "random.xlsx: file: cannot read file: File is not a zip file"),
    (["analyze", "{good}", "--out", "{afile}/results"], "not a folder ({afile} is a file)"),
    (["analyze", "{good}", "--out", "{good}/results"], "is inside a session"),
    (["analyze", "{good}", "--out", "{new}", "--ccf", "maybe"], "ccf_mode must be one of"),
    (["analyze", "{good}", "--out", "{new}", "--workers", "0"], "a whole number from 1"),
    (["analyze", "{good}", "--out", "{new}", "--workers", "2", "--scheduler", "tcp://127.0.0.1:9"],
     "give one of them"),
    (["analyze", "{good}", "--out", "{new}", "--scheduler", "tcp://127.0.0.1:9"],
     "no Dask scheduler answers at tcp://127.0.0.1:9"),
    # every command that reads a session, on every damaged session
    *[(argv, fragment) for name, fragment in DAMAGED.items()
      for argv in (["info", f"{{{name}}}"], ["sync", f"{{{name}}}"],
                   ["analyze", f"{{{name}}}", "--out", "{new}"],
                   ["record", "--replay", f"{{{name}}}", "--out", "{new}"])],
]


def case_id(case: tuple[list[str], str]) -> str:
    """A readable test id: the command line."""
    return " ".join(case[0])


def tree(folder: Path) -> list[tuple[str, int, int]]:
    """Every path below folder with its size and modification time."""
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in folder.rglob("*"))


@pytest.mark.parametrize("argv, fragment", BAD_INPUTS, ids=map(case_id, BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_creates_nothing(
        argv: list[str], fragment: str, places: dict[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    names = {name: str(path) for name, path in places.items()} | {"new": str(tmp_path / "new")}
    monkeypatch.chdir(tmp_path)  # where `--out sessions` (the default) would be created
    before = tree(places["root"])
    assert main([part.format(**names) for part in argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert re.match(r"melab( [a-z-]+)*: error: ", lines[0]), lines[0]
    assert fragment.format(**names) in lines[0], lines[0]
    # At most the LSL scope line, said before a command's own checks ran.
    assert "Traceback" not in captured.err
    assert captured.out in ("", "LSL resolve scope: machine (streams on this computer only)\n")
    assert list(tmp_path.iterdir()) == []  # nothing created: no --out folder, no `sessions`
    assert tree(places["root"]) == before  # and nothing written into the given paths


def test_protocol_check_reports_a_damaged_protocol_file_as_its_verdict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    protocol = tmp_path / "p.toml"
    for content in (b"", b"\x89HDF\r\n\x1a\n", np.random.default_rng(3).bytes(1000)):
        protocol.write_bytes(content)
        assert main(["protocol", "check", str(protocol)]) == 1  # the check ran: it cannot run
        captured = capsys.readouterr()
        assert f"{protocol}: " in captured.out and "Traceback" not in captured.err


def test_a_failed_analysis_leaves_no_empty_folder_and_names_what_it_wrote(
        places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import analysis.pipeline

    def disk_full(paths: list[Path], out: Path, *args: object, **kwargs: object) -> None:
        out.mkdir()
        for name in written:
            (out / name).write_text("x")
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "report.html"))

    monkeypatch.setattr(analysis.pipeline, "analyze", disk_full)
    out = tmp_path / "results"
    written: list[str] = []
    assert main(["analyze", str(places["good"]), "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"melab analyze: error: {out}/report.html: No space left on device; check the path, "
        "its permissions and free space"]
    assert not out.exists()
    written = ["spotting.csv", "spotting_summary.json"]
    assert main(["analyze", str(places["good"]), "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"melab analyze: wrote spotting.csv, spotting_summary.json into {out} before the failure")


@pytest.mark.parametrize("argv", [["info", "{9 bytes}"],
                                  ["record", "--simulate", "--duration", "nan", "--out", "{new}"]])
def test_the_melab_process_prints_one_line_and_no_traceback(
        argv: list[str], places: dict[str, Path], tmp_path: Path) -> None:
    names = {name: str(path) for name, path in places.items()} | {"new": str(tmp_path / "new")}
    done = subprocess.run([sys.executable, "-m", "app.cli", *(a.format(**names) for a in argv)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("command", ["record", "gui"])
def test_extra_lsl_streams_alone_are_something_to_record(command: str) -> None:
    args = build_parser().parse_args([command, "--stream", "type=Gaze", "--duration", "5"]
                                     if command == "record" else [command, "--stream", "Gaze"])
    args.check(args)  # passes: the streams are the lab
    args = build_parser().parse_args([command, "--stream", "Gaze", "--simulate"])
    with pytest.raises(ValueError, match="--simulate and --stream name different labs"):
        args.check(args)

