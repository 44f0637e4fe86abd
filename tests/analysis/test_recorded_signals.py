"""Physiology as a real lab records it, through real LSL into a session, then `melab analyze`:
a 60 s ECG/EDA/RSP at 1000 Hz with a 6 s outage, a PPG nothing is plugged into, and a 3 s
session. Nothing may crash; the flat channel and the gap are reported; the heart rate
agrees with NeuroKit2 on each continuous part and every sample sits at its true time."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from pathlib import Path

import neurokit2 as nk
import numpy as np
import pytest

from analysis.clips import read_signals, stream_of_type
from analysis.session_signals import session_signals
from app.cli.main import main
from core.devices import StreamInfo
from drivers.lsl import LslInlet
from drivers.sim.counter_streams import CounterSender
from recordings.recorder import Recorder
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session
from tests.conftest import unique_prefix
from tests.recordings.test_lsl_recording import counted, wait_for

RATE = 1000.0
SECONDS = 60.0  # two stretches of ~27 s: long enough for every channel (EDA needs 20 s)
OUTAGE_AT, OUTAGE = 27.0, 6.0
LABELS = ("ECG", "EDA", "RSP", "PPG")


class SignalSender(CounterSender):
    """A CounterSender whose device sends prepared signals (sample i = row i) instead of
    counts; a restart loses what falls due meanwhile, like an amplifier bridge restarted."""

    def __init__(self, info: StreamInfo, signals: np.ndarray) -> None:
        super().__init__(info)
        self.signals = signals.astype(np.float32)

    def values(self, index: np.ndarray) -> np.ndarray:
        """Rows `index` of the prepared signals (the last row once they run out)."""
        return self.signals[np.minimum(np.asarray(index), len(self.signals) - 1)]


def physiology(seconds: int, seed: int) -> np.ndarray:
    """(n, 4) ECG mV, EDA µS, RSP V and an unconnected PPG (0.5 V and ADC noise)."""
    n = int(seconds * RATE)
    fs = int(RATE)
    rng = np.random.default_rng(seed)
    return np.column_stack([
        nk.ecg_simulate(duration=seconds, sampling_rate=fs, heart_rate=72, random_state=seed),
        5.0 + nk.eda_simulate(duration=seconds, sampling_rate=fs, scr_number=8,
                              random_state=seed),
        nk.rsp_simulate(duration=seconds, sampling_rate=fs, random_state=seed),
        0.5 + 3e-4 * rng.standard_normal(n),
    ])[:n]


def record(folder: Path, participant: str, signals: np.ndarray, samples: int,
           outage: tuple[float, float] | None = None) -> SignalSender:
    """Stream `signals` over LSL into a new session until `samples` were recorded, with an
    outage (after s, for s) on the way; returns the sender (its stamps are the truth)."""
    prefix = unique_prefix("phys")
    info = StreamInfo(f"{prefix}Physio", "Physio", f"{prefix}src", LABELS,
                      ("mV", "µS", "V", "V"), RATE, "float32")
    sender = SignalSender(info, signals)
    sender.start()
    told: list[str] = []
    recorder = Recorder(folder, SessionMetadata(participant),
                        streams={"physio": LslInlet(source_id=info.source_id)},
                        on_message=told.append)
    try:
        recorder.connect()
        recorder.start()
        if outage is not None:
            wait_for(lambda: counted(recorder, "physio") >= outage[0] * RATE,
                     "samples before the outage", timeout=outage[0] * 3)
            sender.restart(pause=outage[1])
            wait_for(lambda: any("no data for" in m for m in told), "the stream's return")
        wait_for(lambda: counted(recorder, "physio") >= samples, f"{samples} samples",
                 timeout=SECONDS * 3)
        recorder.stop()
    finally:
        sender.stop()
    return sender


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two sessions: 60 s with a 6 s outage, and 3 s; the signals and senders that made them."""
    root = tmp_path_factory.mktemp("physio")
    long_signals = physiology(int(SECONDS) + 10, seed=3)
    expected = int((SECONDS - OUTAGE) * RATE)  # the device skips what falls in the outage
    long_sender = record(root / "P20_s01", "P20", long_signals, expected,
                         outage=(OUTAGE_AT, OUTAGE))
    short_signals = physiology(10, seed=4)
    record(root / "P21_s01", "P21", short_signals, int(3 * RATE))
    return {"root": root, "long": (root / "P20_s01", long_sender, long_signals)}


