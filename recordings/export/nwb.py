"""A session as one NWB file through PyNWB, every series on the session clock (docs/export.md):
EEG as an ElectricalSeries, each physiological channel as a TimeSeries, trials, trigger codes,
protocol events and coded expressions as tables, the face video as external ImageSeries when
consent allows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.codes import PROBE_CODE, SYNC_CODE
from recordings.export.events import TRIAL, ExportEvent, session_events
from recordings.export.mne_raw import set_montage, wall_clock
from recordings.export.nwb_data import blocks, regular_rate, stored
from recordings.export.readiness import ExportError, check_exportable, eeg_stream, numeric_streams
from recordings.export.signals import Channel, channels_of
from recordings.export.video import VIDEO_SUFFIX, consent_allows_images, write_segment_video
from recordings.store.layout import TRIGGER_LOG_TYPE
from recordings.store.reader import Session, StreamView, open_session

Progress = Callable[[float, str], None]
TRIAL_COLUMNS = {"clip": "stimulus clip", "block": "practice or main", "emotion":
                 "the clip's target emotion", "status": "complete, timeout, aborted, ...",
                 "report_emotion": "self-reported emotion", "report_valence":
                 "self-reported valence 1-9 (0: none)", "report_arousal":
                 "self-reported arousal 1-9 (0: none)", "reminders": "reminders given"}


def write_nwb(folder: Path, out: Path, progress: Progress | None = None) -> Path:
    """Write the session as out (.nwb); refuses to replace an existing file."""
    from pynwb import NWBHDF5IO

    say = progress or (lambda _f, _m: None)
    if out.exists():
        raise ExportError(f"{out} exists; melab never overwrites an export (choose another --out)")
    with open_session(folder) as session:
        check_exportable(session)
        nwb = build_nwb(session, out, say)
        say(0.8, "writing")
        with NWBHDF5IO(str(out), "w") as io:
            io.write(nwb)
    say(1.0, f"written {out}")
    return out


def build_nwb(session: Session, out: Path, progress: Progress) -> Any:
    """The NWBFile of a session; its streams are read from the open session a block at a
    time while it is written (video files written beside out)."""
    from pynwb import NWBFile
    from pynwb.file import Subject

    meta, start = session.metadata, time_base(session)
    nwb = NWBFile(
        session_description=f"CMRR session {meta.session} of {meta.participant} "
                            f"(protocol {meta.protocol_name or 'none'})",
        identifier=str(uuid.uuid4()), session_start_time=wall_clock(session, start),
        session_id=f"{meta.participant}_s{meta.session:02d}", notes=meta.notes or "n/a",
        experiment_description="Hidden-emotion (micro-expression) recording with melab",
        # melab records neither age nor sex: "at least 0 years" and "unknown" say so.
        subject=Subject(subject_id=meta.participant, species="Homo sapiens", sex="U",
                        age="P0Y/", description=f"consent level {meta.consent_level}; age "
                        "not recorded"))
    eeg = eeg_stream(session)
    progress(0.1, "EEG")
    add_eeg(nwb, eeg, start)
    progress(0.3, "physiology")
    for stream in numeric_streams(session):
        if stream.name != eeg.name and stream.type != TRIGGER_LOG_TYPE:
            add_signals(nwb, stream, list(range(len(stream.labels))), start)
    add_trigger_codes(nwb, session, start)
    rows = session_events(session)
    add_trials(nwb, session, start)
    logged = [r for r in rows if r.description != TRIAL
              and not r.description.endswith("_expression")]
    add_events(nwb, logged, start)
    add_intervals(nwb, "expressions", "coded facial expressions (onset to offset)",
                  [r for r in rows if r.description.endswith("_expression")], start)
    if consent_allows_images(session):
        add_videos(nwb, session, out, start, progress)
    return nwb


def time_base(session: Session) -> float:
    """NWB's time zero on the session clock: the recording's start, or the first sample when a
    device's buffer reached back before it (NWB advises against negative times)."""
    firsts = [float(np.nanmin(s.times("session_time")[:1])) for s in numeric_streams(session)
              if "session_time" in s.group]
    return min([float(session.attrs["start_time"]), *firsts])


