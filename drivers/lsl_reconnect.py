"""Finding a stream again while it is away, and counting what its device sent meanwhile.

liblsl's own inlet recovery resolves in waves 0.5 s apart, so a restarted sender loses its
first 0.5-1 s. Here a resolve is sent every RESOLVE_ATTEMPT_S while the stream is away (one
small query packet each, only then), and the new inlet is opened in the same thread, so the
reader swaps it in within ~0.1 s of the sender's return.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.clock import configure_lsl
from core.devices import DeviceError
from drivers.lsl_query import StreamQuery
from drivers.lsl_resolve import find_streams

# The configuration must precede pylsl's first call in this process.
configure_lsl()

import pylsl  # noqa: E402

RESOLVE_ATTEMPT_S = 0.02  # one resolve wave; a returning sender answers within ~ms
# How much longer than the host waited a device's own hole may be before its clock counts as
# having jumped (transport latency differs by far less before and after an outage).
JUMP_TOLERANCE_S = 1.0

# Opens an inlet to a found stream: the inlet and the stream's info, or DeviceError.
Opener = Callable[[pylsl.StreamInfo], tuple[pylsl.StreamInlet, pylsl.StreamInfo]]


def identity_query(info: pylsl.StreamInfo) -> StreamQuery:
    """What makes a stream the same one again: its source_id, else name, type and host."""
    if info.source_id():
        return StreamQuery(source_id=info.source_id())
    return StreamQuery(name=info.name(), type=info.type(), hostname=info.hostname() or None)


@dataclass
class _Search:
    """One search: runs until it found the stream or was cancelled."""

    avoid_uid: str | None  # a connection that still looks alive: only another one will do
    stop: threading.Event = field(default_factory=threading.Event)
    found: tuple[pylsl.StreamInlet, pylsl.StreamInfo] | None = None
    thread: threading.Thread | None = None


class Reconnector:
    """Looks for a stream that went away, in a background thread, and opens a new inlet."""

    def __init__(self, query: StreamQuery, opener: Opener, name: str) -> None:
        self._query = query
        self._opener = opener
        self._name = name
        self._search: _Search | None = None

    @property
    def looking(self) -> bool:
        """True while a search runs or its result waits to be taken."""
        return self._search is not None

    def start(self, avoid_uid: str | None = None) -> None:
        """Start looking (or go on, now accepting whatever avoid_uid says)."""
        search = self._search
        if search is not None:
            search.avoid_uid = avoid_uid
            return
        search = _Search(avoid_uid)
        search.thread = threading.Thread(target=self._run, args=(search,),
                                         name=f"lsl-reconnect-{self._name}", daemon=True)
        self._search = search
        search.thread.start()

    def take(self) -> tuple[pylsl.StreamInlet, pylsl.StreamInfo] | None:
        """The new inlet and the stream's info once found (the search then ends), else None."""
        search = self._search
        if search is None or search.found is None:
            return None
        self._search = None
        return search.found

    def cancel(self) -> None:
        """Stop looking without waiting (the old connection delivers again)."""
        search, self._search = self._search, None
        if search is not None:
            search.stop.set()

    def close(self, timeout: float) -> None:
        """Stop looking and wait for the search thread (up to timeout seconds)."""
        search, self._search = self._search, None
        if search is not None and search.thread is not None:
            search.stop.set()
            search.thread.join(timeout)

    def _run(self, search: _Search) -> None:
        """Resolve every RESOLVE_ATTEMPT_S until an acceptable stream answers and opens."""
        while not search.stop.is_set():
            began = time.monotonic()
            candidate = self._resolve(search.avoid_uid)
            if candidate is not None:
                try:
                    opened = self._opener(candidate)
                except DeviceError:
                    opened = None  # it went away again, or is still starting: keep looking
                if opened is not None and not search.stop.is_set():
                    search.found = opened
                    return
            search.stop.wait(max(0.0, RESOLVE_ATTEMPT_S - (time.monotonic() - began)))

    def _resolve(self, avoid_uid: str | None) -> pylsl.StreamInfo | None:
        """One resolve wave for the stream, leaving out the connection to avoid."""
        if avoid_uid is None:
            found = find_streams(self._query, RESOLVE_ATTEMPT_S)
        else:
            # In the predicate, so a stale sender answering first cannot hide a new one.
            predicate = f"{self._query.predicate()} and uid!='{avoid_uid}'"
            found = list(pylsl.resolve_bypred(predicate, 1, RESOLVE_ATTEMPT_S))
        return found[0] if found else None


@dataclass(frozen=True)
class Missed:
    """Samples a regular stream's device sent while the stream was away."""

    count: int
    from_device_clock: bool  # False: the device clock jumped, counted from receipt times


def samples_missed(last_device: float, first_device: float, host_hole: float,
                   rate: float) -> Missed:
    """Samples between the last one before an outage and the first after (both excluded).

    Counted from the device's timestamps and its nominal rate; when those jump (a sender
    whose clock restarted, so the hole is negative or far longer than the host waited), from
    the host's receipt times instead.
    """
    hole = first_device - last_device
    from_device = 0.0 <= hole <= host_hole + JUMP_TOLERANCE_S
    span = hole if from_device else host_hole
    return Missed(max(0, round(span * rate) - 1), from_device)