@pytest.mark.slow
def test_analyze_reports_the_flat_channel_the_gap_and_the_short_session(recorded, tmp_path):
    out = tmp_path / "results"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["analyze", str(recorded["root"]), "--out", str(out)]) == 0
    text = printed.getvalue()
    rows = list(csv.DictReader((out / "signals.csv").open(encoding="utf-8")))
    long_rows = [r for r in rows if r["subject"] == "P20"]
    (gap,) = [r for r in long_rows if r["status"] == "gap"]
    assert float(gap["end"]) - float(gap["start"]) == pytest.approx(OUTAGE, abs=0.3)
    # Every channel is judged in each of the two stretches: the PPG is flat in both.
    status = {(r["channel"], r["start"][:8]): r["status"] for r in long_rows if r["channel"]}
    assert sorted(s for (c, _), s in status.items() if c == "PPG") == ["flat", "flat"]
    assert {s for (c, _), s in status.items() if c != "PPG"} == {"ok"}
    short = {r["channel"]: r["status"] for r in rows if r["subject"] == "P21"}
    assert short == dict.fromkeys(LABELS, "not enough data")
    assert "P20/1" in text and "PPG" in text and "flat" in text and "without samples" in text
    assert "P21/1" in text and "not enough data" in text
    # Nothing annotated: spotted intervals only, no F1; only files written are listed.
    assert "No annotations" in text and not re.search(r"F1 \d", text)
    listed = text.split(f"Results in {out}: ")[1].strip().split(", ")
    assert sorted(listed) == sorted(p.name for p in out.iterdir())
    assert "features.npz" not in listed
    assert "flat" in (out / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_heart_rate_matches_neurokit_and_samples_sit_at_their_true_times(recorded):
    folder, sender, signals = recorded["long"]
    with open_session(folder) as session:
        view = stream_of_type(session, "Physio")
        recorded_ecg = view.samples[:, 0]
        stamps = view.times("device_time")[:]
        got = session_signals(read_signals(view), None, [], [])
    assert got is not None and len(got.physio) == 2
    # Which device sample each recorded row is: its device timestamp on the sender's grid.
    rows = np.rint((stamps - sender.t0) * RATE).astype(np.int64)
    np.testing.assert_array_equal(recorded_ecg, signals[rows, 0].astype(np.float32))
    for piece in got.physio:
        sent = rows[piece.stretch.start:piece.stretch.stop]
        assert np.all(np.diff(sent) == 1)  # a continuous part, nothing missing inside
        ecg = signals[sent[0]:sent[-1] + 1, 0]
        reference, _ = nk.ecg_process(ecg, sampling_rate=RATE)
        derived = piece.data.physio_derived
        assert derived is not None and derived.ppg is None  # the flat PPG was skipped
        ours = np.nanmean(derived.ecg.rate_bpm)
        assert ours == pytest.approx(float(reference["ECG_Rate"].mean()), abs=1.0)
        # R-peaks found by NeuroKit2 on the sent signal, at the sender's timestamps, against
        # ours on the session clock: the same instants (receipt latency aside), also after
        # the outage, where reading samples as continuous put them 6 s early.
        truth = sender.stamp(sent[0] + np.flatnonzero(reference["ECG_R_Peaks"].to_numpy()))
        found = piece.session(derived.ecg.peaks / derived.rate)
        nearest = np.abs(found[:, None] - truth[None, :]).min(axis=1)
        assert np.median(nearest) < 0.02
    times, bpm = got.heart_rate()
    assert np.all(np.diff(times) > 0) and np.isnan(bpm).sum() == 1  # one NaN: the gap
    first, second = got.physio[0].stretch, got.physio[1].stretch
    assert first.end < times[np.isnan(bpm)][0] < second.t0
