"""`melab import xdf`: a file written here by the XDF specification, round-tripped."""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np
import pytest

from app.cli.main import main
from drivers.sim.eeg import EEG_LABELS_64, simulate_eeg
from drivers.sim.physio import simulate_physio
from drivers.sim.scenario import make_scenario
from recordings.store.reader import open_session

# Chunk tags of the XDF specification.
FILE_HEADER, STREAM_HEADER, SAMPLES, CLOCK_OFFSET, STREAM_FOOTER = 1, 2, 3, 4, 6


def varlen(n: int) -> bytes:
    """XDF's variable-length integer: a byte saying 1, 4 or 8, then the number."""
    if n < 256:
        return bytes([1, n])
    return bytes([4]) + struct.pack("<I", n) if n < 2**32 else bytes([8]) + struct.pack("<Q", n)


def chunk(tag: int, content: bytes) -> bytes:
    """One chunk: length (of tag + content) as 8 bytes, tag, content."""
    return bytes([8]) + struct.pack("<Q", len(content) + 2) + struct.pack("<H", tag) + content


def header_xml(name: str, kind: str, labels: list[str], rate: float, fmt: str,
               units: list[str], types: list[str]) -> bytes:
    channels = "".join(f"<channel><label>{label}</label><unit>{unit}</unit><type>{t}</type>"
                       "</channel>" for label, unit, t in zip(labels, units, types, strict=True))
    return (f'<?xml version="1.0"?><info><name>{name}</name><type>{kind}</type>'
            f"<channel_count>{len(labels)}</channel_count><nominal_srate>{rate}</nominal_srate>"
            f"<channel_format>{fmt}</channel_format><source_id>{name}-src</source_id>"
            f"<hostname>lab-pc</hostname><desc><channels>{channels}</channels></desc>"
            "</info>").encode()


def samples_chunk(stream: int, stamps: np.ndarray, values: list, fmt: str) -> bytes:
    body = struct.pack("<I", stream) + varlen(len(stamps))
    for t, row in zip(stamps, values, strict=True):
        body += bytes([8]) + struct.pack("<d", t)
        for v in row:
            body += (varlen(len(v.encode())) + v.encode() if fmt == "string"
                     else struct.pack("<f", v))
    return chunk(SAMPLES, body)


def write_xdf(path: Path, eeg: np.ndarray, eeg_t: np.ndarray, markers: list[str],
              marker_t: np.ndarray, offsets: list[tuple[float, float]]) -> None:
    out = b"XDF:" + chunk(FILE_HEADER, b'<?xml version="1.0"?><info><version>1.0</version>'
                          b"<datetime>2026-03-04T10:20:30+01:00</datetime></info>")
    out += chunk(STREAM_HEADER, struct.pack("<I", 1) + header_xml(
        "Curry", "EEG", ["Fp1", "Cz", "O2", "TRIGGER"], 500.0, "float32",
        ["microvolts"] * 3 + [""], ["EEG"] * 3 + ["STIM"]))
    out += chunk(STREAM_HEADER, struct.pack("<I", 2) + header_xml(
        "stim-markers", "Markers", ["m"], 0.0, "string", [""], [""]))
    for start in range(0, len(eeg_t), 100):  # several chunks, as LabRecorder writes them
        out += samples_chunk(1, eeg_t[start:start + 100], eeg[start:start + 100].tolist(),
                             "float32")
    out += samples_chunk(2, marker_t, [[m] for m in markers], "string")
    for stream in (1, 2):
        for t, offset in offsets:
            out += chunk(CLOCK_OFFSET, struct.pack("<Idd", stream, t, offset))
        out += chunk(STREAM_FOOTER, struct.pack("<I", stream) + b'<?xml version="1.0"?><info>'
                     b"<clock_offsets></clock_offsets></info>")
    path.write_bytes(out)


