"""Replay: a recorded session played back as a lab, through the same drivers as a live rig.

Its EEG, physiology and other LSL streams (marker streams too) become LSL outlets (recorded
names, channel labels, units and types, device timestamps) pushed at their recorded timing;
its video segments become a camera delivering the recorded frames, frame numbers, device
times and GPI levels at their recorded timing.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np

from core.clock import local_clock
from core.devices import CameraInfo, CameraLosses, DeviceError, Frame, StreamInfo
from drivers.lsl import LslInlet
from drivers.outlet_threads import OutletThreads
from recordings.store.layout import TRIGGER_LOG_TYPE, decoded
from recordings.store.reader import Session, open_session

BLOCK_FRAMES = 150  # frames read from disk at a time


class ReplayLab:
    """Plays a session's streams and video back in real time."""

    def __init__(self, session: str | Path, name_prefix: str = "") -> None:
        self.path = Path(session)
        self._session: Session = open_session(self.path)
        self._start = float(self._session.attrs["start_time"])
        self._prefix = name_prefix
        self.infos: dict[str, StreamInfo] = {}
        instance = uuid.uuid4().hex[:8]  # unique source_ids: no clash with other processes
        for name, view in self._session.streams.items():
            if view.type == TRIGGER_LOG_TYPE:
                continue
            types = view.channel_types
            self.infos[name] = StreamInfo(
                f"{name_prefix}{name}", view.type,
                f"{name_prefix}{view.group.attrs['source_id']}-replay-{instance}",
                tuple(view.labels), tuple(view.units), view.nominal_rate,
                channel_format=decoded(view.group.attrs["channel_format"]),
                channel_types=tuple(types) if any(types) else (),
            )
        self.t0 = 0.0
        self._feeds = OutletThreads("replay")

    def open(self) -> None:
        """Open the LSL outlets (recorders can connect before playback starts)."""
        self._feeds.open(self.infos)

    def start(self) -> None:
        """Start the replay clock: data flows from now on at its recorded timing."""
        if not self._feeds.outlets:
            self.open()
        self.t0 = local_clock()
        self._feeds.start(self._push_loop)

    def stop(self) -> None:
        """Stop pushing and close the outlets and the session."""
        self._feeds.stop()
        self._session.close()

    def due(self, host_time: float) -> float:
        """The replay-clock time at which something recorded at host_time is delivered."""
        return self.t0 + (host_time - self._start)

    def streams(self) -> dict[str, LslInlet]:
        """Inlets for the replayed streams, keyed by role (eeg, physio, or the stream name)."""
        roles = {"EEG": "eeg", "Physio": "physio"}
        return {roles.get(info.type, info.name): LslInlet(source_id=info.source_id)
                for info in self.infos.values()}

    def camera(self) -> ReplayCamera | None:
        """A camera delivering the recorded video, or None when the session has none."""
        names = self._session.segment_names()
        return ReplayCamera(self, self._session, names) if names else None

    @property
    def duration(self) -> float:
        """Seconds the replay lasts (the session's recorded length)."""
        stop = self._session.attrs.get("stop_time")
        if stop is None:
            ends = [float(v.times()[-1]) for v in self._session.streams.values() if len(v)]
            stop = max(ends, default=self._start)
        return float(stop) - self._start

    def _push_loop(self, name: str) -> None:
        view = self._session.streams[name]
        outlet = self._feeds.outlets[name]
        # The two time columns are read once (8 bytes a sample), samples block by block.
        host = view.times("host_time")[:]
        device = view.times("device_time")[:]
        total = len(host)
        sent = 0
        while sent < total and not self._feeds.stopping.is_set():
            due = int(np.searchsorted(host, local_clock() - self.t0 + self._start, "right"))
            if due > sent:
                outlet.push(view.samples[sent:due], device[sent:due])
                sent = due
            time.sleep(0.01)


class ReplayCamera:
    """A camera implementing drivers.interfaces.Camera from a session's recorded video."""

    def __init__(self, lab: ReplayLab, session: Session, segments: list[str]) -> None:
        self._lab = lab
        self._segments = [session.segment(name) for name in segments]
        first = self._segments[0]
        attrs = first.attrs
        self._info = CameraInfo(
            model=f"replay of {attrs.get('camera_model', 'camera')}",
            serial=str(attrs.get("camera_serial", "")),
            width=int(attrs["width"]), height=int(attrs["height"]),
            pixel_format=first.pixel_format, frame_rate=float(attrs["frame_rate"]),
            settings={**first.camera_settings, "replay_of": str(lab.path)},
        )
        self._segment_index = 0
        self._frame_index = 0
        self._block: tuple[int, np.ndarray] | None = None
        self._meta = [
            {c: seg.column(c) for c in ("frame_number", "device_time", "host_time", "gpi_level")}
            for seg in self._segments
        ]

    @property
    def info(self) -> CameraInfo:
        """Camera description (from the recorded segments)."""
        return self._info

    @property
    def dropped_frames(self) -> int:
        """Replay drops nothing; gaps recorded originally stay gaps in the frame numbers."""
        return 0

    def losses(self) -> CameraLosses:
        """None: replay loses no frame (the original session keeps its own counts)."""
        return CameraLosses()

    def open(self) -> None:
        """Check the recorded video is readable."""
        if not self._segments:
            raise DeviceError(f"{self._lab.path} holds no video to replay")

    def start(self) -> None:
        """Start from the first recorded frame."""
        self._segment_index = self._frame_index = 0

    def stop(self) -> None:
        """Stop delivering frames."""

    def close(self) -> None:
        """Nothing to release (the lab closes the session)."""

    def read(self, timeout: float) -> Frame | None:
        """The next recorded frame at its recorded time, or None after timeout seconds."""
        if self._segment_index >= len(self._segments):
            time.sleep(timeout)
            return None
        meta = self._meta[self._segment_index]
        i = self._frame_index
        due = self._lab.due(float(meta["host_time"][i]))
        wait = due - local_clock()
        if wait > timeout:
            time.sleep(timeout)
            return None
        if wait > 0:
            time.sleep(wait)
        frame = Frame(self._image(i), int(meta["frame_number"][i]),
                      float(meta["device_time"][i]), local_clock(), int(meta["gpi_level"][i]))
        self._frame_index += 1
        if self._frame_index >= len(meta["host_time"]):
            self._segment_index += 1
            self._frame_index = 0
            self._block = None
        return frame

    def _image(self, index: int) -> np.ndarray:
        start = index - index % BLOCK_FRAMES
        if self._block is None or self._block[0] != start:
            segment = self._segments[self._segment_index]
            self._block = (start, segment.frames(start, start + BLOCK_FRAMES))
        return self._block[1][index - start].copy()
