"""The trigger channel found by declared type, known label or explicit choice (docs/sync.md)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from app.cli.main import main
from core.devices import StreamInfo
from core.trigger_channel import find_trigger_channel
from recordings.recorder import Recorder, RigPreflightError
from recordings.simulated.sync_session import SyncSimConfig, simulate_session
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session
from recordings.sync.synchronize import synchronize


def errors_ms(sim) -> dict[str, np.ndarray]:
    """|session_time - truth| of both streams, in ms."""
    with open_session(sim.folder) as s:
        return {name: np.abs(s.streams[name].times("session_time")[:] - sim.truth[name]) * 1e3
                for name in ("SynAmps", "MP160")}


@pytest.mark.parametrize(("labels", "types", "chosen", "columns", "found_by"), [
    (["Cz", "TRIGGER"], [], None, (1,), "label"),
    (["ECG", "STIM"], [], None, (1,), "label"),
    (["Fz", "sti_014"], [], None, (1,), "label"),
    (["ECG", "Ch2"], ["ECG", "Stim"], None, (1,), "type"),
    (["ECG", "TRIGGER", "Ch3"], ["ecg", "", "stim"], None, (2,), "type"),  # type beats label
    (["STI 001", "STI 002", "STI 101"], ["stim"] * 3, None, (2,), "type"),
    (["ECG", *(f"D{k}" for k in range(1, 9))], ["ecg", *["digital"] * 8], None,
     tuple(range(1, 9)), "type"),
    (["ECG", "XYZ"], [], "xyz", (1,), "choice"),
    (["ECG", "TRIGGER", "A", "B"], [], "a, B", (2, 3), "choice"),
])
def test_rule_prefers_choice_then_declared_type_then_label(labels, types, chosen, columns,
                                                           found_by):
    found = find_trigger_channel(labels, types, chosen)
    assert found is not None
    assert (found.columns, found.found_by) == (columns, found_by)


def test_rule_finds_nothing_without_type_or_label_and_refuses_an_unknown_choice():
    assert find_trigger_channel(["Cz", "AUX"], ["eeg", "misc"]) is None
    with pytest.raises(ValueError, match="'D9' is not one of the stream's channels"):
        find_trigger_channel(["ECG", "D1"], [], "D1,D9")


def test_streams_synced_by_trigger_with_a_stim_label_or_a_stim_type(tmp_path):
    # The peripheral trigger channel is labelled STIM; the EEG's is typed `stim` but labelled
    # "Ch2": both used to fall back to LSL offsets.
    sim = simulate_session(tmp_path / "s", SyncSimConfig(
        seed=7, duration=60.0, trigger_labels={"physio": "STIM", "eeg": "Ch2"},
        channel_types={"eeg": ("eeg", "stim")}))
    report = synchronize(sim.folder)
    for name in ("SynAmps", "MP160"):
        assert report.streams[name].method == "trigger", report.warnings
        assert errors_ms(sim)[name].max() < 0.5, name
    assert report.streams["SynAmps"].trigger.found_by == "type"
    assert report.streams["MP160"].trigger.found_by == "label"
    with h5py.File(sim.folder / "session.h5", "r") as f:
        assert f["sync/SynAmps"].attrs["trigger_channel"] == "Ch2"
        assert f["sync/SynAmps"].attrs["trigger_found_by"] == "type"


def test_eight_digital_input_channels_spell_the_code(tmp_path):
    # MP160 digital inputs D1..D8 as eight 0/5 V channels declared `digital`.
    sim = simulate_session(tmp_path / "s", SyncSimConfig(
        seed=8, duration=60.0, split_lines=("physio",),
        channel_types={"physio": ("ecg", *["digital"] * 8)}))
    report = synchronize(sim.folder)
    physio = report.streams["MP160"]
    assert physio.method == "trigger" and physio.trigger.columns == tuple(range(1, 9))
    assert physio.n_edges > 50
    assert errors_ms(sim)["MP160"].max() < 0.5


def test_explicit_choice_from_the_command_line_is_kept_for_later_runs(tmp_path, capsys):
    sim = simulate_session(tmp_path / "s", SyncSimConfig(
        seed=9, duration=40.0, trigger_labels={"physio": "Line"}))
    assert synchronize(sim.folder).streams["MP160"].method == "lsl_offsets"
    assert main(["sync", str(sim.folder), "--trigger-channel", "MP160=line"]) == 0
    assert "MP160" in capsys.readouterr().out
    again = synchronize(sim.folder)  # no option: the stored choice holds
    assert again.streams["MP160"].method == "trigger"
    assert again.streams["MP160"].trigger.found_by == "choice"
    assert errors_ms(sim)["MP160"].max() < 0.5
    for bad, says in (("Nope=line", "names no stream"), ("MP160=AUX9", "'AUX9' is not one")):
        assert main(["sync", str(sim.folder), "--trigger-channel", bad]) == 2
        assert says in capsys.readouterr().err
    assert main(["sync", str(sim.folder), "--trigger-channel", "MP160="]) == 0  # forget it
    assert synchronize(sim.folder).streams["MP160"].method == "lsl_offsets"
    # argparse's own refusal: one line, exit code 2
    assert main(["sync", str(sim.folder), "--trigger-channel", "MP160"]) == 2
    assert "expected STREAM=LABEL" in capsys.readouterr().err


class _Stream:
    """A device that opens and describes itself: all connect() needs."""

    def __init__(self, info: StreamInfo) -> None:
        self.info = info

    def open(self, timeout: float) -> None:
        """Nothing to open."""


def test_connect_names_a_stream_without_a_trigger_channel_and_preflight_refuses_it(tmp_path):
    def info(name: str, labels: tuple[str, ...], types: tuple[str, ...] = ()) -> StreamInfo:
        return StreamInfo(name, "EEG", name, labels, ("",) * len(labels), 1000.0,
                          channel_types=types)

    streams = {"eeg": _Stream(info("Curry", ("Cz", "TRIGGER"))),
               "physio": _Stream(info("Bridge", ("ECG", "Ch2"), ("ecg", "stim"))),
               "extra": _Stream(info("Amp2", ("C3", "C4")))}
    heard: list[str] = []
    recorder = Recorder(tmp_path / "s", SessionMetadata("P01"), streams=streams,
                        on_message=heard.append)
    recorder.connect()
    assert "Amp2: eeg, 1000 Hz, 2 eeg; no trigger source (defaults)" in heard
    no_trigger = [p for p in recorder.stream_problems() if "no usable trigger source" in p]
    assert len(no_trigger) == 1 and no_trigger[0].startswith("extra: Amp2: it is meant for sync")
    with pytest.raises(RigPreflightError, match="Amp2: it is meant for sync"):
        recorder.preflight(1.0, 0.0)
    recorder.preflight(1.0, 0.0, force=True)  # forced: said, not refused
    assert any(m.startswith("forced: extra: Amp2") for m in heard)