def test_an_xdf_file_round_trips_through_melab_import_xdf(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    eeg = rng.normal(0, 20, (1000, 4)).astype(np.float32)
    eeg[:, 3] = 0
    eeg_t = 5000.0 + np.arange(1000) / 500.0
    markers = ["start", "stimulus onset: happy", "ende äöü"]
    marker_t = np.array([5000.1, 5000.7, 5001.5])
    offsets = [(4999.0, 0.25), (5001.0, 0.25), (5003.0, 0.25)]
    xdf = tmp_path / "rec.xdf"
    write_xdf(xdf, eeg, eeg_t, markers, marker_t, offsets)

    assert main(["import", "xdf", str(xdf), "--out", str(tmp_path / "s"),
                 "--participant", "X1"]) == 0
    (folder,) = (tmp_path / "s").iterdir()
    with open_session(folder) as session:
        assert session.complete and session.metadata.participant == "X1"
        assert session.attrs["start_utc"].startswith("2026-03-04T09:20:30")
        curry = session.streams["Curry"]
        np.testing.assert_array_equal(curry.samples[:], eeg)
        np.testing.assert_array_equal(curry.times("device_time")[:], eeg_t)
        assert curry.labels == ["Fp1", "Cz", "O2", "TRIGGER"] and curry.nominal_rate == 500
        assert curry.channel_types[-1] == "STIM" and curry.units[0] == "microvolts"
        np.testing.assert_allclose(curry.clock_offsets,
                                   [[t + o, o] for t, o in offsets])
        np.testing.assert_allclose(curry.times("session_time")[:], eeg_t + 0.25, atol=1e-6)
        stim = session.streams["stim-markers"]
        assert [str(v) for v in stim.samples[:, 0]] == markers
        events = [e for e in session.events if e.kind == "lsl_marker"]
        assert [e.payload["value"] for e in events] == markers
        np.testing.assert_allclose([e.time for e in events], marker_t + 0.25)


def test_a_file_that_is_not_xdf_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.xdf"
    bad.write_bytes(b"not an xdf file")
    assert main(["import", "xdf", str(bad), "--out", str(tmp_path / "s")]) == 2
    *progress, error = capsys.readouterr().err.strip().splitlines()  # progress bar first
    assert error.startswith("melab import xdf: error: ") and "not a readable XDF" in error
    assert all(line.startswith("[") for line in progress) and not (tmp_path / "s").exists()


def numeric_chunk(stream: int, stamps: np.ndarray, values: np.ndarray) -> bytes:
    """A samples chunk of float32 channels, laid out at once (8-byte timestamp per sample)."""
    rows = np.zeros(len(stamps), [("size", "u1"), ("t", "<f8"), ("v", "<f4", values.shape[1])])
    rows["size"], rows["t"], rows["v"] = 8, stamps, values
    return chunk(SAMPLES, struct.pack("<I", stream) + varlen(len(stamps)) + rows.tobytes())


@pytest.mark.slow
def test_melab_analyze_takes_an_imported_xdf_session_without_video(tmp_path: Path,
                                                                   capsys) -> None:
    scenario = make_scenario(3, duration=90.0)
    physio, labels, units = simulate_physio(scenario, 1000.0)
    eeg = simulate_eeg(scenario, 500.0, channels=8)
    t0, offset = 1000.0, 0.5
    out = b"XDF:" + chunk(FILE_HEADER, b'<?xml version="1.0"?><info><version>1.0</version>'
                          b"</info>")
    for stream, (name, kind, rate, names, unit) in enumerate(
            [("Curry", "EEG", 500.0, list(EEG_LABELS_64[:8]), ["microvolts"] * 8),
             ("MP160", "Physio", 1000.0, list(labels), list(units))], start=1):
        out += chunk(STREAM_HEADER, struct.pack("<I", stream) + header_xml(
            name, kind, names, rate, "float32", unit, [kind if kind == "EEG" else n
                                                       for n in names]))
    for stream, data, rate in ((1, eeg, 500.0), (2, physio, 1000.0)):
        for start in range(0, len(data), 5000):
            block = data[start:start + 5000]
            out += numeric_chunk(stream, t0 + (start + np.arange(len(block))) / rate, block)
        for t in (t0, t0 + 45, t0 + 89):
            out += chunk(CLOCK_OFFSET, struct.pack("<Idd", stream, t, offset))
    (tmp_path / "rec.xdf").write_bytes(out)
    assert main(["import", "xdf", str(tmp_path / "rec.xdf"), "--out", str(tmp_path / "s"),
                 "--participant", "X1"]) == 0
    # The coder's micro-expressions, in seconds on the session clock (no frames to count).
    micro = [e for e in scenario.expressions if e.kind == "micro"]
    assert micro
    coding = tmp_path / "coding.csv"
    coding.write_text("subject,session,trial,onset_s,apex_s,offset_s,aus,emotion\n" + "".join(
        f"X1,1,1,{t0 + offset + e.onset},{t0 + offset + e.apex},{t0 + offset + e.offset},4,"
        f"{e.emotion}\n" for e in micro))
    capsys.readouterr()
    assert main(["analyze", str(tmp_path / "s"), "--annotations", str(coding),
                 "--out", str(tmp_path / "results")]) == 0
    printed = capsys.readouterr().out
    assert "no video in this session, so no face spotting" in printed
    with (tmp_path / "results" / "concordance.csv").open() as fh:
        paired = {row["feature"] for row in csv.DictReader(fh) if int(row["n_pairs"]) > 0}
    assert {"ECG_Rate_Mean", "SKT_Mean", "EEG_alpha_FP1_dB"} <= paired
    assert (tmp_path / "results" / "spotting.csv").read_text().count("\n") == 1  # header only
