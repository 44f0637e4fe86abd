"""Extra LSL senders whose every sample says which one it is (an eye tracker, a second
amplifier, a stimulus PC's markers), for recordings checked sample by sample.

Sample i of a regular stream holds i + c/8 in channel c (exact in float32 while i < 2**21)
and is stamped t0 + i / rate; marker i of a marker stream (nominal rate 0) reads `marker i` and
is stamped t0 + i * marker_period. A sender can be restarted like a program closed and opened
again: its device goes on counting, so what falls due meanwhile is never sent.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from core.clock import local_clock
from core.devices import StreamInfo
from drivers.lsl_outlet import LslOutlet

CHUNK_INTERVAL_S = 0.01  # seconds between pushes (a 1000 Hz amplifier pushes 10 samples)


class CounterSender:
    """One LSL outlet fed by its own thread with counting samples on the host's clock."""

    def __init__(self, info: StreamInfo, marker_period: float = 0.25) -> None:
        self.info = info
        self.period = 1.0 / info.nominal_rate if info.nominal_rate > 0 else marker_period
        self.t0 = 0.0
        self.restarts: list[int] = []  # the first sample each restarted outlet sent
        self._outlet: LslOutlet | None = None
        self._pause: float | None = None  # a restart asked for, and how long to stay away
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"counter-{info.name}",
                                        daemon=True)

    def start(self) -> None:
        """Open the outlet and start counting from now."""
        self._outlet = LslOutlet(self.info)
        self.t0 = local_clock()
        self._thread.start()

    def stop(self) -> None:
        """Stop sending and close the outlet."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def restart(self, pause: float) -> None:
        """Close the outlet, stay away `pause` seconds, open it again (same name and
        source_id); returns at once, the sending thread does it."""
        self._pause = pause

    def stamp(self, index: np.ndarray) -> np.ndarray:
        """The device timestamps of samples `index`."""
        return self.t0 + np.asarray(index, np.float64) * self.period

    def values(self, index: np.ndarray) -> np.ndarray:
        """The samples `index` as sent: (n, channels) float32, or str for markers."""
        index = np.asarray(index, np.int64)
        if self.info.channel_format == "string":
            return np.array([[f"marker {i}"] * self.info.channel_count for i in index],
                            dtype=object)
        channels = np.arange(self.info.channel_count) / 8.0
        return (index[:, None] + channels[None, :]).astype(np.float32)

    def _due(self) -> int:
        """Samples the device has taken by now."""
        return int((local_clock() - self.t0) / self.period) + 1

    def _run(self) -> None:
        assert self._outlet is not None
        sent = 0
        while not self._stop.is_set():
            if self._pause is not None:
                pause, self._pause = self._pause, None
                self._outlet.close()
                time.sleep(pause)
                self._outlet = LslOutlet(self.info)
                sent = self._due()  # the device went on counting while it was away
                self.restarts.append(sent)
            due = self._due()
            if due > sent:
                index = np.arange(sent, due)
                self._outlet.push(self.values(index), self.stamp(index))
                sent = due
            self._stop.wait(CHUNK_INTERVAL_S)
        self._outlet.close()
