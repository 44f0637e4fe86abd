"""What a session must have before it is exported: complete, synchronized, the needed streams."""

from __future__ import annotations

from recordings.store.errors import SessionError
from recordings.store.reader import Session, StreamView


class ExportError(SessionError):
    """The session cannot be exported as asked; the message says what is missing and what
    to do."""


def check_exportable(session: Session) -> None:
    """Refuse a session that did not close normally or was never synchronized."""
    where = session.folder
    if not session.complete:
        reason = session.stop_reason or "crashed or still recording"
        raise ExportError(f"{where}: the session is incomplete ({reason}); only a complete "
                          "session can be exported")
    if "sync" not in session.file or not session.file["sync"].attrs.get("version"):
        raise ExportError(f"{where}: the session is not synchronized; run `melab sync {where}`")


def numeric_streams(session: Session) -> list[StreamView]:
    """The continuous numeric streams (EEG, physiology, ...), the trigger box's log left out."""
    return [s for s in session.streams.values()
            if s.nominal_rate > 0 and s.samples.dtype.kind != "O" and len(s) > 1]


def eeg_stream(session: Session, name: str | None = None) -> StreamView:
    """The stream to export as EEG: the one named, else the first of type EEG."""
    streams = {s.name: s for s in numeric_streams(session)}
    if name is not None:
        if name not in streams:
            raise ExportError(f"{session.folder}: no continuous stream {name!r} (has: "
                              f"{', '.join(sorted(streams)) or 'none'})")
        return streams[name]
    for stream in streams.values():
        if stream.type.lower() == "eeg":
            return stream
    raise ExportError(f"{session.folder}: no EEG stream to export (streams: "
                      f"{', '.join(sorted(streams)) or 'none'})")
