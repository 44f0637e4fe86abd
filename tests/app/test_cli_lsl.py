"""`melab record` / `melab gui` and LSL: the resolve scope and the streams selected.

The scope is tested as a setting (what is chosen, said and refused); no test widens it: this
process runs LSL with the loopback configuration tests/conftest.py applied.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from app.cli.lsl_scope import lsl_scope_choice, read_lsl_config
from app.cli.main import build_parser, main
from app.rig import stream_queries
from core.clock import lsl_scope
from core.devices import StreamInfo
from drivers.lsl_query import StreamQuery
from recordings.markers import MARKER_EVENT
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session
from recordings.store.session_writer import SessionWriter


def choice_for(*argv: str):
    """The scope choice of a parsed command line."""
    return lsl_scope_choice(build_parser().parse_args(list(argv)))


def tiny_session(folder: Path) -> Path:
    """A closed session with one stream: a path the commands accept as a session."""
    info = StreamInfo("EEG", "EEG", "eeg-1", ("Fz",), ("µV",), 1000.0)
    with SessionWriter(folder, SessionMetadata("P01"), [info], clock=lambda: 1.0):
        pass
    return folder


def config_file(tmp_path: Path, text: str) -> Path:
    """A config file with the given content."""
    path = tmp_path / "lsl.toml"
    path.write_text(text)
    return path


def test_the_scope_is_machine_unless_the_real_rig_asks_and_is_said_in_one_line(tmp_path):
    rig = ("record", "--eeg", "Curry", "--duration", "5")
    default = choice_for(*rig)
    assert (default.scope, default.stated) == ("machine", True)
    assert default.line() == "LSL resolve scope: machine (streams on this computer only)"
    chosen = choice_for(*rig, "--lsl-scope", "site")
    assert chosen.scope == "site"
    assert chosen.line() == ("LSL resolve scope: site, from --lsl-scope (streams on computers "
                             "on this site's network (multicast TTL 24))")
    path = config_file(tmp_path, '[lsl]\nscope = "link"\n')
    from_file = choice_for("gui", "--camera", "opencv:0", "--lsl-config", str(path))
    assert from_file.scope == "link" and f"from {path}" in from_file.line()
    # The command line wins over the file.
    assert choice_for(*rig, "--lsl-config", str(path), "--lsl-scope", "organization").scope == (
        "organization")
    session = str(tiny_session(tmp_path / "session"))
    assert not choice_for("info", session).stated  # records no stream: nothing to say


@pytest.mark.parametrize(("text", "problem"), [
    (None, "does not exist"),
    ("[lsl\nscope = 'site'", "is not valid TOML"),
    ("scope = 'site'\n", "must hold exactly"),
    ("[lsl]\nscope = 'site'\nknown_peers = ['a']\n", r"unknown: known_peers"),
    ("[lsl]\nscope = 'lan'\n", "scope 'lan' is not one of machine, link, site"),
])
def test_a_bad_config_file_is_named_with_what_is_wrong(tmp_path, text, problem):
    path = tmp_path / "missing.toml" if text is None else config_file(tmp_path, text)
    with pytest.raises(ValueError, match=problem) as caught:
        read_lsl_config(path)
    assert str(path) in str(caught.value)


def test_the_simulated_lab_and_a_replay_stay_on_this_machine(tmp_path, capsys):
    for local in (("--simulate",), ("--replay", str(tiny_session(tmp_path / "session")))):
        with pytest.raises(ValueError, match=f"{local[0]} stays on this machine"):
            choice_for("record", *local, "--lsl-scope", "site")
        assert choice_for("record", *local, "--lsl-scope", "machine").scope == "machine"
    assert main(["record", "--simulate", "--duration", "1", "--lsl-scope", "global",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "scope 'global' (--lsl-scope) is for the real rig only" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_wider_scope_after_lsl_started_is_refused_and_nothing_recorded(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["record", "--eeg", "Curry", "--lsl-scope", "site", "--duration", "1",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot switch to 'site'" in err and "reads its configuration once" in err
    assert lsl_scope() == "machine" and not out.exists()


def test_streams_are_selected_by_role_and_query():
    queries = stream_queries("Curry EEG", "type=Physio,hostname=bridge-pc",
                             ["type=Gaze", "name=Markers , hostname=stim-pc"])
    assert queries == {
        "eeg": StreamQuery(name="Curry EEG"),
        "physio": StreamQuery(type="Physio", hostname="bridge-pc"),
        "type=Gaze": StreamQuery(type="Gaze"),
        "name=Markers,hostname=stim-pc": StreamQuery(name="Markers", hostname="stim-pc"),
    }
    with pytest.raises(ValueError, match="given twice"):
        stream_queries(None, None, ["type=Gaze", "type=Gaze"])
    with pytest.raises(ValueError, match="'colour=red' is not key=value"):
        stream_queries(None, None, ["colour=red"])


@pytest.mark.slow
def test_melab_record_states_the_scope_and_records_every_selected_stream(
        tmp_path, capsys, senders):
    eeg = senders("Curry", "EEG", 4, 500.0, types=("EEG",) * 3 + ("STIM",))
    gaze = senders("Tobii", "Gaze", 3, 250.0)
    markers = senders("Stim", "Markers", 1, 0.0)
    assert main(["record", "--eeg", eeg.info.name,
                 "--stream", f"type=Gaze,hostname={socket.gethostname()},name={gaze.info.name}",
                 "--stream", f"source_id={markers.info.source_id}",
                 "--duration", "2", "--participant", "P20", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "LSL resolve scope: machine (streams on this computer only)"
    (folder,) = tmp_path.iterdir()
    with open_session(folder) as s:
        assert set(s.streams) == {eeg.info.name, gaze.info.name, markers.info.name}
        assert s.streams[eeg.info.name].channel_types == ["EEG", "EEG", "EEG", "STIM"]
        for sender in (eeg, gaze):
            samples = s.streams[sender.info.name].samples[:]
            index = samples[:, 0].astype(np.int64)
            assert len(index) > 100
            np.testing.assert_array_equal(samples, sender.values(index))
        values = list(s.streams[markers.info.name].samples[:, 0])
        assert len(values) >= 10
        assert [e.payload["value"] for e in s.events if e.kind == MARKER_EVENT] == values
        roles = set(s.metadata.devices)
        assert {"eeg", f"source_id={markers.info.source_id}"} <= roles


def test_lsl_dump_writes_the_header_and_the_samples_of_a_stream(tmp_path, senders, capsys):
    sender = senders("Dumped", "EEG", 3, 500.0)
    name = sender.info.name
    assert main(["lsl", "dump", f"name={name}", "--out", str(tmp_path), "--seconds", "0.5"]) == 0
    header = (tmp_path / f"{name}.xml").read_text()
    assert f"<name>{name}</name>" in header and "<nominal_srate>500" in header
    rows = (tmp_path / f"{name}.csv").read_text().splitlines()
    assert rows[0] == "timestamp,c0,c1,c2" and len(rows) > 50
    counts = np.array([[float(v) for v in row.split(",")[1:]] for row in rows[1:]])
    assert np.all(np.diff(counts[:, 0]) == 1)  # every sample, in order (numbered senders)
    # Never overwrites: a second dump into the same folder is refused, the files kept.
    assert main(["lsl", "dump", f"name={name}", "--out", str(tmp_path), "--seconds", "0.2"]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert (tmp_path / f"{name}.csv").read_text().splitlines() == rows
