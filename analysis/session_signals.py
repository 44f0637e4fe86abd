"""A session's physiology and EEG as continuous pieces, read off on the session clock.

Each stretch of a stream between outages (analysis/signals.py) becomes a `Piece`: a ClipData
on the piece's own axis (0 at its first sample, the nominal rate), with the session's
expressions mapped onto that axis. Windows asked for in session time are read from the one
piece they overlap most, cut to it (as windows reaching past a recording's ends are), so no
feature spans a gap; concordance epochs must lie inside one piece. What was found (flat
channels, stretches too short, outages) is kept as `SignalNote`s for signals.csv and the report.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from analysis.clips import Signals
from analysis.concordance import ClipData, MEInterval, epoch_features
from analysis.features_eeg import BAND_NAMES, band_powers_between
from analysis.features_physio import FEATURES_BY_CHANNEL, window_features
from analysis.signals import OK, Stretch, check_channel, stretches

GAP, BREAK = "gap", "clock reset"


@dataclass(frozen=True)
class SignalNote:
    """One row of signals.csv: a channel's state over one stretch, or an outage."""

    stream: str
    channel: str  # '' for an outage
    status: str  # ok | flat | not enough data | gap | clock reset
    start: float  # session clock (the analysis clock: session_time after sync)
    end: float
    detail: str


@dataclass
class Piece:
    """One continuous stretch of a stream as ClipData on its own axis."""

    stretch: Stretch
    nominal: float
    data: ClipData

    def local(self, t: float | np.ndarray) -> np.ndarray:
        """Session time -> seconds on the piece's axis (nominal-rate samples from its start)."""
        shifted = np.asarray(t, dtype=np.float64) - self.stretch.t0
        return shifted * self.stretch.rate / self.nominal

    def session(self, s: float | np.ndarray) -> np.ndarray:
        """Seconds on the piece's axis -> session time."""
        return self.stretch.t0 + np.asarray(s, dtype=np.float64) * self.nominal / self.stretch.rate


