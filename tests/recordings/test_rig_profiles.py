"""Rig profiles and the defaults: real LSL outlets shaped like Curry, a Neuroscan Acquire
bridge and an AcqKnowledge NDT bridge, recorded and synchronized against ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.cli.main import build_parser, main
from app.cli.record import RecordOptions, record_simulated
from app.rig import RIGS_DIR
from drivers.sim.clocks import DeviceClock
from recordings.recorder import RigPreflightError
from recordings.rigs.profile import check_profile, load_profile
from recordings.rigs.roles import stored_roles
from recordings.store.ground_truth import read_ground_truth
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session
from tests.conftest import unique_prefix

MARKER_PROFILE = """
[devices.eeg]
query = "type=EEG"
role = "eeg"

[devices.physio]
query = "name=Biopac Data"
role = "physio"
rate = 1000
[[devices.physio.channels]]
label = "GSR"
type = "eda"
unit = "uS"
[[devices.physio.channels]]
label = "SKT"
unit = "degC"
[devices.physio.trigger]
markers = "events"

[devices.events]
query = "name=Biopac Events"
role = "markers"
"""


RECORD_S = 20.0  # ~33 sync and probe edges: the fit's rate is then good to p99 <= 0.5 ms


def _record(folder: Path, shape: str, profile: object, duration: float = RECORD_S) -> Path:
    options = RecordOptions(folder, SessionMetadata("R01"), duration=duration,
                            segment_length=5.0)
    return record_simulated(options, seed=3, width=160, height=120, progress=False,
                            shape=shape, profile=profile, prefix=unique_prefix("rig"))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory):
    """Record a shaped lab with a profile (a file of rigs/, a Path, or None) once per module."""
    done: dict[tuple[str, str], Path] = {}

    def record(shape: str, profile: str | Path | None) -> Path:
        key = (shape, str(profile))
        if key not in done:
            rig = None if profile is None else load_profile(
                profile if isinstance(profile, Path) else RIGS_DIR / profile)
            done[key] = _record(tmp_path_factory.mktemp("rig") / f"{shape or 'sim'}_s01", shape,
                                rig)
        return done[key]

    return record


def _errors_ms(folder: Path) -> dict[str, np.ndarray]:
    """Per role: |session_time - truth| in ms of every sample."""
    out = {}
    with open_session(folder) as s:
        truth = read_ground_truth(s.file)
        for role, name in truth["streams"].items():
            stream = s.streams[name]
            clock = DeviceClock.from_dict(truth["clocks"][role])
            expected = truth["t0"] + clock.physical_time(stream.times("device_time")[:])
            out[role] = np.abs(stream.times("session_time")[:] - expected) * 1e3
    return out


def _methods(folder: Path) -> dict[str, str]:
    with open_session(folder) as s:
        return {name: str(s.file[f"sync/{name}"].attrs["method"]) for name in s.streams
                if f"sync/{name}" in s.file}


@pytest.mark.slow
@pytest.mark.parametrize("shape, profile", [
    ("curry", "curry-lsl.toml"), ("neuroscan", "neuroscan-acquire.toml"),
    ("acqknowledge", "acqknowledge-ndt-bridge.toml"), ("", "simulated-lab.toml")])
def test_shaped_outlets_with_their_profile_sync_by_trigger_edges(recorded, shape, profile):
    rig = load_profile(RIGS_DIR / profile)
    folder = recorded(shape, profile)
    methods = _methods(folder)
    for role, err in _errors_ms(folder).items():
        assert np.percentile(err, 99) <= 0.5, (shape, role, np.percentile(err, 99))
    with open_session(folder) as s:
        truth = read_ground_truth(s.file)
        for role, name in truth["streams"].items():
            assert methods[name] == "trigger", (name, methods)
            found_by = s.file[f"sync/{name}"].attrs["trigger_found_by"]
            assert found_by == ("profile" if rig.devices[role].trigger else "type"), name


@pytest.mark.slow
def test_a_marker_stream_carrying_the_codes_times_the_bridge(recorded, tmp_path_factory):
    path = tmp_path_factory.mktemp("profile") / "markers.toml"
    path.write_text(MARKER_PROFILE)
    folder = recorded("acqknowledge", path)
    errors = _errors_ms(folder)
    assert np.percentile(errors["physio"], 99) <= 0.5
    with open_session(folder) as s:
        physio = read_ground_truth(s.file)["streams"]["physio"]
        sync = s.file[f"sync/{physio}"].attrs
        assert sync["method"] == "trigger" and "markers" in sync["warning"]
        roles = stored_roles(s.metadata.devices)
        assert roles[physio].trigger.kind == "markers"
        # EKG by its label (a guess, said), GSR as the profile states it.
        assert [c.type for c in roles[physio].channels][:4] == ["ecg", "eda", "resp", "temp"]
        assert roles[physio].channels[0].guessed and not roles[physio].channels[1].guessed


@pytest.mark.slow
def test_curry_works_through_the_defaults_and_says_its_guesses(recorded, capsys):
    folder = recorded("curry", None)
    out = capsys.readouterr().out
    assert "guess: trigger: channel Trigger (by label" in out
    assert "guess: X1, X2, X3 -> misc (no known name)" in out
    for role, err in _errors_ms(folder).items():
        assert np.percentile(err, 99) <= 0.5, role
    with open_session(folder) as s:
        roles = stored_roles(s.metadata.devices)
        eeg = next(r for r in roles.values() if r.role == "eeg")
        assert eeg.source == "defaults" and eeg.guesses
        assert len(eeg.columns_of("eeg")) == 32 and eeg.trigger.labels == ["Trigger"]


@pytest.mark.parametrize("shape, why", [
    ("neuroscan", "no usable trigger source"),
    ("neuroscan", "units that cannot be mapped"),
    ("acqknowledge", "advertises no sampling rate"),
    ("acqknowledge", "GSR (eda, microvolts)")])
def test_outlets_the_defaults_cannot_know_are_refused_at_preflight(tmp_path, shape, why):
    with pytest.raises(RigPreflightError, match="--rig") as refused:
        _record(tmp_path / f"{shape}_s01", shape, None, duration=1.0)
    assert why in str(refused.value)
    assert not (tmp_path / f"{shape}_s01").exists()  # nothing recorded


def test_profile_problems_are_located_by_file_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[devices.eeg]\nquery = "name=X"\nrole = "brain"\n\n'
                   '[[devices.eeg.channels]]\nlabel = "GSR"\ntype = "eda"\nunit = "furlongs"\n'
                   '[devices.eeg.trigger]\nchannel = "T"\nlines = ["D1"]\n')
    profile, problems = check_profile(bad)
    assert profile is None
    text = [str(p) for p in problems]
    assert any(t.startswith(f"{bad}:3:") and "'brain'" in t for t in text)
    assert any(t.startswith(f"{bad}:8:") and "furlongs" in t for t in text)
    assert any(t.startswith(f"{bad}:9:") and "exactly one of" in t for t in text)
    assert main(["rig", "check", str(bad)]) == 2
    with pytest.raises(SystemExit, match="2"):  # --rig refuses it before anything starts
        build_parser().parse_args(["record", "--rig", str(bad)])


@pytest.mark.parametrize("name", ["curry-lsl.toml", "neuroscan-acquire.toml",
                                  "acqknowledge-ndt-bridge.toml", "simulated-lab.toml"])
def test_shipped_profiles_check_clean_and_say_what_to_verify(name, capsys):
    assert main(["rig", "check", str(RIGS_DIR / name)]) == 0
    assert "ok (" in capsys.readouterr().out
    text = (RIGS_DIR / name).read_text()
    assert "VERIFY" in text or "nothing to verify" in text


@pytest.mark.slow
def test_analyze_reads_gsr_ekg_and_ch9_by_the_roles_the_profile_stored(recorded, tmp_path):
    from analysis.clips import select_channels

    folder = recorded("acqknowledge", "acqknowledge-ndt-bridge.toml")
    with open_session(folder) as s:
        physio = select_channels(s, "physio")
        eeg = select_channels(s, "eeg")
        raw = s.streams[read_ground_truth(s.file)["streams"]["physio"]]
        labels = raw.labels
        assert physio is not None and eeg is not None
        assert physio.labels == ["ECG", "EDA", "RSP", "SKT", "PPG"] and physio.rate == 1000.0
        for name, label in (("ECG", "EKG"), ("EDA", "GSR"), ("PPG", "CH9")):
            column = raw.samples[:, labels.index(label)]
            assert np.allclose(physio.channel(name), column)  # mV, µS, V as stated
        assert "TRIGGER" not in eeg.labels and len(eeg.labels) == 64
    out = tmp_path / "analysis"
    assert main(["analyze", str(folder), "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    for line in ("GSR -&gt; EDA (µS)", "EKG -&gt; ECG (mV)", "CH9 -&gt; PPG (V)",
                 "not EEG: TRIGGER"):
        assert line in page, line


def test_a_bridge_without_a_rate_is_watched_for_outages_at_the_profiles_rate():
    from app.rig import inlet_options
    from drivers.lsl import outage_threshold

    rig = load_profile(RIGS_DIR / "acqknowledge-ndt-bridge.toml")
    assert inlet_options(rig, "physio").outage_threshold == outage_threshold(1000.0)
    assert inlet_options(rig, "eeg") is None and inlet_options(None, "physio") is None
