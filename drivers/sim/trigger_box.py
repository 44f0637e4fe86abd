"""Simulated trigger box: the far end of docs/trigger-protocol.md on a serial port, in a thread."""

from __future__ import annotations

import contextlib
import logging
import math
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from core.clock import local_clock
from core.codes import DEFAULT_PULSE_WIDTH_MS, PULSE_WIDTH_RANGE_MS, SYNC_PERIOD_RANGE_MS
from drivers.trigger import (
    EVENT_CODE_MAX,
    EVENT_CODE_MIN,
    FRAME_TIMEOUT_S,
    HOST_FRAME_LEN,
    HOST_START,
    PROTOCOL_VERSION,
    Command,
    FrameReader,
    NakError,
    Reply,
    decode_command,
    encode_reply,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Edge:
    """One pulse the simulated box put on its 8 TTL lines."""

    box_time: float  # rising edge, seconds on the box's µs counter
    code: int  # level of the 8 lines during the pulse
    kind: str  # "event" or "sync"
    host_time: float  # the same instant on the simulating host's clock
    width: float  # seconds the lines stay at `code` before returning to 0


@dataclass
class _Pulse:
    kind: str
    code: int
    due_us: int  # earliest rising edge (box µs)
    seq: int  # command seq for the ACK, or sync index mod 256


class SimTriggerBox:
    """A software trigger box speaking the melab protocol on `port`; start()/stop()."""

    def __init__(
        self,
        port: str,
        *,
        on_edge: Callable[[Edge], None] | None = None,
        clock: Callable[[], float] = local_clock,
        box_offset: float = 0.0,
        drift_ppm: float = 0.0,
        baud: int = 115200,
        serial_factory: Callable[..., Any] = serial.serial_for_url,
        queue_size: int = 16,
    ) -> None:
        self.port = port
        self._on_edge = on_edge
        self._clock = clock
        # The box counter is its own clock: offset and drift let the lab simulate that.
        self._offset_us = round(box_offset * 1e6)
        self._rate = 1.0 + drift_ppm * 1e-6
        self._baud = baud
        self._factory = serial_factory
        self._queue_size = queue_size
        self._serial: Any = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._lock = threading.Lock()
        self._edges: list[Edge] = []
        self._t0 = 0.0
        self._reset_state()

    def _reset_state(self) -> None:
        self.pulse_width_us = DEFAULT_PULSE_WIDTH_MS * 1000
        self._queue: deque[_Pulse] = deque()
        self._free_at_us = 0  # lines may rise again from here (end of pulse + equal gap)
        self._sync_period_us = 0
        self._sync_code = 0
        self._sync_next_us = 0
        self._sync_index = 0
        self._settled_us: int | None = None  # every pulse due by this box time is raised
        self.naks = 0

    # -- public API ---------------------------------------------------------------------

    def start(self) -> None:
        """Open the port and run the box in a background thread."""
        if self._thread is not None:
            return
        self._serial = self._factory(self.port, baudrate=self._baud, timeout=0.001,
                                     write_timeout=1.0)
        self._t0 = self._clock()
        self._reset_state()
        self._running.set()
        self._thread = threading.Thread(target=self._run, name="sim-trigger-box", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the port (the box 'loses power')."""
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._serial is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                self._serial.close()  # the peer may be gone already
        self._thread = None
        self._serial = None

    @property
    def running(self) -> bool:
        """True while the box thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def edges(self) -> list[Edge]:
        """Every pulse raised so far, in order."""
        with self._lock:
            return list(self._edges)

    def settled_until(self) -> float:
        """Host time up to which every pulse has been raised (-inf before the box ran).

        The box raises a late-woken pulse at its scheduled time, as a hardware timer would;
        whoever draws the TTL lines into device samples must not draw past this time.
        """
        settled = self._settled_us
        return -math.inf if settled is None else self.box_to_host(settled / 1e6)

    def box_to_host(self, box_time: float) -> float:
        """Host-clock time of a box-counter time (inverse of the simulated offset/drift)."""
        return self._t0 + (box_time - self._offset_us / 1e6) / self._rate

    # -- the box ------------------------------------------------------------------------

    def _now_us(self) -> int:
        return self._offset_us + round((self._clock() - self._t0) * 1e6 * self._rate)

    def _run(self) -> None:
        port = self._serial
        parser = FrameReader(HOST_START, HOST_FRAME_LEN, timeout=FRAME_TIMEOUT_S)
        try:
            while self._running.is_set():
                self._tick(self._now_us())
                data = port.read(max(1, port.in_waiting))
                if data:
                    for frame, ok in parser.feed(data):
                        now = self._now_us()
                        self._tick(now)  # pulses due before this command go first
                        self._handle(frame, ok, now)
        except (serial.SerialException, OSError) as exc:
            if self._running.is_set():
                log.info("simulated trigger box lost its port %s: %s", self.port, exc)

    def _tick(self, now: int) -> None:
        while self._sync_period_us and self._sync_next_us <= now:
            # Never stack sync pulses: a skipped one shows as a gap in the index.
            if not any(p.kind == "sync" for p in self._queue):
                self._queue.append(
                    _Pulse("sync", self._sync_code, self._sync_next_us, self._sync_index & 0xFF))
            self._sync_index += 1
            self._sync_next_us += self._sync_period_us
        while self._queue:
            start = max(self._queue[0].due_us, self._free_at_us)
            if start > now:
                break
            self._raise(self._queue.popleft(), start)
        self._settled_us = now

    def _raise(self, pulse: _Pulse, start_us: int) -> None:
        width = self.pulse_width_us
        self._free_at_us = start_us + 2 * width
        edge = Edge(start_us / 1e6, pulse.code, pulse.kind, self.box_to_host(start_us / 1e6),
                    width / 1e6)
        with self._lock:
            self._edges.append(edge)
        kind = Reply.SYNC if pulse.kind == "sync" else Reply.ACK
        self._reply(kind, pulse.seq, pulse.code, start_us)
        if self._on_edge is not None:
            try:
                self._on_edge(edge)
            except Exception:
                # A faulty consumer must not kill the box (the real one has no consumers).
                log.exception("simulated trigger box edge callback failed")

    def _reply(self, kind: int, seq: int, arg: int, time_us: int) -> None:
        if kind == Reply.NAK:
            self.naks += 1
        self._serial.write(encode_reply(kind, seq, arg, time_us))

    def _handle(self, frame: bytes, ok: bool, now: int) -> None:
        cmd = decode_command(frame)
        if not ok:
            self._reply(Reply.NAK, cmd.seq, NakError.BAD_CHECKSUM, now)
            return
        p = cmd.payload
        if cmd.command == Command.PING:
            self._reply(Reply.ACK, cmd.seq, PROTOCOL_VERSION, now)
        elif cmd.command == Command.EVENT:
            self._event(cmd.seq, p[0], now)
        elif cmd.command == Command.SYNC_START:
            period_ms, code = struct.unpack("<HB", p)
            self._sync_start(cmd.seq, period_ms, code, now)
        elif cmd.command == Command.SYNC_STOP:
            self._sync_period_us = 0
            self._queue = deque(q for q in self._queue if q.kind != "sync")
            self._reply(Reply.ACK, cmd.seq, 0, now)
        elif cmd.command == Command.PULSE_WIDTH:
            (width_ms,) = struct.unpack("<H", p[:2])
            lo, hi = PULSE_WIDTH_RANGE_MS
            too_long = self._sync_period_us and self._sync_period_us < 2 * width_ms * 1000
            if not lo <= width_ms <= hi or too_long:
                self._reply(Reply.NAK, cmd.seq, NakError.BAD_ARGUMENT, now)
                return
            self.pulse_width_us = width_ms * 1000
            self._reply(Reply.ACK, cmd.seq, 0, now)
        else:
            self._reply(Reply.NAK, cmd.seq, NakError.UNKNOWN_COMMAND, now)

    def _event(self, seq: int, code: int, now: int) -> None:
        if not EVENT_CODE_MIN <= code <= EVENT_CODE_MAX:
            self._reply(Reply.NAK, seq, NakError.BAD_ARGUMENT, now)
            return
        if sum(q.kind == "event" for q in self._queue) >= self._queue_size:
            self._reply(Reply.NAK, seq, NakError.QUEUE_FULL, now)
            return
        self._queue.append(_Pulse("event", code, now, seq))
        self._tick(now)  # raise it now if the lines are free; the ACK goes out then

    def _sync_start(self, seq: int, period_ms: int, code: int, now: int) -> None:
        lo, hi = SYNC_PERIOD_RANGE_MS
        if not lo <= period_ms <= hi or period_ms * 1000 < 2 * self.pulse_width_us or code == 0:
            self._reply(Reply.NAK, seq, NakError.BAD_ARGUMENT, now)
            return
        self._queue = deque(q for q in self._queue if q.kind != "sync")
        self._sync_period_us = period_ms * 1000
        self._sync_code = code
        self._sync_next_us = now
        self._sync_index = 0
        self._reply(Reply.ACK, seq, code, now)
        self._tick(now)  # first pulse at once (or as soon as the lines are free)