def time_args(times: np.ndarray) -> dict[str, Any]:
    """starting_time and rate when the times are regular to 1 µs (NWB's advice), else the
    timestamps themselves."""
    rate = regular_rate(times)
    return {"starting_time": float(times[0]), "rate": rate} if rate else {"timestamps": times}


def stream_timing(stream: StreamView, start: float) -> dict[str, Any]:
    """time_args of a stream's synced sample times relative to the session start (NWB's time
    base); irregular timestamps are written a block at a time like the samples."""
    if "session_time" not in stream.group:
        raise ExportError(f"stream {stream.name!r} is not synchronized; run `melab sync`")
    times = stream.times("session_time")
    if not all(np.all(np.isfinite(block)) for _, block in blocks(times)):
        raise ExportError(f"stream {stream.name!r} has samples sync could not place; see "
                          "`melab info` and docs/sync.md")
    rate = regular_rate(times)
    if rate:
        return {"starting_time": float(times[0]) - start, "rate": rate}
    return {"timestamps": stored(times, minus=start)}


def add_eeg(nwb: Any, stream: StreamView, start: float) -> None:
    """EEG channels as an ElectricalSeries (electrodes with standard_1020 positions where the
    label matches); the stream's other channels (the trigger) as TimeSeries."""
    from pynwb.ecephys import ElectricalSeries

    channels = channels_of(stream)
    eeg = [i for i, c in enumerate(channels) if c.kind == "eeg"]
    device = nwb.create_device(name=stream.name, description=f"{stream.type} stream "
                               f"{stream.name} ({stream.hostname or 'host unknown'})")
    group = nwb.create_electrode_group(name="scalp", description="EEG cap", location="scalp",
                                       device=device)
    nwb.add_electrode_column(name="label", description="channel label as recorded")
    positions = montage_positions([channels[i].label for i in eeg])
    for i in eeg:
        x, y, z = positions.get(channels[i].label, (np.nan,) * 3)
        nwb.add_electrode(group=group, location="scalp", x=x, y=y, z=z,
                          label=channels[i].label)
    timing = stream_timing(stream, start)
    region = nwb.create_electrode_table_region(list(range(len(eeg))), "the EEG electrodes")
    series = ElectricalSeries(name="EEG", data=stored(stream.group["samples"], eeg),
                              electrodes=region, **timing, conversion=channels[eeg[0]].scale,
                              description=f"EEG in {channels[eeg[0]].stored_unit}")
    nwb.add_acquisition(series)
    rest = [i for i in range(len(channels)) if i not in eeg]
    if "timestamps" in timing:  # the other channels share (link) the EEG's
        timing = {"timestamps": series}
    add_signals(nwb, stream, rest, start, timing)


def montage_positions(labels: list[str]) -> dict[str, tuple[float, float, float]]:
    """standard_1020 positions (m, MNE head frame) of the labels that match."""
    import mne

    raw = mne.io.RawArray(np.zeros((len(labels), 1)),
                          mne.create_info(labels, 1.0, "eeg", verbose=False), verbose=False)
    set_montage(raw)
    return {ch["ch_name"]: tuple(float(v) for v in ch["loc"][:3]) for ch in raw.info["chs"]
            if np.all(np.isfinite(ch["loc"][:3])) and np.any(ch["loc"][:3])}


def add_signals(nwb: Any, stream: StreamView, columns: list[int], start: float,
                timing: dict[str, Any] | None = None) -> None:
    """One TimeSeries per column, stored values with unit and conversion to SI."""
    from pynwb import TimeSeries

    if not columns:
        return
    channels: list[Channel] = channels_of(stream)
    timing = stream_timing(stream, start) if timing is None else timing
    for column in columns:
        channel = channels[column]
        name = channel.label if channel.label not in nwb.acquisition else (
            f"{stream.name}_{channel.label}")
        nwb.add_acquisition(TimeSeries(
            name=name, data=stored(stream.group["samples"], column), **timing,
            unit=channel.unit or "n.a.",
            conversion=channel.scale, description=f"{channel.kind} channel of {stream.name} "
            f"({stream.type}), stored in {channel.stored_unit or 'no unit'}"))
        # Later channels share (link) the first one's timestamps, or the EEG's they link.
        if "timestamps" in timing and not isinstance(timing["timestamps"], TimeSeries):
            timing = {"timestamps": nwb.acquisition[name]}


