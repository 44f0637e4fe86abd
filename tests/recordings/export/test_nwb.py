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


@pytest.mark.slow
def test_streams_are_written_piece_by_piece_chunked_and_compressed(
        export_sessions: dict[int, Path], tmp_path: Path, monkeypatch) -> None:
    import h5py

    from recordings.export import nwb_data

    # Small buffers: every stream takes many reads of the session file, none the whole of it.
    monkeypatch.setattr(nwb_data, "BUFFER_BYTES", 64 * 1024)
    monkeypatch.setattr(nwb_data, "CHUNK_BYTES", 16 * 1024)
    reads: list[int] = []
    real = nwb_data.StoredColumns._get_data

    def counted(self, selection):
        block = real(self, selection)
        reads.append(block.nbytes)
        return block

    monkeypatch.setattr(nwb_data.StoredColumns, "_get_data", counted)
    out = write_nwb(export_sessions[2], tmp_path / "pieces.nwb")
    with open_session(export_sessions[2]) as session:
        eeg_stream = next(s for s in session.streams.values() if s.type == "EEG")
        physio = next(s for s in session.streams.values() if s.type == "Physio")
        assert eeg_stream.samples.nbytes > 10 * 64 * 1024
        assert len(reads) > 10 and max(reads) <= 64 * 1024
        with h5py.File(out, "r") as f:
            eeg = f["acquisition/EEG/data"]
            assert eeg.compression == "gzip" and eeg.chunks[0] < eeg.shape[0]
            n_eeg = eeg.shape[1]
            np.testing.assert_array_equal(eeg[:], eeg_stream.samples[:, :n_eeg])
            ecg = f["acquisition/ECG/data"]
            assert ecg.compression == "gzip"
            np.testing.assert_array_equal(ecg[:], physio.samples[:, physio.labels.index("ECG")])
            assert "starting_time" in f["acquisition/EEG"]  # regular to 1 µs after sync


def test_irregular_timestamps_are_written_in_pieces_too(tmp_path: Path, monkeypatch) -> None:
    import datetime as dt

    import h5py
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    from recordings.export import nwb_data

    monkeypatch.setattr(nwb_data, "BUFFER_BYTES", 8 * 1024)
    monkeypatch.setattr(nwb_data, "CHUNK_BYTES", 2 * 1024)
    monkeypatch.setattr(nwb_data, "SCAN_ROWS", 1000)
    rng = np.random.default_rng(2)
    n, start = 20_000, 1000.0
    times = start + 5 + np.arange(n) / 500 + rng.uniform(-2e-4, 2e-4, n)  # jittered receipt
    samples = rng.normal(size=(n, 3)).astype(np.float32)
    with h5py.File(tmp_path / "stream.h5", "w") as src:
        src["session_time"], src["samples"] = times, samples
        assert nwb_data.regular_rate(src["session_time"]) is None
        regular = start + np.arange(n) / 500
        assert nwb_data.regular_rate(regular) == pytest.approx(500)
        nwb = NWBFile(session_description="s", identifier="i",
                      session_start_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        nwb.add_acquisition(TimeSeries(
            name="x", data=nwb_data.stored(src["samples"], [0, 2]), unit="V",
            timestamps=nwb_data.stored(src["session_time"], minus=start)))
        with NWBHDF5IO(str(tmp_path / "x.nwb"), "w") as io:
            io.write(nwb)
    with NWBHDF5IO(str(tmp_path / "x.nwb"), "r") as io:
        series = io.read().acquisition["x"]
        np.testing.assert_array_equal(series.data[:], samples[:, [0, 2]])
        np.testing.assert_allclose(series.timestamps[:], times - start, rtol=0, atol=1e-12)
        assert series.timestamps.chunks[0] < n and series.data.compression == "gzip"
