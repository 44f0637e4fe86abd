"""Sync health while recording: does every device's trigger input still see the sync train?

Fed (on the console's GUI thread) with what the recorder already passes to its display taps:
each stream's chunks, the camera's per-frame GPI levels and the trigger box's own log. Edges
are found as recordings/sync/edges.py finds them after the session, a chunk at a time (the
last row of each chunk is kept, so an edge between two chunks is not missed).

Per device it tells the sync edges seen, the seconds since the last one, the running clock
offset (session clock minus device clock at the last edge, from the box's pulse receipt
times) and the RMS residual of a line through the last FIT_EDGES offsets, and whether the
train is lost: no sync edge for max(SYNC_LOST_S, 3 sync periods). These live figures only
watch the rig; the stored clock fit is `melab sync`'s (docs/sync.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.codes import SYNC_CODE
from core.devices import Chunk
from core.trigger_channel import TriggerChannel
from recordings.sync.edges import Edges, camera_edges, line_codes, stream_edges

SYNC_LOST_S = 3.0  # no sync edge for this long (or 3 sync periods, if longer): red
FIT_EDGES = 20  # the running offset's line goes through this many last edges
PAIR_WINDOW = 0.5  # a device edge pairs with the box pulse received within half a period
BOX_ROLE = "trigger"  # the trigger box's log, as the recorder's tap names it
EdgeFinder = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], Edges]


@dataclass(frozen=True)
class SyncHealth:
    """One device's sync train as seen so far."""

    role: str
    edges: int
    since_last: float | None  # s since the last sync edge arrived (None: none yet)
    offset: float | None  # s, session clock minus device clock at the last edge
    residual_ms: float | None  # RMS of the last edges about a line through them
    lost: bool

    def text(self) -> str:
        """'42 edges, 0.4 s ago, offset +523.41205 s ± 0.12 ms' for the device table."""
        if self.edges == 0:
            return "no sync edge yet" + (" - SYNC LOST" if self.lost else "")
        parts = [f"{self.edges} edge{'s' if self.edges != 1 else ''}, "
                 f"{self.since_last:.1f} s ago"]
        if self.offset is not None:
            residual = (f" ± {self.residual_ms:.2f} ms" if self.residual_ms is not None
                        else "")
            parts.append(f"offset {self.offset:+.5f} s{residual}")
        text = ", ".join(parts)
        return f"SYNC LOST: {text}" if self.lost else text


@dataclass
class _Track:
    """What one device showed so far."""

    first_data: float | None = None  # host time of the first data seen
    last_edge: float | None = None  # host time of the row showing the last sync edge
    edges: int = 0
    tail: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    pairs: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=FIT_EDGES))
    unpaired: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=50))


