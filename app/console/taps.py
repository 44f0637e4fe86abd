"""Taps between the recorder's device threads and the console's live views, Qt-free.

The recorder calls a tap from its camera or stream thread with a reference to each frame or
chunk; a tap only stores that reference and returns, so a slow or busy display can never
delay a device thread. The GUI thread picks the references up on its own timers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

from core.devices import Chunk, Frame

# Chunks kept per stream until the GUI drains them: ~20 s of 10 ms polls. Older ones fall
# off when the GUI is stalled, which only thins the plot.
CHUNK_BACKLOG = 2000


class LatestFrame:
    """Keeps only the newest camera frame; put() from the camera thread, take() from the GUI."""

    def __init__(self) -> None:
        # One tuple assigned at once: rebinding an attribute is atomic under the GIL, so the
        # reader always sees a matching (count, frame) pair without a lock.
        self._latest: tuple[int, Frame | None] = (0, None)
        self._taken = 0

    def put(self, frame: Frame) -> None:
        """Store a reference to the frame (no copy); called for every frame."""
        count, _ = self._latest
        self._latest = (count + 1, frame)

    @property
    def count(self) -> int:
        """Frames seen so far."""
        return self._latest[0]

    def take(self) -> Frame | None:
        """The newest frame if it was not taken before, else None."""
        count, frame = self._latest
        if count == self._taken:
            return None
        self._taken = count
        return frame


class FrameTimes:
    """The per-frame numbers of every camera frame (never the image), for live sync health."""

    def __init__(self, backlog: int = 20 * CHUNK_BACKLOG) -> None:
        self._rows: deque[tuple[int, float, float, int]] = deque(maxlen=backlog)

    def put(self, frame: Frame) -> None:
        """Keep the frame's number, times and GPI level (one small tuple per frame)."""
        self._rows.append((frame.frame_number, frame.device_time, frame.host_time,
                           frame.gpi_level))

    def drain(self) -> list[tuple[int, float, float, int]]:
        """Every row put since the last drain, oldest first."""
        out = []
        while self._rows:
            out.append(self._rows.popleft())
        return out


class ChunkTap:
    """Per-stream queues of chunk references; put() from stream threads, drain() from the GUI."""

    def __init__(self, roles: Iterable[str], backlog: int = CHUNK_BACKLOG) -> None:
        # deque.append and popleft are atomic in CPython: no lock on the producer's side.
        self._queues = {role: deque[Chunk](maxlen=backlog) for role in roles}

    def put(self, role: str, chunk: Chunk) -> None:
        """Store a reference to a chunk the recorder just queued for writing."""
        queue = self._queues.get(role)
        if queue is not None:
            queue.append(chunk)

    def drain(self, role: str) -> list[Chunk]:
        """Every chunk of a stream put since the last drain, oldest first."""
        queue = self._queues.get(role)
        out: list[Chunk] = []
        while queue:
            out.append(queue.popleft())
        return out


class StreamRing:
    """The last `seconds` of one stream's samples for plotting (GUI thread only)."""

    def __init__(self, channels: int, rate: float, seconds: float = 10.0) -> None:
        self.capacity = max(16, round((rate or 100.0) * seconds * 1.2))  # + room for jitter
        self.seconds = seconds
        self._data = np.zeros((self.capacity, channels), np.float32)
        self._times = np.zeros(self.capacity)
        self._next = 0
        self._filled = 0

    def __len__(self) -> int:
        return self._filled

    def extend(self, samples: np.ndarray, times: np.ndarray) -> None:
        """Append samples (n, channels) with their session-clock times."""
        n = len(times)
        if n == 0:
            return
        if n > self.capacity:
            samples, times, n = samples[-self.capacity:], times[-self.capacity:], self.capacity
        end = self._next + n
        if end <= self.capacity:
            self._data[self._next:end] = samples
            self._times[self._next:end] = times
        else:
            first = self.capacity - self._next
            self._data[self._next:] = samples[:first]
            self._times[self._next:] = times[:first]
            self._data[: n - first] = samples[first:]
            self._times[: n - first] = times[first:]
        self._next = end % self.capacity
        self._filled = min(self.capacity, self._filled + n)

    def add(self, chunk: Chunk) -> None:
        """Append a recorder chunk (host receipt times)."""
        self.extend(np.asarray(chunk.samples, np.float32), np.asarray(chunk.host_time))

    def window(self, channels: list[int], now: float, max_points: int = 2000
               ) -> tuple[np.ndarray, np.ndarray]:
        """(seconds before now, samples (n, len(channels))) of the last `seconds`, thinned."""
        if self._filled == 0:
            return np.zeros(0), np.zeros((0, len(channels)), np.float32)
        order = np.arange(self._next - self._filled, self._next) % self.capacity
        times = self._times[order]
        keep = order[times >= now - self.seconds]
        step = max(1, len(keep) // max_points)  # a screen shows no more points than pixels
        keep = keep[::step]
        return self._times[keep] - now, self._data[np.ix_(keep, channels)]