def add_trigger_codes(nwb: Any, session: Session, start: float) -> None:
    """The trigger box's event codes at their edges (sync pulses and clock probes left out)."""
    from pynwb import TimeSeries

    box = [s for s in session.streams.values() if s.type == TRIGGER_LOG_TYPE]
    if not box or "session_time" not in box[0].group:
        return
    codes = box[0].samples[:, 0]
    times = box[0].times("session_time")[:] - start
    keep = ~np.isin(codes, (SYNC_CODE, PROBE_CODE)) & np.isfinite(times)
    order = np.argsort(times[keep], kind="stable")
    if keep.any():
        nwb.add_acquisition(TimeSeries(
            name="trigger_codes", data=codes[keep][order].astype(np.int32),
            timestamps=times[keep][order], unit="n.a.",
            description="event codes the trigger box sent (time of the TTL edge)"))


def add_trials(nwb: Any, session: Session, start: float) -> None:
    """The trials table: clip, emotion, self-report and reminders of every trial."""
    if not session.trials:
        return
    for name, description in TRIAL_COLUMNS.items():
        nwb.add_trial_column(name=name, description=description)
    for t in session.trials:
        nwb.add_trial(start_time=t.start_time - start, stop_time=t.end_time - start,
                      clip=t.stimulus, block=t.block, emotion=t.emotion, status=t.status,
                      report_emotion=t.report_emotion, report_valence=t.report_valence,
                      report_arousal=t.report_arousal, reminders=t.reminders)


def add_intervals(nwb: Any, name: str, description: str, rows: list[ExportEvent],
                  start: float) -> None:
    """Rows as a TimeIntervals table: label, then every detail as text."""
    from pynwb.epoch import TimeIntervals

    if not rows:
        return
    table = TimeIntervals(name=name, description=description)
    keys = sorted({k for r in rows for k in r.extras})
    table.add_column(name="label", description="what happened")
    for key in keys:
        table.add_column(name=key, description=f"{key} (text; n/a when absent)")
    for r in rows:
        table.add_interval(start_time=r.onset - start, stop_time=r.onset + r.duration - start,
                           label=r.description,
                           **{k: str(r.extras.get(k, "n/a")) for k in keys})
    nwb.add_time_intervals(table)


def add_events(nwb: Any, rows: list[ExportEvent], start: float) -> None:
    """Every logged event in an EventsTable: kind as annotation, phases with their duration
    (NaN for a point event), every detail as a text column."""
    from pynwb.event import EventsTable

    if not rows:
        return
    table = EventsTable(name="protocol_events", description="events melab logged",
                        source_description="melab protocol engine and recorder")
    keys = sorted({k for r in rows for k in r.extras})
    for key in keys:
        table.add_column(name=key, description=f"{key} (text; n/a when absent)")
    for r in rows:
        table.add_event(timestamp=r.onset - start,
                        duration=r.duration if r.duration > 0 else float("nan"),
                        annotation=r.description,
                        **{k: str(r.extras.get(k, "n/a")) for k in keys})
    nwb.add_events_table(table)


def add_videos(nwb: Any, session: Session, out: Path, start: float,
               progress: Progress) -> None:
    """Each video segment as an FFV1 file beside the NWB file and an external ImageSeries."""
    from pynwb.image import ImageSeries

    folder = out.with_name(out.stem + "_video")
    names = [n for n in session.segment_names() if session.segment(n).n_frames > 0]
    if names:
        folder.mkdir(exist_ok=True)
    for k, name in enumerate(names):
        progress(0.5 + 0.3 * k / len(names), f"video {k + 1}/{len(names)}")
        file = write_segment_video(session, name, folder / f"{name}{VIDEO_SUFFIX}")
        view = session.segment(name)
        nwb.add_acquisition(ImageSeries(
            name=f"face_{name}", external_file=[str(file.relative_to(out.parent))],
            format="external", starting_frame=[0], unit="n.a.", num_samples=view.n_frames,
            **time_args(view.column("session_time") - start),
            description=f"face camera segment {name} (FFV1, demosaiced)"))