@dataclass
class SessionSignals:
    """The pieces of a session's physiology and EEG, and what was noted about them."""

    physio: list[Piece] = field(default_factory=list)
    eeg: list[Piece] = field(default_factory=list)
    physio_names: tuple[str, ...] = ()  # feature names of the stream's peripheral channels
    eeg_channels: int = 0
    notes: list[SignalNote] = field(default_factory=list)

    def physio_window(self, start: float, stop: float) -> dict[str, float]:
        """Table 6 features over [start, stop) s of session time (NaN where undefined)."""
        out = dict.fromkeys(self.physio_names, np.nan)
        piece = _best([p for p in self.physio if p.data.physio], start, stop)
        if piece is not None and piece.data.physio_derived is not None:
            lo, hi = piece.local([start, stop])
            values = window_features(piece.data.physio_derived, np.array([lo]), np.array([hi]))
            out |= {name: float(v[0]) for name, v in values.items()}
        return out

    def eeg_window(self, start: float, stop: float) -> np.ndarray | None:
        """Band power (channels, bands) over [start, stop) s of session time; None without EEG."""
        if not self.eeg:
            return None
        piece = _best(self.eeg, start, stop)
        if piece is None or piece.data.eeg_data is None:
            return np.full((self.eeg_channels, len(BAND_NAMES)), np.nan)
        lo, hi = piece.local([start, stop])
        return band_powers_between(piece.data.eeg_data[0], piece.data.eeg_rate, [lo], [hi])[0]

    def heart_rate(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(session times, bpm) of the ECG heart rate, NaN across every gap; None without."""
        times, bpm = [], []
        for p in self.physio:
            derived = p.data.physio_derived if p.data.physio else None
            if derived is None or derived.ecg is None:
                continue
            t, hr = derived.heart_rate()
            at = p.session(t)
            if times:  # one NaN between pieces: no slope or rate is read across a gap
                times.append(np.array([(times[-1][-1] + at[0]) / 2]))
                bpm.append(np.array([np.nan]))
            times.append(at)
            bpm.append(hr)
        return (np.concatenate(times), np.concatenate(bpm)) if times else None

    def channel_between(self, name: str, start: float, stop: float
                        ) -> tuple[np.ndarray, np.ndarray] | None:
        """(session times, samples) of one peripheral channel as recorded over [start, stop)
        s of session time, NaN between pieces; None where it has no sample."""
        times, values = [], []
        for p in self.physio:
            samples = p.data.physio.get(name) if p.data.physio else None
            if samples is None:
                continue
            rate = p.data.physio_rate
            lo, hi = np.clip(np.rint((p.local([start, stop]) - p.data.physio_t0) * rate),
                             0, len(samples)).astype(int)
            if hi <= lo:
                continue
            at = p.session(p.data.physio_t0 + np.arange(lo, hi) / rate)
            if times:  # one NaN between pieces: no line is drawn across a gap
                times.append(np.array([(times[-1][-1] + at[0]) / 2]))
                values.append(np.array([np.nan]))
            times.append(at)
            values.append(np.asarray(samples[lo:hi], dtype=np.float64))
        return (np.concatenate(times), np.concatenate(values)) if times else None

    def epochs(self, lengths: Sequence[float]) -> list[dict]:
        """epoch_features of every piece that holds a signal (concordance pools them)."""
        pieces = [p for p in (*self.physio, *self.eeg)
                  if p.data.physio or p.data.eeg is not None]
        return [epoch_features(p.data, lengths) for p in pieces if p.data.mes]


def _best(pieces: Sequence[Piece], start: float, stop: float) -> Piece | None:
    """The piece covering most of [start, stop), or None when none covers any of it."""
    overlaps = [p.stretch.overlap(start, stop) for p in pieces]
    if not overlaps or max(overlaps) <= 0:
        return None
    return pieces[int(np.argmax(overlaps))]


def _stretches_of(signals: Signals) -> list[Stretch]:
    host = signals.host_times if signals.host_times is not None else signals.times
    device = signals.device_times if signals.device_times is not None else signals.times
    gaps = signals.gaps if signals.gaps is not None else np.zeros((0, 2))
    receipt = np.array_equal(signals.times, host)  # not synchronised: host_time it is
    return stretches(signals.times, host, device, gaps, signals.rate, receipt)


def _piece(part: Stretch, nominal: float, mes: Sequence[MEInterval],
           blockers: Sequence[tuple[float, float]], **signals: object) -> Piece:
    """A Piece whose ClipData holds `signals` and the expressions mapped onto its axis."""
    piece = Piece(part, nominal, ClipData(mes=[]))
    local_mes = [MEInterval(*(float(v) for v in piece.local([m.onset, m.apex, m.offset])))
                 for m in mes]
    local_blockers = [(float(a), float(b)) for a, b in (piece.local(list(x)) for x in blockers)]
    piece.data = ClipData(mes=local_mes, blockers=local_blockers, **signals)  # type: ignore[arg-type]
    return piece


def _gap_notes(name: str, parts: Sequence[Stretch]) -> list[SignalNote]:
    """A note per break between stretches: an outage, or a device clock reset (no hole)."""
    notes = []
    for a, b in itertools.pairwise(parts):
        after = f"after {a.end - parts[0].t0:.2f} s"
        if b.t0 - a.end > 2.0 / a.rate:
            notes.append(SignalNote(name, "", GAP, a.end, b.t0, f"{b.t0 - a.end:.2f} s without "
                                    f"samples {after}; no feature spans it"))
        else:
            notes.append(SignalNote(name, "", BREAK, a.end, b.t0, f"device clock reset {after}"
                                    "; the parts are processed apart"))
    return notes


def physio_pieces(signals: Signals, mes: Sequence[MEInterval],
                  blockers: Sequence[tuple[float, float]]) -> tuple[list[Piece], list[SignalNote]]:
    """The physiology stream's pieces, each with only its usable channels, and the notes."""
    channels = signals.physio()
    parts = _stretches_of(signals)
    pieces, notes = [], _gap_notes(signals.name, parts)
    for part in parts:
        usable = {}
        for name, x in channels.items():
            status = check_channel(name, x[part.start:part.stop], signals.rate)
            if status == OK:
                usable[name] = x[part.start:part.stop]
            notes.append(SignalNote(
                signals.name, name, status, part.t0, part.end,
                f"{part.t0 - parts[0].t0:.2f}-{part.end - parts[0].t0:.2f} s: {status}"
                + ("" if status == OK else "; skipped")))
        pieces.append(_piece(part, signals.rate, mes, blockers, physio=usable or None,
                             physio_rate=signals.rate))
    return pieces, sorted(notes, key=lambda n: (n.start, n.channel))


def eeg_pieces(signals: Signals, mes: Sequence[MEInterval],
               blockers: Sequence[tuple[float, float]]) -> tuple[list[Piece], list[SignalNote]]:
    """The EEG stream's pieces and its outages."""
    parts = _stretches_of(signals)
    pieces = [
        _piece(part, signals.rate, mes, blockers, eeg=signals.samples[part.start:part.stop],
               eeg_rate=signals.rate, eeg_labels=signals.labels)
        for part in parts
    ]
    return pieces, _gap_notes(signals.name, parts)


def session_signals(physio: Signals | None, eeg: Signals | None, mes: Sequence[MEInterval],
                    blockers: Sequence[tuple[float, float]]) -> SessionSignals | None:
    """Both streams as pieces (MEs and blockers in session time); None without either."""
    if physio is None and eeg is None:
        return None
    out = SessionSignals()
    if physio is not None and physio.physio():
        out.physio, notes = physio_pieces(physio, mes, blockers)
        out.notes += notes
        present = set(physio.physio())
        out.physio_names = tuple(
            f for c, names in FEATURES_BY_CHANNEL.items() if c in present for f in names)
    if eeg is not None:
        out.eeg, notes = eeg_pieces(eeg, mes, blockers)
        out.notes += notes
        first = next((p.data.eeg_data for p in out.eeg if p.data.eeg_data is not None), None)
        out.eeg_channels = first[0].shape[1] if first is not None else 0
    return out
