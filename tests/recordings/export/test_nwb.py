"""NWB through PyNWB, checked by nwbinspector and read back with PyNWB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recordings.export.nwb import write_nwb
from recordings.export.readiness import ExportError
from recordings.store.reader import open_session


@pytest.fixture(scope="module")
def nwb_files(export_sessions: dict[int, Path],
              tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    out = tmp_path_factory.mktemp("nwb")
    return {level: write_nwb(folder, out / f"consent{level}.nwb")
            for level, folder in export_sessions.items()}


@pytest.mark.slow
def test_nwbinspector_finds_nothing_critical(nwb_files: dict[int, Path]) -> None:
    from nwbinspector import inspect_nwbfile

    for path in nwb_files.values():
        found = [(m.importance.name, m.check_function_name, m.object_name)
                 for m in inspect_nwbfile(nwbfile_path=str(path))]
        assert [f for f in found if f[0] in ("CRITICAL", "BEST_PRACTICE_VIOLATION")] == []


@pytest.mark.slow
def test_data_units_and_trials_read_back(nwb_files: dict[int, Path],
                                         export_sessions: dict[int, Path]) -> None:
    from pynwb import NWBHDF5IO

    with open_session(export_sessions[1]) as session, \
            NWBHDF5IO(str(nwb_files[1]), "r") as io:
        nwb = io.read()
        eeg_stream = next(s for s in session.streams.values() if s.type == "EEG")
        n_eeg = sum(t == "EEG" for t in eeg_stream.channel_types)
        eeg = nwb.acquisition["EEG"]
        np.testing.assert_array_equal(eeg.data[:], eeg_stream.samples[:, :n_eeg])
        assert (eeg.unit, eeg.conversion) == ("volts", 1e-6)
        times = eeg.get_timestamps()
        synced = eeg_stream.times("session_time")[:]
        np.testing.assert_allclose(times - times[0], synced - synced[0], atol=1e-6)
        physio = next(s for s in session.streams.values() if s.type == "Physio")
        eda = nwb.acquisition["EDA"]
        column = physio.labels.index("EDA")
        np.testing.assert_array_equal(eda.data[:], physio.samples[:, column])
        assert (eda.unit, eda.conversion) == ("S", 1e-6)
        trials = nwb.trials.to_dataframe()
        zero = synced[0] - times[0]  # the session clock at NWB time 0
        for row, trial in zip(trials.itertuples(), session.trials, strict=True):
            assert abs(row.start_time + zero - trial.start_time) < 1e-9
            assert abs(row.stop_time + zero - trial.end_time) < 1e-9
            assert (row.clip, row.report_valence) == (trial.stimulus, trial.report_valence)
        assert len(nwb.intervals["expressions"]) > 0
        events = nwb.get_events_table("protocol_events").to_dataframe()
        logged = [e for e in session.events if e.kind != "lsl_marker"]
        assert len(events) == len(logged)
        np.testing.assert_allclose(np.sort(events["timestamp"] + zero),
                                   np.sort([e.time for e in logged]), atol=1e-9)
        assert {"face_trial001", "face_trial002"} <= set(nwb.acquisition)
        labels = [str(v).lower() for v in nwb.electrodes["label"][:]]
        x = nwb.electrodes["x"][:]
        assert np.isfinite(x[labels.index("fp1")]) and np.isnan(x[labels.index("cb1")])


@pytest.mark.slow
def test_consent_level_2_exports_no_images(nwb_files: dict[int, Path]) -> None:
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(nwb_files[2]), "r") as io:
        nwb = io.read()
        assert not [k for k in nwb.acquisition if k.startswith("face_")]
    assert not nwb_files[2].with_name("consent2_video").exists()


def test_an_existing_file_is_never_replaced(tmp_path: Path) -> None:
    out = tmp_path / "x.nwb"
    out.write_text("mine")
    with pytest.raises(ExportError, match="never overwrites"):
        write_nwb(tmp_path, out)
    assert out.read_text() == "mine"
