"""LSL outlets each fed by a thread of its own: what the simulated lab and replay share."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from core.devices import StreamInfo
from drivers.lsl_outlet import LslOutlet


class OutletThreads:
    """Opens outlets, runs one feeding thread per outlet, and stops and closes them all."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.outlets: dict[str, LslOutlet] = {}
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def open(self, infos: Mapping[str, StreamInfo]) -> None:
        """Create one outlet per stream (inlets can connect from now on)."""
        self.outlets = {key: LslOutlet(info) for key, info in infos.items()}

    def start(self, feed: Callable[[str], None]) -> None:
        """Run feed(key) in a thread per outlet; feed returns when `stopping` is set."""
        for key in self.outlets:
            thread = threading.Thread(target=feed, args=(key,), name=f"{self.name}-{key}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Stop the feeding threads, then close the outlets."""
        self.stopping.set()
        for thread in self._threads:
            thread.join()
        for outlet in self.outlets.values():
            outlet.close()
