"""The recorder: moves data from devices into a session; the same for real and simulated rigs."""

from __future__ import annotations

import contextlib
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.clock import local_clock
from core.codes import PROBE_CODE
from core.devices import CameraLosses, Chunk, DeviceError, Frame, StreamInfo
from drivers.interfaces import Camera, ContinuousStream, TriggerBox
from drivers.lsl_markers import MarkerOutlet
from recordings.camera_losses import LossCounter
from recordings.markers import MARKER_EVENT, marker_events
from recordings.preflight import (
    DiskCheck,
    RecordingPlan,
    StreamPlan,
    VideoPlan,
    check_disk_space,
)
from recordings.rigs.profile import RigProfile
from recordings.rigs.roles import StreamRoles, describe_roles, resolve_rig
from recordings.store.errors import SessionError
from recordings.store.layout import STOP_END, TRIGGER_LOG_TYPE
from recordings.store.metadata import Event, SessionMetadata, TrialRecord
from recordings.store.segment_writer import SegmentWriter
from recordings.store.session_writer import SessionWriter, WriterStats

TRIGGER_STREAM = StreamInfo(
    name="TriggerBox",
    type=TRIGGER_LOG_TYPE,
    source_id="melab-trigger-log",
    channel_labels=("code", "round_trip_s"),  # round trip: NaN for sync pulses
    channel_units=("", "s"),
    nominal_rate=0.0,
)
POLL_INTERVAL_S = 0.01  # streams are read every 10 ms: well under LSL's outage threshold
# Not a whole number of 150 fps frame periods (1 s would be exactly 150): successive sync edges
# fall at different phases of the camera frames, which lets sync time frames to well under one
# frame (docs/sync.md).
SYNC_PERIOD_S = 1.001
PROBE_INTERVAL_S = (1.0, 2.0)
TRIGGER_LOG_INTERVAL_S = 0.1  # box edges reach the session file this often


class RecorderError(RuntimeError):
    """The recorder could not start or continue; the message names the devices concerned."""


class RigPreflightError(RecorderError):
    """A stream cannot be recorded as meant (no trigger source, no rate, unmapped units)."""


@dataclass(frozen=True)
class StreamLiveStatus:
    """Live figures of one stream for the console."""

    name: str
    samples: int
    rate: float  # effective Hz over the last seconds
    last_sample_age: float  # seconds since the last sample arrived
    connected: bool
    samples_lost: int


@dataclass(frozen=True)
class RecorderStatus:
    """What the console shows while recording."""

    elapsed: float
    streams: list[StreamLiveStatus]
    frames: int
    camera_fps: float
    dropped_frames: int  # all segments so far: frames lost before melab (gaps, skipped, missed)
    lost_frames: int  # all segments so far: frames melab could not queue
    queue_fill: float
    disk_free: int
    recording_time_left: float  # seconds at the current data rate
    messages: list[str] = field(default_factory=list)
    camera_losses: CameraLosses = field(default_factory=CameraLosses)  # its counters' share


