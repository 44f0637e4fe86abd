"""Creating and writing a session: streams, events, trials and video segments.

`SessionWriter` takes pushes from any thread without blocking and hands them to its one writer
thread, which owns every HDF5 call; what goes where in session.h5 is in session_file.py.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py

from core.devices import CameraInfo, Chunk, ClockOffset, StreamGap, StreamInfo
from recordings.store.diskio import (
    DEFAULT_RESERVE_BYTES,
    RESERVE_FILE,
    DiskReserve,
    FaultHook,
    is_disk_full,
    remove_stale_reserves,
    space_checked,
    sync_to_disk,
)
from recordings.store.errors import DiskFullError, SessionExistsError, WriterStoppedError
from recordings.store.health import WriterHealth
from recordings.store.layout import (
    FLUSH_INTERVAL_S,
    SESSION_FILE,
    STOP_DISK_FULL,
    STOP_END,
    STOP_WRITE_ERROR,
    segment_filename,
)
from recordings.store.metadata import Event, SessionMetadata, TrialRecord
from recordings.store.segment_writer import SegmentStats, SegmentWriter
from recordings.store.session_file import (
    Pending,
    add_pending,
    create_session_file,
    finalize_session_file,
    pending_bytes,
    write_pending,
)
from recordings.store.tables import append_rows, events_to_rows


@dataclass
class WriterStats:
    """Live counters of a session writer (what the console shows)."""

    samples_written: dict[str, int] = field(default_factory=dict)
    samples_lost: dict[str, int] = field(default_factory=dict)
    events_lost: int = 0
    queue_fill: float = 0.0
    segments: list[SegmentStats] = field(default_factory=list)
    error: str = ""


class SessionWriter:
    """Writes one session folder; every push is non-blocking and any loss is counted."""

    def __init__(
        self,
        folder: str | Path,
        metadata: SessionMetadata,
        streams: Sequence[StreamInfo] = (),
        *,
        clock: Callable[[], float] | None = None,
        fault_hook: FaultHook | None = None,
        queue_items: int = 20000,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        """on_failure is called from the writer thread once, after a write error stopped it
        and every file was closed (the recorder stops its devices then)."""
        metadata.validate()
        names = [s.name for s in streams]
        if len(set(names)) != len(names):
            raise ValueError(f"stream names must be unique, got {names}")
        if clock is None:
            from core.clock import local_clock

            clock = local_clock
        self.folder = Path(folder)
        self.metadata = metadata
        self.streams = {s.name: s for s in streams}
        self._clock = clock
        self._fault_hook = space_checked(fault_hook)
        self._on_failure = on_failure
        self._health = WriterHealth()
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=queue_items)
        self._samples_written: dict[str, int] = dict.fromkeys(self.streams, 0)
        self._samples_lost: dict[str, int] = dict.fromkeys(self.streams, 0)
        self._events_lost = 0
        self._segments: dict[str, SegmentWriter] = {}
        self._segment_rows: dict[str, int] = {}  # segment name -> row in the index table
        self._wake = threading.Event()
        self._controls: collections.deque[tuple[str, SegmentWriter | None, Future[None]]] = (
            collections.deque()
        )
        self._closed = False
        self.start_time = clock()
        # Reserves of recordings killed earlier (SIGKILL) would hold their space for ever.
        remove_stale_reserves(self.folder.parent)
        try:
            self.folder.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise SessionExistsError(
                f"{self.folder} already exists: melab never overwrites or merges sessions. "
                "Choose another session number or output folder."
            ) from None
        try:
            self._reserve = DiskReserve(self.folder / RESERVE_FILE, reserve_bytes)
            self._file = create_session_file(
                self.folder / SESSION_FILE, metadata, self.streams, self.start_time
            )
        except OSError as exc:
            # Nothing was recorded yet: remove what this call created, nothing else.
            (self.folder / RESERVE_FILE).unlink(missing_ok=True)
            (self.folder / SESSION_FILE).unlink(missing_ok=True)
            self.folder.rmdir()
            raise self._describe(exc, self.folder / SESSION_FILE) from exc
        self._thread = threading.Thread(target=self._run, name="session-writer", daemon=True)
        self._thread.start()

    # --- producer side -------------------------------------------------------------
    def push_chunk(self, stream: str, chunk: Chunk) -> bool:
        """Queue samples of a stream; False (loss counted) when the queue is full."""
        if stream not in self.streams:
            raise KeyError(f"unknown stream {stream!r}; this session has {list(self.streams)}")
        if len(chunk) == 0:
            return True
        if not self._put(("chunk", (stream, chunk))):
            self._samples_lost[stream] += len(chunk)
            return False
        return True

    def push_clock_offset(self, stream: str, offset: ClockOffset) -> bool:
        """Queue a clock-offset record of a stream."""
        return self._put(("offset", (stream, offset)))

    def push_gap(self, stream: str, gap: StreamGap) -> bool:
        """Queue an outage of a stream (start and end on the session clock); the samples its
        device sent meanwhile count as lost."""
        self._samples_lost[stream] += gap.samples_lost
        return self._put(("gap", (stream, gap)))

    def add_event(
        self,
        kind: str,
        time: float | None = None,
        *,
        trial: int = -1,
        code: int = 0,
        payload: dict[str, Any] | None = None,
    ) -> Event:
        """Log an event (now, unless time is given) and return it."""
        event = Event(
            time=self._clock() if time is None else time,
            kind=kind,
            trial=trial,
            code=code,
            payload=payload or {},
        )
        if not self._put(("event", event)):
            self._events_lost += 1
        return event

    def add_trial(self, trial: TrialRecord) -> None:
        """Append a row to the trials table."""
        if not self._put(("trial", trial)):
            self._events_lost += 1

    def start_segment(
        self,
        name: str,
        camera: CameraInfo,
        *,
        trial: int = -1,
        compression: str | None = None,
        queue_frames: int = 256,
    ) -> SegmentWriter:
        """Open a new video segment file (one per trial) and return its writer."""
        self._health.raise_if_failed()
        if name in self._segment_rows:
            raise ValueError(f"segment {name!r} already exists in this session")
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"segment name {name!r} must be a plain file name")
        path = self.folder / segment_filename(name)
        if path.exists():
            raise FileExistsError(f"video segment file {path} exists; refusing to overwrite")
        writer = SegmentWriter(
            path,
            name,
            camera,
            trial=trial,
            start_time=self._clock(),
            health=self._health,
            wake=self._wake,
            compression=compression,
            queue_frames=queue_frames,
            fault_hook=self._fault_hook,
        )
        self._segment_rows[name] = len(self._segment_rows)
        self._control("open", writer)
        self._segments[name] = writer
        return writer

    def stop_segment(self, name: str) -> SegmentStats:
        """Finish a segment: all its queued frames written, file closed and indexed."""
        writer = self._segments.pop(name)
        writer.stop_time = self._clock()
        writer.stopping = True
        self._control("stop", writer)
        return writer.stats()

    def stats(self) -> WriterStats:
        """Live counters: samples written and lost per stream, queue fill, segments."""
        return WriterStats(
            samples_written=dict(self._samples_written),
            samples_lost=dict(self._samples_lost),
            events_lost=self._events_lost,
            queue_fill=self._queue.qsize() / self._queue.maxsize,
            segments=[w.stats() for w in self._segments.values()],
            error=str(self._health.error or ""),
        )

    @property
    def failed(self) -> bool:
        """True once a write error stopped the writer (every later call raises it)."""
        return self._health.failed

    def close(self, stop_reason: str = STOP_END) -> WriterStats:
        """Stop open segments, write everything queued, and mark the session complete.

        After a write error it says when and why the session stopped (stop_reason "disk
        full" or "write error"; not complete), then raises that error.
        """
        if self._closed:
            return self.stats()
        try:
            for name in list(self._segments):
                self.stop_segment(name)
            self._control("close", None)
        except Exception:
            if not self._health.failed:
                raise
        finally:
            self._closed = True
            self._thread.join()
        self._reserve.release()
        if self._health.failed:
            self._finalize_after_failure()
            self._health.raise_if_failed()
        finalize_session_file(self.folder / SESSION_FILE, self._clock(), self._samples_lost,
                              self._events_lost, stop_reason)
        return self.stats()

    def _finalize_after_failure(self) -> None:
        """Record the stop and its reason in the closed file, if the disk still allows it."""
        reason = STOP_DISK_FULL if isinstance(self._health.error, DiskFullError) else (
            STOP_WRITE_ERROR)
        with contextlib.suppress(Exception):  # the file stays readable without them
            finalize_session_file(self.folder / SESSION_FILE, self._clock(),
                                  self._samples_lost, self._events_lost, reason,
                                  complete=False)

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _put(self, item: tuple[str, Any]) -> bool:
        self._health.raise_if_failed()
        if self._closed:
            raise WriterStoppedError(f"session {self.folder} is closed")
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            return False
        self._wake.set()
        return True

    def _control(self, action: str, segment: SegmentWriter | None) -> None:
        """Ask the writer thread to open/stop a segment or close; wait until it did."""
        self._health.raise_if_failed()
        if not self._thread.is_alive():
            raise WriterStoppedError(f"the writer of {self.folder} is not running")
        done: Future[None] = Future()
        self._controls.append((action, segment, done))
        self._wake.set()
        try:
            done.result(timeout=60.0)
        except Exception:
            self._health.raise_if_failed()
            raise

    # --- writer thread -------------------------------------------------------------
    def _run(self) -> None:
        """The one thread that does every HDF5 call of this session."""
        f = self._file
        pending: Pending = defaultdict(list)
        active: list[SegmentWriter] = []
        last_flush = time.monotonic()
        closing = False
        try:
            while not closing and not self._health.failed:
                self._wake.wait(FLUSH_INTERVAL_S / 4)
                self._wake.clear()
                busy = True
                while busy and not closing:
                    busy = False
                    while self._controls:
                        closing |= self._run_control(*self._controls.popleft(), active, pending)
                    for segment in active:  # frames first: they are the bulk and the risk
                        busy |= self._guarded(segment, segment.write_queued, 8) > 0
                        if segment.flush_due(time.monotonic()):
                            self._guarded(segment, segment.flush)
                    for _ in range(1000):
                        try:
                            kind, payload = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        busy = True
                        add_pending(pending, kind, payload)
                    if closing or time.monotonic() - last_flush >= FLUSH_INTERVAL_S:
                        self._write_pending(f, pending)
                        if self._fault_hook is not None:
                            self._fault_hook(str(self.folder / SESSION_FILE), 0)
                        sync_to_disk(f)
                        last_flush = time.monotonic()
        except Exception as exc:  # every failure must stop the writer and be reported
            self._health.fail(self._describe(exc, self.folder / SESSION_FILE))
        finally:
            if self._health.failed:
                self._stop_after_failure(f, pending, active)
            with contextlib.suppress(Exception):  # a full disk can fail the close too
                f.close()
            if self._health.error is not None and self._on_failure is not None:
                self._on_failure(self._health.error)

    def _guarded(self, segment: SegmentWriter, method: Callable[..., Any], *args: Any) -> Any:
        """Run a segment's I/O; an error names the segment's file."""
        try:
            return method(*args)
        except Exception as exc:
            raise self._describe(exc, segment.path) from exc

    def _run_control(
        self,
        action: str,
        segment: SegmentWriter | None,
        done: Future[None],
        active: list[SegmentWriter],
        pending: Pending,
    ) -> bool:
        """Carry out one control request; True when it asks to close."""
        try:
            if action == "open" and segment is not None:
                self._guarded(segment, segment.open)
                active.append(segment)
                add_pending(pending, "segment", segment)
            elif action == "stop" and segment is not None:
                self._guarded(segment, segment.finish)
                active.remove(segment)
                add_pending(pending, "segment", segment)
        except Exception as exc:
            done.set_exception(exc)
            raise
        done.set_result(None)
        return action == "close"

    def _stop_after_failure(
        self, f: h5py.File, pending: Pending, active: list[SegmentWriter]
    ) -> None:
        """Keep what can be kept after an error, record the error, release the waiters."""
        # Freeing the reserve gives HDF5 room to write its last metadata and close cleanly.
        self._reserve.release()
        for segment in active:
            segment.abandon()
        # Pending samples are written only while they leave most of the freed space for
        # HDF5's last metadata: a clean close matters more than the last half second.
        if pending_bytes(pending) < shutil.disk_usage(self.folder).free // 4:
            with contextlib.suppress(Exception):
                self._write_pending(f, pending)
        event = Event(self._clock(), "error", payload={"message": str(self._health.error)})
        with contextlib.suppress(Exception):
            append_rows(f["events"], events_to_rows([event]))
            sync_to_disk(f)
        while self._controls:
            _, _, done = self._controls.popleft()
            done.set_exception(self._health.error or WriterStoppedError("writer stopped"))

    def _write_pending(self, f: h5py.File, pending: Pending) -> None:
        write_pending(f, pending, streams=self.streams, segment_rows=self._segment_rows,
                      samples_written=self._samples_written, fault_hook=self._fault_hook)

    @staticmethod
    def _describe(exc: Exception, path: Path) -> Exception:
        if isinstance(exc, DiskFullError | WriterStoppedError):
            return exc
        if is_disk_full(exc):
            return DiskFullError(
                f"disk full while writing {path}: recording stopped; everything written before "
                f"(all but at most the last {FLUSH_INTERVAL_S:g} s) is kept. Free space or "
                "choose another output folder."
            )
        return WriterStoppedError(f"writing {path} failed: {exc}")
