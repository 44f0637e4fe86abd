"""A session's stream as an MNE Raw: channel types, SI units, montage, events as Annotations."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from recordings.export.events import session_events
from recordings.export.readiness import check_exportable, eeg_stream
from recordings.export.signals import RegularStream, regular
from recordings.store.reader import Session

log = logging.getLogger(__name__)
MONTAGE = "standard_1020"
# MNE 1.13 renamed the template (same 10-20 labels and positions); the old name goes in 1.14.
MONTAGE_NEW_NAME = "colin27_1020"
GAP = "BAD_ACQ_SKIP"  # MNE's name for a stretch without data (filled with zeros)


def to_mne(session: Session, stream: str | None = None) -> Any:
    """The stream (default: the EEG) as mne.io.RawArray on the session clock: channel types,
    SI units, standard_1020 positions where labels match (case-insensitive; the rest named in
    info['description']), the trigger as a stim channel, the session's events, trials and
    coded expressions as Annotations with durations (those inside the data), meas_date =
    the first sample's wall-clock time."""
    check_exportable(session)
    return raw_from(session, regular(eeg_stream(session, stream)))


def raw_from(session: Session, signal: RegularStream) -> Any:
    """The RawArray of an already regularised stream (see to_mne)."""
    import mne

    info = mne.create_info([c.label for c in signal.channels], signal.sfreq,
                           [c.kind for c in signal.channels], verbose=False)
    raw = mne.io.RawArray(signal.si(), info, verbose=False)
    raw.set_meas_date(wall_clock(session, signal.t0))
    unplaced = set_montage(raw)
    raw.info["description"] = (
        f"melab session {session.metadata.participant} s{session.metadata.session}, stream "
        f"{signal.name}; {MONTAGE} positions for every EEG channel but: "
        f"{', '.join(unplaced) or 'none'}")
    raw.set_annotations(annotations(session, signal, raw.info["meas_date"]))
    return raw


def wall_clock(session: Session, t: float) -> dt.datetime:
    """UTC wall-clock time of session-clock time t (start_utc + (t - start_time))."""
    attrs = session.attrs
    start = dt.datetime.fromisoformat(str(attrs["start_utc"]))
    return start + dt.timedelta(seconds=t - float(attrs["start_time"]))


def set_montage(raw: Any) -> list[str]:
    """standard_1020 positions for the EEG channels whose labels match (case-insensitive);
    returns the EEG labels left without a position."""
    import mne

    builtin = mne.channels.get_builtin_montages()
    montage = mne.channels.make_standard_montage(
        MONTAGE_NEW_NAME if MONTAGE_NEW_NAME in builtin else MONTAGE)
    known = {name.lower() for name in montage.ch_names}
    eeg = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True)]
    raw.set_montage(montage, match_case=False, on_missing="ignore", verbose=False)
    return [label for label in eeg if label.lower() not in known]


def annotations(session: Session, signal: RegularStream, orig_time: dt.datetime) -> Any:
    """Events, trials and expressions that start inside the data, plus the outages."""
    import mne

    end = signal.t0 + len(signal.data) / signal.sfreq
    rows = [r for r in session_events(session) if signal.t0 <= r.onset < end]
    dropped = len(session_events(session)) - len(rows)
    if dropped:
        log.info("%d events lie outside the %s data and are left out", dropped, signal.name)
    onsets = [r.onset - signal.t0 for r in rows] + [t - signal.t0 for t, _ in signal.gaps]
    durations = [min(r.duration, end - r.onset) for r in rows] + [d for _, d in signal.gaps]
    descriptions = [r.description for r in rows] + [GAP] * len(signal.gaps)
    extras = [dict(r.extras) for r in rows] + [{} for _ in signal.gaps]
    return mne.Annotations(onsets, durations, descriptions, orig_time=orig_time, extras=extras)