class LiveSyncMonitor:
    """Counts each device's sync edges and keeps a running clock offset (GUI thread only)."""

    def __init__(self, triggers: dict[str, TriggerChannel], rates: dict[str, float], *,
                 camera_mask: int = 0, camera_fps: float = 0.0, box: bool = True,
                 sync_period: float = 1.0) -> None:
        self.triggers = dict(triggers)
        self.rates = dict(rates)
        self.camera_mask = camera_mask
        self.camera_fps = camera_fps
        self.lost_after = max(SYNC_LOST_S, 3 * sync_period)
        roles = [*self.triggers, *(["camera"] if camera_mask and camera_fps else []),
                 *([BOX_ROLE] if box else [])]
        self.tracks = {role: _Track() for role in roles}
        self._box_pulses: deque[float] = deque(maxlen=200)  # host receipt of sync pulses

    def add_chunk(self, role: str, chunk: Chunk) -> None:
        """A stream's chunk, or (role BOX_ROLE) the trigger box's new log rows."""
        track = self.tracks.get(role)
        if track is None or len(chunk) == 0:
            return
        host = np.asarray(chunk.host_time, np.float64)
        track.first_data = track.first_data if track.first_data is not None else host[0]
        if role == BOX_ROLE:
            codes = np.rint(np.asarray(chunk.samples, np.float64)[:, 0]).astype(np.int64)
            for when in host[codes == SYNC_CODE]:
                self._box_pulses.append(float(when))
                self._edge(track, float(when), None)
            return
        trigger = self.triggers[role]
        samples = np.asarray(chunk.samples, np.float64)
        columns = [samples[:, c] for c in trigger.columns]
        levels = columns[0] if trigger.is_code else line_codes(columns).astype(np.float64)
        rate = self.rates[role]
        self._feed(track, levels, np.asarray(chunk.device_time, np.float64), host,
                   np.zeros(len(levels)),
                   lambda lv, dev, hst, num: stream_edges(lv, dev, hst, rate))

    def add_frames(self, rows: list[tuple[int, float, float, int]]) -> None:
        """Camera frames as (frame number, device time, host time, GPI level) rows."""
        track = self.tracks.get("camera")
        if track is None or not rows:
            return
        numbers, device, host, gpi = (np.array(c, np.float64) for c in zip(*rows, strict=True))
        track.first_data = track.first_data if track.first_data is not None else host[0]
        self._feed(track, gpi, device, host, numbers,
                   lambda lv, dev, hst, num: camera_edges(
                       lv.astype(np.int64), self.camera_mask, num, dev, hst, self.camera_fps))

    def _feed(self, track: _Track, levels: np.ndarray, device: np.ndarray, host: np.ndarray,
              numbers: np.ndarray, find: EdgeFinder) -> None:
        """Count the sync edges of this block, the previous block's last row in front."""
        if track.tail is not None:
            levels, device, host, numbers = (np.concatenate((old, new)) for old, new in zip(
                track.tail, (levels, device, host, numbers), strict=True))
        track.tail = (levels[-1:], device[-1:], host[-1:], numbers[-1:])
        edges = find(levels, device, host, numbers)
        for code, mid, when in zip(edges.code, edges.mid, edges.host, strict=True):
            if code in (SYNC_CODE, -1):  # -1: a camera's line, which only sync (mostly) raises
                self._edge(track, float(when), float(mid))

    def _edge(self, track: _Track, host: float, device_mid: float | None) -> None:
        track.edges += 1
        track.last_edge = host
        if device_mid is not None:
            track.unpaired.append((host, device_mid))
            self._pair(track)

    def _pair(self, track: _Track) -> None:
        """Pair device edges with the box pulse received nearest to them."""
        pulses = np.array(self._box_pulses)
        keep: deque[tuple[float, float]] = deque(maxlen=track.unpaired.maxlen)
        for host, mid in track.unpaired:
            if len(pulses) == 0:
                keep.append((host, mid))
                continue
            nearest = pulses[np.argmin(np.abs(pulses - host))]
            if abs(nearest - host) <= PAIR_WINDOW:
                track.pairs.append((mid, float(nearest) - mid))
            elif host > pulses[-1]:  # its pulse may not have arrived yet
                keep.append((host, mid))
        track.unpaired = keep

    def health(self, now: float) -> dict[str, SyncHealth]:
        """Every device's SyncHealth at session-clock time now."""
        return {role: self._health(role, track, now) for role, track in self.tracks.items()}

    def _health(self, role: str, track: _Track, now: float) -> SyncHealth:
        since = now - track.last_edge if track.last_edge is not None else None
        quiet = since if since is not None else (
            now - track.first_data if track.first_data is not None else 0.0)
        offset = residual = None
        if track.pairs:
            x, y = np.array(track.pairs).T
            offset = float(y[-1])
            if len(x) >= 3:
                slope, intercept = np.polyfit(x - x[0], y, 1)
                fitted = intercept + slope * (x - x[0])
                residual = float(np.sqrt(np.mean((y - fitted) ** 2)) * 1e3)
        return SyncHealth(role, track.edges, since, offset, residual, quiet > self.lost_after)
