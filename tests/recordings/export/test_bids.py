"""BIDS through MNE-BIDS, checked by the official validator and read back with MNE-BIDS."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recordings.export.bids import write_bids
from recordings.export.readiness import ExportError
from recordings.store.reader import open_session

VALIDATOR = Path(sys.executable).with_name("bids-validator-deno")


@pytest.fixture(scope="module")
def bids_root(export_sessions: dict[int, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bids") / "dataset"
    messages: list[tuple[float, str]] = []
    write_bids([export_sessions[2], export_sessions[1]], root,
               progress=lambda f, m: messages.append((f, m)))
    assert messages[-1][0] == 1.0 and [f for f, _ in messages] == sorted(f for f, _ in messages)
    return root


@pytest.mark.slow
def test_the_official_validator_finds_no_error(bids_root: Path) -> None:
    done = subprocess.run([str(VALIDATOR), str(bids_root), "--json"], capture_output=True,
                          text=True, timeout=120)
    issues = json.loads(done.stdout)["issues"]["issues"]
    errors = [(i["code"], i.get("location")) for i in issues if i["severity"] == "error"]
    assert errors == []


@pytest.mark.slow
def test_eeg_and_events_read_back_with_mne_bids(bids_root: Path,
                                                export_sessions: dict[int, Path]) -> None:
    import mne_bids

    path = mne_bids.BIDSPath(subject="P10", session="01", task="cmrr", datatype="eeg",
                             root=bids_root)
    raw = mne_bids.read_raw_bids(path, verbose=False)
    with open_session(export_sessions[1]) as session:
        eeg = next(s for s in session.streams.values() if s.type == "EEG")
        stored = eeg.samples[:].astype(np.float64)
        times = eeg.times("session_time")[:]
        events = [e for e in session.events if times[0] <= e.time <= times[-1]]
        trials = session.trials
        n_eeg = sum(t == "EEG" for t in eeg.channel_types)
    data = raw.get_data(picks=list(range(n_eeg)))  # volts
    assert data.shape == (n_eeg, len(stored))  # a clean recording: one sample per grid row
    np.testing.assert_allclose(data.T * 1e6, stored[:, :n_eeg], rtol=2e-7, atol=1e-6)
    assert raw.get_channel_types()[n_eeg] == "stim"
    period = 1.0 / raw.info["sfreq"]
    annotations = list(zip(raw.annotations.onset, raw.annotations.description, strict=True))
    for event in events:
        onsets = [o for o, d in annotations if d == event.kind]
        assert min(abs(o - (event.time - times[0])) for o in onsets) <= period, event.kind
    trial_rows = [o for o, d in annotations if d == "trial"]
    assert len(trial_rows) == len(trials) == 2
    for onset, trial in zip(sorted(trial_rows), trials, strict=True):
        assert abs(onset - (trial.start_time - times[0])) <= period
    assert any(d == "micro_expression" for _, d in annotations)


@pytest.mark.slow
def test_events_tsv_has_durations_self_reports_and_clips(bids_root: Path) -> None:
    tsv = next(bids_root.glob("sub-P10/ses-01/eeg/*_events.tsv"))
    lines = [line.split("\t") for line in tsv.read_text().splitlines()]
    rows = [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]
    answers = [r for r in rows if r["trial_type"] == "answer"]
    assert len(answers) == 2 and all(r["valence"] != "n/a" for r in answers)
    onsets = [r for r in rows if r["trial_type"] == "stimulus_onset"]
    assert sorted(r["clip"] for r in onsets) == ["demo_happiness", "demo_sadness"]
    assert all(2.5 < float(r["duration"]) < 4.0 for r in onsets)  # 3 s clips
    trials = [r for r in rows if r["trial_type"] == "trial"]
    assert {r["report_emotion"] for r in trials} - {"n/a", ""} and all(
        r["reminders"] != "n/a" for r in trials)


@pytest.mark.slow
def test_physio_files_and_consent(bids_root: Path, export_sessions: dict[int, Path]) -> None:
    (sidecar,) = bids_root.glob("sub-P09/ses-01/eeg/*_physio.json")
    meta = json.loads(sidecar.read_text())
    assert meta["Columns"][-1] == "trigger" and meta["SamplingFrequency"] > 999
    with gzip.open(sidecar.with_name(sidecar.name.replace(".json", ".tsv.gz")), "rt") as f:
        first = [float(v) for v in f.readline().split("\t")]
    with open_session(export_sessions[2]) as session:
        physio = next(s for s in session.streams.values() if s.type == "Physio")
        np.testing.assert_allclose(first, physio.samples[0], rtol=1e-6)
    participants = (bids_root / "participants.tsv").read_text().splitlines()
    assert "consent_level" in participants[0].split("\t")
    assert not list(bids_root.glob("sub-P09/**/*.mkv"))  # consent 2: no face images
    videos = sorted(bids_root.glob("sub-P10/ses-01/video/*_video.mkv"))
    assert len(videos) == 2


def test_an_unsynchronized_session_is_refused(tmp_path: Path) -> None:
    from recordings.store.metadata import SessionMetadata
    from recordings.store.session_writer import SessionWriter

    folder = tmp_path / "P01_s01"
    SessionWriter(folder, SessionMetadata("P01"), []).close()
    with pytest.raises(ExportError, match="not synchronized; run `melab sync"):
        write_bids([folder], tmp_path / "bids")
    assert not (tmp_path / "bids").exists()