class Recorder:
    """Records continuous streams for the whole session and camera segments on command."""

    def __init__(
        self,
        folder: str | Path,
        metadata: SessionMetadata,
        *,
        streams: Mapping[str, ContinuousStream],
        camera: Camera | None = None,
        trigger: TriggerBox | None = None,
        sync_period: float = SYNC_PERIOD_S,
        compression: str | None = None,
        clock: Callable[[], float] = local_clock,
        on_message: Callable[[str], None] | None = None,
        on_frame: Callable[[Frame], None] | None = None,
        on_chunk: Callable[[str, Chunk], None] | None = None,
        profile: RigProfile | None = None,
        markers: MarkerOutlet | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.profile = profile
        self.roles: dict[str, StreamRoles] = {}  # by role, once connected
        self.metadata = metadata
        self.streams = dict(streams)
        self.camera = camera
        self.trigger = trigger
        self.sync_period = sync_period
        self.compression = compression
        self._clock = clock
        self._on_message = on_message
        # Display taps (the console's live views): called from the device threads with a
        # reference to each frame / chunk; they must only store it and return at once.
        self._on_frame = on_frame
        self._on_chunk = on_chunk
        # Every event the recorder logs is also published here (LSL `melab-markers`).
        self.markers = markers
        self.messages: list[str] = []
        self.writer: SessionWriter | None = None
        self._segment: SegmentWriter | None = None
        self._segments: list[SegmentWriter] = []  # every segment of the session, for totals
        self._segment_lock = threading.Lock()
        self._losses = LossCounter(camera) if camera is not None else None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._frames = 0
        self._frame_times: list[float] = []
        self._trigger_logged = 0
        self._start_time = 0.0
        self._camera_error: Exception | None = None
        # The write error that stopped the recording (e.g. disk full), once there was one.
        self.failure: Exception | None = None

    # --- set-up ----------------------------------------------------------------------
    def connect(self, timeout: float = 5.0) -> list[str]:
        """Open every device; raise RecorderError naming each one that is missing."""
        problems = []
        for role, stream in self.streams.items():
            try:
                stream.open(timeout)
            except DeviceError as exc:
                problems.append(f"{role}: {exc}")
        for role, device in (("camera", self.camera), ("trigger box", self.trigger)):
            if device is None:
                continue
            try:
                device.open()
            except DeviceError as exc:
                problems.append(f"{role}: {exc}")
        if problems:
            raise RecorderError(
                "cannot record, devices missing or failing:\n  " + "\n  ".join(problems)
            )
        self.resolve_roles()
        return [f"{role}: {s.info.name} ({s.info.type})" for role, s in self.streams.items()]

    def resolve_roles(self) -> dict[str, StreamRoles]:
        """Each open stream's roles (the profile's, else the defaults), said and kept for the
        session; connect() does it, start() when the streams were opened elsewhere."""
        self.roles = resolve_rig({r: s.info for r, s in self.streams.items()}, self.profile)
        for roles in self.roles.values():
            for line in describe_roles(roles):
                self._tell(line)  # every guess said now, and stored with the session
        return self.roles

    def plan(self, duration: float, video_seconds: float) -> RecordingPlan:
        """What a session of this length will write (for the disk preflight)."""
        streams = [StreamPlan(s.info.channel_count, s.info.nominal_rate or 10.0)
                   for s in self.streams.values()]
        video = []
        if self.camera is not None:
            cam = self.camera.info
            video.append(VideoPlan(cam.width, cam.height, cam.frame_rate, video_seconds))
        return RecordingPlan(duration=duration, streams=streams, video=video)

    def preflight(self, duration: float, video_seconds: float, force: bool = False) -> DiskCheck:
        """Disk-space and stream checks for the planned session: DiskSpaceError unless it
        fits, RigPreflightError for the first stream problem (with force: said, not raised)."""
        check = check_disk_space(self.folder, self.plan(duration, video_seconds), force=force)
        problems = self.stream_problems()
        if problems and not force:
            raise RigPreflightError(
                "cannot record as meant (give a rig profile with --rig, docs/rig-profiles.md, "
                "or --force to record anyway):\n  " + "\n  ".join(problems))
        for problem in problems:
            self._tell(f"forced: {problem}")
        return check

    def stream_problems(self) -> list[str]:
        """Each connected stream's problems: no trigger source, no rate, unmapped units."""
        return [f"{role}: {roles.stream}: {p}" for role, roles in self.roles.items()
                for p in roles.problems]

    # --- recording -------------------------------------------------------------------
    def start(self, first_segment: tuple[str, int] | None = None) -> None:
        """Create the session and start reading every device in the background.

        first_segment (name, trial) opens a camera segment before the first frame is read.
        """
        infos = [s.info for s in self.streams.values()]
        if self.trigger is not None:
            infos.append(TRIGGER_STREAM)
        self._check_stream_names()
        if not self.roles and self.streams:
            self.resolve_roles()
        devices: dict[str, dict[str, Any]] = {
            role: {"name": s.info.name, "type": s.info.type, "source_id": s.info.source_id,
                   "hostname": s.info.hostname, "nominal_rate": s.info.nominal_rate,
                   "channels": s.info.channel_count,
                   **({"rig": self.roles[role].to_dict()} if role in self.roles else {})}
            for role, s in self.streams.items()
        }
        if self.camera is not None:
            cam = self.camera.info
            devices["camera"] = {"model": cam.model, "serial": cam.serial, "width": cam.width,
                                 "height": cam.height, "pixel_format": cam.pixel_format,
                                 "frame_rate": cam.frame_rate, "settings": cam.settings}
        if self.trigger is not None:
            devices["trigger"] = {"type": type(self.trigger).__name__,
                                  "sync_period": self.sync_period, "probe_code": PROBE_CODE,
                                  "pulse_width_ms": getattr(self.trigger, "pulse_width_ms", None),
                                  "baud": getattr(self.trigger, "baud", None)}
        self.metadata.devices = {**devices, **self.metadata.devices}
        self.writer = SessionWriter(self.folder, self.metadata, infos, clock=self._clock,
                                    on_failure=self._writer_failed)
        self._start_time = self._clock()
        for role, stream in self.streams.items():
            self._spawn(f"stream-{role}", self._stream_loop, role, stream)
        if self.camera is not None:
            if first_segment is not None:
                self.start_segment(*first_segment)
            self.camera.start()
            assert self._losses is not None
            self._losses.started()
            self._spawn("camera", self._camera_loop, self.camera)
        if self.trigger is not None:
            self._probe()  # the first clock probe while the lines are still idle
            self.trigger.start_sync(self.sync_period)
            self._spawn("trigger", self._trigger_loop)
        self._publish(self.writer.add_event("recording_start"))

    def event(self, kind: str, *, code: int = 0, trial: int = -1,
              payload: dict[str, Any] | None = None) -> float:
        """Log an event; with a code, send it through the trigger box first. Returns its time."""
        assert self.writer is not None, "start() the recorder first"
        when = self._clock()
        if code and self.trigger is not None:
            when = self.trigger.send(code)
        with self._unless_writer_failed():
            self._publish(self.writer.add_event(kind, when, trial=trial, code=code,
                                                payload=payload))
        return when

    def add_trial(self, trial: TrialRecord) -> None:
        """Append a row to the session's trials table."""
        assert self.writer is not None, "start() the recorder first"
        with self._unless_writer_failed():
            self.writer.add_trial(trial)

    def start_segment(self, name: str, trial: int = -1) -> None:
        """Start writing camera frames into a new segment file.

        An open segment hands over to the new one between two frames (the new file is open
        before the old one closes), so a camera that runs on loses no frame at the switch.
        """
        assert self.writer is not None and self.camera is not None
        with self._unless_writer_failed():
            segment = self.writer.start_segment(name, self.camera.info, trial=trial,
                                                compression=self.compression)
            with self._segment_lock:
                self._hand_losses_to(self._segment)  # what they counted so far: the old one's
                previous, self._segment = self._segment, segment
                if previous is not None:
                    segment.continue_numbering(previous)
                self._segments.append(segment)
            if previous is not None:
                self.writer.stop_segment(previous.name)

    @property
    def segment_active(self) -> bool:
        """True while camera frames go into a segment."""
        return self._segment is not None

    def stop_segment(self) -> None:
        """Finish the current camera segment."""
        assert self.writer is not None
        with self._segment_lock:
            self._hand_losses_to(self._segment)
            segment, self._segment = self._segment, None
        if segment is not None:
            with self._unless_writer_failed():
                self.writer.stop_segment(segment.name)

    def stop(self, reason: str = STOP_END) -> WriterStats:
        """Stop every device thread, write everything and close the session.

        reason is stored as the session's stop_reason (e.g. the signal it was closed on).
        After a write error (`failure`) it closes the devices and returns; the session then
        says itself why it stopped ("disk full").
        """
        assert self.writer is not None
        if self.trigger is not None:
            try:
                self.trigger.stop_sync()
            except DeviceError as exc:
                self._tell(f"trigger box: {exc}")
        self.stop_segment()
        with self._unless_writer_failed():
            self._publish(self.writer.add_event("recording_stop"))
        if not self._stop.is_set():
            time.sleep(2 * POLL_INTERVAL_S)  # the stream loops pick up their last samples
        self._stop.set()
        for thread in self._threads:
            thread.join()
        try:
            with self._unless_writer_failed():
                if self.trigger is not None:
                    self._log_trigger_edges()
            with self._unless_writer_failed():
                self.writer.close(reason)
        finally:
            self.close_devices()
        if self._camera_error is not None:
            raise RecorderError(f"camera failed during the recording: {self._camera_error}")
        return self.writer.stats()

    def close_devices(self) -> None:
        """Close every device (stop() does; call it after connect() when not recording)."""
        for stream in self.streams.values():
            stream.close()
        if self.camera is not None:
            self.camera.stop()
            self.camera.close()
        if self.trigger is not None:
            self.trigger.close()
        if self.markers is not None:
            self.markers.close()

    def status(self) -> RecorderStatus:
        """Live status: per stream rate and last-sample age, frames, queue fill, disk."""
        assert self.writer is not None
        stats = self.writer.stats()
        now = self._clock()
        streams = []
        for role, stream in self.streams.items():
            live = stream.status() if hasattr(stream, "status") else None
            streams.append(StreamLiveStatus(
                name=role,
                samples=stats.samples_written.get(stream.info.name, 0),
                rate=getattr(live, "effective_rate", 0.0),
                last_sample_age=getattr(live, "last_sample_age", float("nan")),
                connected=getattr(live, "connected", True),
                samples_lost=stats.samples_lost.get(stream.info.name, 0),
            ))
        recent = [t for t in self._frame_times if now - t <= 2.0]
        with self._segment_lock:
            segments = [s.stats() for s in self._segments]
        free = shutil.disk_usage(self.folder).free
        rate = self._bytes_per_second()
        return RecorderStatus(
            elapsed=now - self._start_time,
            streams=streams,
            frames=self._frames,
            camera_fps=len(recent) / 2.0,
            # Totals over every segment: a hole in the frame numbers across a hand-over
            # counts too (SegmentWriter.continue_numbering).
            dropped_frames=sum(s.dropped_frames for s in segments),
            lost_frames=sum(s.lost_frames for s in segments),
            camera_losses=sum((s.camera_losses for s in segments), CameraLosses()),
            queue_fill=max([stats.queue_fill, *(s.queue_fill for s in segments)]),
            disk_free=free,
            recording_time_left=free / rate if rate > 0 else float("inf"),
            messages=list(self.messages),
        )

    # --- device threads --------------------------------------------------------------
    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _stream_loop(self, role: str, stream: ContinuousStream) -> None:
        assert self.writer is not None
        name = stream.info.name
        is_marker = stream.info.channel_format == "string"
        offset: float | None = None  # the latest clock offset (markers' event times)
        while not self.writer.failed:
            stopping = self._stop.is_set()
            with self._unless_writer_failed():
                for record in stream.clock_offsets():
                    self.writer.push_clock_offset(name, record)
                    offset = record.offset
            chunk = stream.read()
            with self._unless_writer_failed():
                if chunk is not None and len(chunk):
                    self.writer.push_chunk(name, chunk)
                    if is_marker:
                        for when, payload in marker_events(name, chunk, offset):
                            self.writer.add_event(MARKER_EVENT, when, payload=payload)
                    if self._on_chunk is not None:
                        self._on_chunk(role, chunk)
                for gap in stream.gaps():
                    self.writer.push_gap(name, gap)
                    lost = f", {gap.samples_lost} samples lost" if gap.samples_lost else ""
                    self._tell(f"{role}: no data for {gap.end - gap.start:.2f} s{lost}; "
                               "recording goes on")
            if stopping:
                return
            time.sleep(POLL_INTERVAL_S)

    def _camera_loop(self, camera: Camera) -> None:
        assert self._losses is not None
        while not self._stop.is_set():
            try:
                frame = camera.read(timeout=0.1)
            except DeviceError as exc:
                self._camera_error = exc
                self._tell(f"camera: {exc}")
                return
            if frame is None or self._losses.due():
                with self._segment_lock, self._unless_writer_failed():
                    self._hand_losses_to(self._segment)
            if frame is None:
                continue
            self._frames += 1
            self._frame_times.append(frame.host_time)
            if len(self._frame_times) > 1000:
                del self._frame_times[:500]
            # Pushed under the lock, so a frame never goes into a segment that a hand-over
            # (start_segment) has just taken it from and is stopping.
            with self._segment_lock, self._unless_writer_failed():
                if self._segment is not None:
                    self._segment.push_frame(frame)
            if self._on_frame is not None:
                self._on_frame(frame)

    def _trigger_loop(self) -> None:
        """Store the box's new edges every TRIGGER_LOG_INTERVAL_S (whatever else the rig has)
        and send the clock-probe code at random intervals, until the recording stops."""
        rng = random.Random()
        probing = True
        next_probe = time.monotonic() + rng.uniform(*PROBE_INTERVAL_S)
        while not self._stop.wait(TRIGGER_LOG_INTERVAL_S):
            with self._unless_writer_failed():
                self._log_trigger_edges()
            if probing and time.monotonic() >= next_probe:
                probing = self._probe()
                next_probe = time.monotonic() + rng.uniform(*PROBE_INTERVAL_S)

    def _probe(self) -> bool:
        assert self.trigger is not None
        try:
            self.trigger.send(PROBE_CODE)
        except DeviceError as exc:
            self._tell(f"trigger box: clock probe failed, probes stopped: {exc}")
            return False
        return True

    def _log_trigger_edges(self) -> None:
        """Store new trigger-box edges as samples of the TriggerBox stream (box clock)."""
        assert self.writer is not None and self.trigger is not None
        new = self.trigger.box_events(self._trigger_logged)
        if not new:
            return
        self._trigger_logged += len(new)
        chunk = Chunk(np.array([[e.code, e.round_trip] for e in new], dtype=np.float32),
                      np.array([e.box_time for e in new]), np.array([e.host_time for e in new]))
        self.writer.push_chunk(TRIGGER_STREAM.name, chunk)
        if self._on_chunk is not None:  # role "trigger": the console's live sync health
            self._on_chunk("trigger", chunk)

    # --- helpers ---------------------------------------------------------------------
    def _hand_losses_to(self, segment: SegmentWriter | None) -> None:
        """The camera's loss counters, read now, into `segment` (call under _segment_lock)."""
        if self._losses is not None:
            self._losses.hand_to(segment)

    def _check_stream_names(self) -> None:
        """Each stream is stored under its name: refuse two streams that share one."""
        seen: dict[str, tuple[str, StreamInfo]] = {}
        if self.trigger is not None:
            seen[TRIGGER_STREAM.name] = ("the trigger box's log", TRIGGER_STREAM)
        for role, stream in self.streams.items():
            info = stream.info
            if info.name not in seen:
                seen[info.name] = (role, info)
                continue
            other, first = seen[info.name]
            if (first.source_id, first.hostname) == (info.source_id, info.hostname):
                raise RecorderError(
                    f"{other} and {role} select the same stream {info.name!r} (source_id "
                    f"{info.source_id!r} on {info.hostname or 'an unknown host'}); select it once."
                )
            raise RecorderError(
                f"{other} and {role} are two streams both named {info.name!r} (source_id "
                f"{first.source_id!r} on {first.hostname or '?'}, {info.source_id!r} on "
                f"{info.hostname or '?'}); a session stores each stream under its name. Rename "
                "one at its sender, or record only one of them."
            )

    def _publish(self, event: Event) -> None:
        """The event on the marker outlet too, with its session-clock time."""
        if self.markers is not None:
            self.markers.publish(event.time, event.kind, trial=event.trial, code=event.code,
                                 payload=event.payload)

    def _writer_failed(self, error: Exception) -> None:
        """The writer stopped on a write error (e.g. disk full): stop reading every device."""
        self.failure = error
        self._stop.set()
        self._tell(f"recording stopped: {error}")

    @contextlib.contextmanager
    def _unless_writer_failed(self) -> Iterator[None]:
        """Writes that a write error has made pointless are skipped: the error is the
        writer's, reported once through `failure` and the messages, not by every caller."""
        try:
            yield
        except SessionError:
            if self.writer is None or not self.writer.failed:
                raise

    def _bytes_per_second(self) -> float:
        rate = sum(4 * s.info.channel_count * s.info.nominal_rate for s in self.streams.values())
        if self.camera is not None:
            cam = self.camera.info
            rate += cam.width * cam.height * cam.frame_rate
        return rate

    def _tell(self, message: str) -> None:
        self.messages.append(message)
        if self._on_message is not None:
            self._on_message(message)
