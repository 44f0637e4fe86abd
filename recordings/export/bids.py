"""Sessions as a BIDS dataset through MNE-BIDS: EEG in BrainVision with channels, electrodes
and events, the peripheral streams as BIDS physio files, participants with their consent
level, the face video when consent allows (docs/export.md)."""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recordings.export.mne_raw import raw_from
from recordings.export.readiness import ExportError, check_exportable, eeg_stream, numeric_streams
from recordings.export.signals import RegularStream, regular
from recordings.export.video import VIDEO_SUFFIX, consent_allows_images, write_segment_video
from recordings.store.layout import TRIGGER_LOG_TYPE
from recordings.store.reader import Session, open_session

TASK = "cmrr"
VIDEO_DIR = "video"  # under sub-X/ses-NN/; not a BIDS datatype, so listed in .bidsignore
IGNORED = f"**/{VIDEO_DIR}"  # the validator matches this form (not "video/")
Progress = Callable[[float, str], None]


def bids_label(participant: str) -> str:
    """A participant ID as a BIDS label (letters and digits only)."""
    label = re.sub(r"[^A-Za-z0-9]", "", participant)
    if not label:
        raise ExportError(f"participant {participant!r} has no letter or digit for a BIDS label")
    return label


def write_bids(sessions: list[Path], root: Path, progress: Progress | None = None) -> list[Path]:
    """Write every session into the BIDS dataset at root (created or added to; an existing
    recording is never overwritten). Returns the EEG files written."""
    say = progress or (lambda _f, _m: None)
    written = []
    for i, folder in enumerate(sessions):
        with open_session(folder) as session:
            check_exportable(session)
            say(i / len(sessions), f"{session.folder.name}: EEG")
            written.append(write_session(session, root, lambda f, m, i=i: say(
                (i + f) / len(sessions), f"{session.folder.name}: {m}")))
    say(1.0, f"{len(written)} session(s) in {root}")
    return written


def write_session(session: Session, root: Path, progress: Progress) -> Path:
    """One session: EEG + events + electrodes, physio files, participants row, video."""
    import mne_bids

    meta = session.metadata
    path = mne_bids.BIDSPath(subject=bids_label(meta.participant), session=f"{meta.session:02d}",
                             task=TASK, datatype="eeg", root=root)
    if list(Path(path.directory).glob(f"{path.basename}*")):
        raise ExportError(f"{path.directory} already holds {path.basename}; melab never "
                          "overwrites an export (choose another --root)")
    eeg = regular(eeg_stream(session))
    root.mkdir(parents=True, exist_ok=True)
    mne_bids.make_dataset_description(path=root, name="melab CMRR recordings",
                                      dataset_type="raw", overwrite=False, verbose=False)
    mne_bids.write_raw_bids(raw_from(session, eeg), path, format="BrainVision",
                            allow_preload=True, verbose=False)
    progress(0.5, "physiology")
    for stream in numeric_streams(session):
        if stream.name != eeg.name and stream.type != TRIGGER_LOG_TYPE:
            write_physio(regular(stream), eeg.t0, path)
    add_participant_columns(root, path.subject, meta.participant, meta.consent_level)
    if consent_allows_images(session):
        write_videos(session, path, progress)
    return Path(path.fpath)


def write_physio(signal: RegularStream, eeg_t0: float, path) -> Path:  # path: BIDSPath
    """A peripheral stream as `_recording-<name>_physio.tsv.gz` + `.json` beside the EEG:
    stored units (named per column), StartTime relative to the EEG's first sample."""
    name = re.sub(r"[^A-Za-z0-9]", "", signal.name).lower() or "physio"
    stem = path.copy().update(recording=name, suffix="physio", extension=".tsv.gz",
                              check=False).fpath
    columns = ["trigger" if c.kind == "stim" else c.label for c in signal.channels]
    text = io.StringIO()
    np.savetxt(text, signal.data, fmt="%.9g", delimiter="\t")
    # No file name or time in the gzip header (the validator asks for neither).
    with open(stem, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                 mtime=0) as out:
        out.write(text.getvalue().replace("nan", "n/a").encode())
    sidecar = {"SamplingFrequency": signal.sfreq, "StartTime": signal.t0 - eeg_t0,
               "Columns": columns, "Manufacturer": "n/a",
               "Source": f"melab stream {signal.name}"}
    sidecar.update({col: {"Units": c.stored_unit or "n/a"}
                    for col, c in zip(columns, signal.channels, strict=True)})
    Path(str(stem).replace(".tsv.gz", ".json")).write_text(json.dumps(sidecar, indent=2))
    return Path(stem)


def add_participant_columns(root: Path, subject: str, participant: str, consent: int) -> None:
    """participants.tsv keeps the melab participant ID and the consent level (1: images may be
    published, 2: data shared, images not), described in participants.json."""
    tsv = root / "participants.tsv"
    rows = [line.split("\t") for line in tsv.read_text(encoding="utf-8").splitlines()]
    header = rows[0]
    for column in ("melab_participant", "consent_level"):
        if column not in header:
            header.append(column)
            for row in rows[1:]:
                row.append("n/a")
    for row in rows[1:]:
        if row[0] == f"sub-{subject}":
            row[header.index("melab_participant")] = participant
            row[header.index("consent_level")] = str(consent)
    tsv.write_text("\n".join("\t".join(row) for row in rows) + "\n", encoding="utf-8")
    sidecar = root / "participants.json"
    described = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    described["melab_participant"] = {"Description": "participant ID as recorded by melab"}
    described["consent_level"] = {
        "Description": "consent for images of the face",
        "Levels": {"1": "images may be published", "2": "data may be shared, images may not "
                   "be published (no face video is exported)"}}
    sidecar.write_text(json.dumps(described, indent=2))


def write_videos(session: Session, path, progress: Progress) -> list[Path]:  # path: BIDSPath
    """Each video segment as sub-X/ses-NN/video/<basename>_acq-face_run-<k>_video.mkv (+ its
    _frames.tsv), and `video/` in .bidsignore (BIDS has no datatype for it)."""
    folder = Path(path.root) / f"sub-{path.subject}" / f"ses-{path.session}" / VIDEO_DIR
    folder.mkdir(parents=True, exist_ok=True)
    names = [n for n in session.segment_names() if session.segment(n).n_frames > 0]
    out = []
    for k, name in enumerate(names, start=1):
        file = folder / (f"sub-{path.subject}_ses-{path.session}_task-{TASK}_acq-face_run-{k}"
                         f"_video{VIDEO_SUFFIX}")
        out.append(write_segment_video(session, name, file, lambda done, n, k=k: progress(
            0.6 + 0.4 * (k - 1 + done / n) / len(names), f"video {k}/{len(names)}")))
    ignore = Path(path.root) / ".bidsignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    if IGNORED not in lines:
        ignore.write_text("\n".join([*lines, IGNORED]) + "\n")
    return out
