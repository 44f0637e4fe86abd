"""LSL streams: describe, and an inlet implementing ContinuousStream (outlets: lsl_outlet.py)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.clock import configure_lsl, local_clock
from core.devices import Chunk, ClockOffset, DeviceError, StreamGap, StreamInfo
from drivers.lsl_query import StreamQuery
from drivers.lsl_reconnect import Reconnector, identity_query, samples_missed
from drivers.lsl_resolve import resolve_stream_info

# The configuration must precede pylsl's first call in this process.
configure_lsl()

import pylsl  # noqa: E402
from pylsl.util import LostError  # noqa: E402
from pylsl.util import TimeoutError as LslTimeoutError  # noqa: E402

log = logging.getLogger(__name__)

# liblsl's numeric channel formats and their numpy dtypes (strings are handled apart).
_NUMERIC_DTYPES: dict[int, type[np.generic]] = {
    pylsl.cf_float32: np.float32,
    pylsl.cf_double64: np.float64,
    pylsl.cf_int8: np.int8,
    pylsl.cf_int16: np.int16,
    pylsl.cf_int32: np.int32,
    pylsl.cf_int64: np.int64,
}
RECONNECT_OPEN_TIMEOUT_S = 2.0  # a sender that answered a resolve opens within ms


def _format_name(fmt: int) -> str:
    """liblsl's channel format as text for messages (string, float32, int16, ...)."""
    if fmt == pylsl.cf_string:
        return "string"
    dtype = _NUMERIC_DTYPES.get(fmt)
    return np.dtype(dtype).name if dtype is not None else f"format {fmt}"


def describe(info: pylsl.StreamInfo) -> StreamInfo:
    """Convert a (full) pylsl StreamInfo to core.devices.StreamInfo with its whole header."""
    count = info.channel_count()
    labels = [""] * count
    units = [""] * count
    types = [""] * count
    channel = info.desc().child("channels").child("channel")
    index = 0
    # Walk desc/channels/channel as written by the XDF meta-data convention.
    while not channel.empty() and index < count:
        labels[index] = channel.child_value("label")
        units[index] = channel.child_value("unit")
        types[index] = channel.child_value("type")
        channel = channel.next_sibling("channel")
        index += 1
    labels = [lab or f"ch{i + 1}" for i, lab in enumerate(labels)]
    is_string = info.channel_format() == pylsl.cf_string
    return StreamInfo(
        name=info.name(),
        type=info.type(),
        source_id=info.source_id(),
        channel_labels=tuple(labels),
        channel_units=tuple(units),
        nominal_rate=float(info.nominal_srate()),
        channel_format="string" if is_string else "float32",
        channel_types=tuple(types) if any(types) else (),
        hostname=info.hostname(),
        header_xml=info.as_xml(),
    )


@dataclass(frozen=True)
class StreamStatus:
    """Live status of an inlet for the recorder's display."""

    samples_received: int
    effective_rate: float  # Hz, samples received over the last rate window
    last_sample_age: float | None  # seconds since the last sample arrived; None before any
    connected: bool


def outage_threshold(rate: float) -> float:
    """Seconds without samples after which a stream of `rate` Hz counts as out."""
    return max(0.5, 50.0 / rate)


@dataclass(frozen=True)
class InletOptions:
    """Tuning of an LslInlet; the defaults suit 1000 Hz EEG/physiology recording."""

    max_buflen: int = 360  # seconds liblsl buffers for us (samples x100 for markers)
    clock_offset_period: float = 5.0  # seconds between time_correction() records
    clock_offset_timeout: float = 2.0  # seconds one time_correction() may take
    # Seconds without samples before the stream counts as out; None: max(0.5 s, 50
    # sample periods) for regular streams, never for irregular (marker) streams.
    outage_threshold: float | None = None
    rate_window: float = 2.0  # seconds over which status() measures the effective rate
    chunk_capacity: int | None = None  # samples per pull; None: one second (>= 256)


class LslInlet:
    """LSL inlet as a ContinuousStream: raw stamps, receipt times, clock offsets, outages.

    A stream that goes away (its sender closed, the connection broke, or a regular stream sent
    nothing for longer than the outage threshold) is looked for again in the background
    (drivers/lsl_reconnect.py) and read again as soon as it is back. The outage becomes a gap
    from the last sample before to the first after, with the samples its device sent
    meanwhile (regular streams, from the device's timestamps and nominal rate).
    """

    def __init__(
        self,
        name: str | None = None,
        type: str | None = None,  # shadows the builtin: LSL's property name
        source_id: str | None = None,
        hostname: str | None = None,
        options: InletOptions | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self._query = StreamQuery(name, type, source_id, hostname)
        self._options = options or InletOptions()
        self._on_status = on_status
        self._lock = threading.Lock()
        self._inlet: pylsl.StreamInlet | None = None
        self._uid = ""  # the connection's sender instance (a restarted sender has a new one)
        self._info: StreamInfo | None = None
        self._format = 0  # liblsl's channel format of the stream (pylsl.cf_*)
        self._dtype: type[np.generic] | None = None
        self._buffer: np.ndarray | None = None
        self._capacity = 0
        self._threshold: float | None = None
        self._reconnector: Reconnector | None = None
        self._reset_connection()
        self._offsets: list[ClockOffset] = []
        self._gaps: list[StreamGap] = []
        self._stop = threading.Event()
        self._offset_wake = threading.Event()
        self._offset_thread: threading.Thread | None = None

    def _reset_connection(self) -> None:
        """Per-connection state: fresh at construction and at every open()."""
        self._connected = False
        self._broken = False  # the connection itself failed: only a new one can deliver
        self._opened_at = 0.0
        self._last_sample_host: float | None = None
        self._last_device_time: float | None = None
        self._out_since: float | None = None
        self._received = 0
        self._recent: deque[tuple[float, int]] = deque()

    # -- ContinuousStream -------------------------------------------------------------
    @property
    def info(self) -> StreamInfo:
        """Stream description (available after open())."""
        if self._info is None:
            raise DeviceError(f"LSL stream {self._query.describe()} is not open: call open().")
        return self._info

    def open(self, timeout: float) -> None:
        """Resolve the stream, open the inlet and start clock-offset collection."""
        if self._inlet is not None:
            return
        opts = self._options
        found = resolve_stream_info(self._query, timeout)
        inlet, full = self._connect(found, timeout)
        info = describe(full)
        fmt = self._format = full.channel_format()
        self._dtype = None if fmt == pylsl.cf_string else _NUMERIC_DTYPES.get(fmt)
        if fmt != pylsl.cf_string and self._dtype is None:
            inlet.close_stream()
            raise DeviceError(f"LSL stream {info.name!r} has unsupported channel format {fmt}.")
        rate = info.nominal_rate
        capacity = opts.chunk_capacity or max(256, int(rate))
        if self._dtype is not None:
            # Preallocated once: liblsl writes straight into it on every pull.
            self._buffer = np.empty((capacity, info.channel_count), dtype=self._dtype)
        self._capacity = capacity
        if opts.outage_threshold is not None:
            self._threshold = opts.outage_threshold
        elif rate > 0:
            self._threshold = outage_threshold(rate)
        self._reset_connection()  # a stream closed before may be opened again
        self._reconnector = Reconnector(
            identity_query(full),
            lambda found: self._connect(found, RECONNECT_OPEN_TIMEOUT_S, full_info=False),
            info.name)
        self._inlet, self._uid, self._info = inlet, full.uid(), info
        self._opened_at = local_clock()
        self._connected = True
        self._stop.clear()
        self._offset_wake.clear()
        self._offset_thread = threading.Thread(
            target=self._offset_loop, name=f"lsl-offsets-{info.name}", daemon=True
        )
        self._offset_thread.start()

    def read(self) -> Chunk | None:
        """Samples that arrived since the last call (raw device timestamps), or None."""
        inlet = self._inlet
        if inlet is None:
            raise DeviceError(
                f"LSL stream {self._query.describe()} is not open: call open() before read()."
            )
        reconnected = self._take_reconnected()
        if reconnected is not None:
            inlet = reconnected
        if self._broken:
            return None
        try:
            parts = self._pull_all(inlet)
        except LostError:
            self._connection_broke()
            return None
        now = local_clock()
        if not parts:
            self._check_outage(now)
            return None
        samples = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        device = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
        host = np.concatenate([np.full(len(p[1]), p[2]) for p in parts])
        self._note_samples(float(host[0]), float(host[-1]), device)
        return Chunk(samples=samples, device_time=device, host_time=host)

    def clock_offsets(self) -> list[ClockOffset]:
        """Clock-offset records taken since the last call."""
        with self._lock:
            taken, self._offsets = self._offsets, []
        return taken

    def gaps(self) -> list[StreamGap]:
        """Outages that ended since the last call."""
        with self._lock:
            taken, self._gaps = self._gaps, []
        return taken

    def close(self) -> None:
        """Stop looking for a lost sender, stop clock-offset collection, close the inlet."""
        inlet, self._inlet = self._inlet, None
        if inlet is None:
            return
        self._stop.set()
        self._offset_wake.set()
        if self._reconnector is not None:
            self._reconnector.close(RECONNECT_OPEN_TIMEOUT_S + 1.0)
        thread = self._offset_thread
        if thread is not None:
            thread.join(self._options.clock_offset_timeout + 1.0)
            if thread.is_alive():
                # Freeing the inlet under a running time_correction() would crash liblsl;
                # leak it instead (the thread ends on its own after its timeout).
                log.warning("LSL clock-offset thread still busy; inlet left to finish.")
                return
        inlet.close_stream()
        self._connected = False

    # -- live status ------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """False while the stream is out (its sender gone, or silent beyond the threshold)."""
        return self._connected

    def status(self) -> StreamStatus:
        """Samples received, effective rate, last-sample age and connection state."""
        now = local_clock()
        with self._lock:
            self._prune_recent(now)
            window = self._options.rate_window
            # Right after open() the window is not full yet; rate over the time actually seen.
            span = min(window, max(now - self._opened_at, 1e-3)) if self._opened_at else window
            rate = sum(n for _, n in self._recent) / span
            age = None if self._last_sample_host is None else now - self._last_sample_host
            return StreamStatus(self._received, rate, age, self._connected)

    # -- internals ----------------------------------------------------------------------
    def _connect(self, found: pylsl.StreamInfo, timeout: float,
                 full_info: bool = True) -> tuple[pylsl.StreamInlet, pylsl.StreamInfo]:
        """Open an inlet to a resolved stream: the inlet and the stream's info (the full
        header when full_info; else the resolved one, which has the layout and uid)."""
        # recover=False: liblsl's own recovery resolves in 0.5 s waves; a broken connection
        # raises LostError instead and the Reconnector finds the sender again faster.
        inlet = pylsl.StreamInlet(found, max_buflen=self._options.max_buflen, recover=False)
        try:
            # The data feed first: samples the sender pushes before it starts never arrive.
            inlet.open_stream(timeout)
            info = inlet.info(timeout) if full_info else found
        except (LslTimeoutError, LostError) as exc:
            inlet.close_stream()
            raise DeviceError(
                f"LSL stream {found.name()!r} (source_id {found.source_id()!r}) was found but "
                f"did not answer within {timeout:g} s ({exc}); check that the sender is still "
                "running and not overloaded, then try again."
            ) from exc
        return inlet, info

    def _take_reconnected(self) -> pylsl.StreamInlet | None:
        """Swap in the connection the Reconnector opened, if it found the sender again."""
        if self._reconnector is None or (opened := self._reconnector.take()) is None:
            return None
        inlet, found = opened
        info = self.info
        layout = (found.channel_count(), found.channel_format())
        if layout != (info.channel_count, self._format):
            self._notify(
                f"LSL stream {info.name!r} came back with {layout[0]} channels of "
                f"{_format_name(layout[1])} instead of {info.channel_count} of "
                f"{_format_name(self._format)}; it is not recorded from that sender. Restart "
                "the sender as it was, or start a new recording."
            )
            self._reconnector.start(avoid_uid=found.uid())
            return None
        # The old connection is dropped here; the offset thread may still hold it for the
        # time_correction() it runs, and liblsl frees it once that returns.
        self._inlet, self._uid, self._broken = inlet, found.uid(), False
        if self._threshold is None:  # irregular: no first sample to wait for
            self._end_outage(local_clock(), None)
        return inlet

    def _pull_all(self, inlet: pylsl.StreamInlet) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Drain everything buffered now: (samples copy, device times, receipt time) parts."""
        parts: list[tuple[np.ndarray, np.ndarray, float]] = []
        capacity = self._capacity
        while True:
            if self._dtype is not None:
                view, stamps = inlet.pull_chunk(0.0, capacity, dest_obj=self._buffer, as_numpy=True)
                host = local_clock()
                n = len(stamps)
                if n:
                    # astype copies: the buffer is reused by the next pull.
                    parts.append((view.astype(np.float32), np.asarray(stamps, np.float64), host))
            else:
                values, stamps = inlet.pull_chunk(0.0, capacity)
                host = local_clock()
                n = len(stamps)
                if n:
                    block = np.empty((n, self.info.channel_count), dtype=object)
                    block[:, :] = values
                    parts.append((block, np.asarray(stamps, np.float64), host))
            if n < capacity:
                return parts

    def _note_samples(self, first_host: float, last_host: float, device: np.ndarray) -> None:
        """Update counters; end an outage when samples come back."""
        if not self._connected:
            self._end_outage(first_host, float(device[0]))
        n = len(device)
        with self._lock:
            self._received += n
            self._last_sample_host = last_host
            self._last_device_time = float(device[-1])
            self._recent.append((last_host, n))
            self._prune_recent(last_host)

    def _end_outage(self, end: float, first_device: float | None) -> None:
        """Close the outage as a gap ending at `end`, with the samples its device sent."""
        if self._reconnector is not None:
            self._reconnector.cancel()  # the old connection delivers again
        info = self.info
        missed = None
        if first_device is not None and self._last_device_time is not None:
            assert self._last_sample_host is not None
            missed = samples_missed(self._last_device_time, first_device,
                                    end - self._last_sample_host, info.nominal_rate)
        start = self._out_since if self._out_since is not None else end
        gap = StreamGap(start=start, end=end, samples_lost=missed.count if missed else 0)
        with self._lock:
            self._gaps.append(gap)
            self._out_since = None
            self._connected = True
        self._offset_wake.set()  # a new connection may be a new clock: measure it now
        lost = ""
        if missed is not None:
            clock = "" if missed.from_device_clock else (
                " (its clock jumped: counted from receipt times)")
            lost = f"; {missed.count} samples its device sent meanwhile are lost{clock}"
        self._notify(
            f"LSL stream {info.name!r} ({info.type}) is back after {gap.end - gap.start:.2f} s "
            f"without data{lost}; the gap is recorded."
        )

    def _check_outage(self, now: float) -> None:
        """Flag the stream as out when nothing has arrived for longer than the threshold."""
        if self._threshold is None or not self._connected:
            return
        last = self._last_sample_host if self._last_sample_host is not None else self._opened_at
        if now - last <= self._threshold:
            return
        with self._lock:
            self._connected = False
            self._out_since = last
        if self._reconnector is not None:
            # A sender restarted without closing its connection (a PC that rebooted) comes back
            # as a new instance; the silent connection itself may still resume.
            self._reconnector.start(avoid_uid=self._uid)
        info = self.info
        self._notify(
            f"LSL stream {info.name!r} ({info.type}, source_id {info.source_id!r}) has sent no "
            f"data for {now - last:.1f} s. Check the sending program and its device; recording "
            "goes on and the stream resumes by itself when the sender is back."
        )

    def _connection_broke(self) -> None:
        """The sender closed or the connection broke: look for the sender again, say so once."""
        self._broken = True
        was_connected = self._connected
        with self._lock:
            self._connected = False
            if self._out_since is None:
                # Regular streams: from the last sample; irregular ones have no data rhythm,
                # their outage starts when the connection broke.
                regular = self._threshold is not None and self._last_sample_host is not None
                self._out_since = self._last_sample_host if regular else local_clock()
        assert self._reconnector is not None
        self._reconnector.start(avoid_uid=None)
        if was_connected:
            info = self.info
            self._notify(
                f"LSL stream {info.name!r} ({info.type}, source_id {info.source_id!r}) has no "
                "data: its sender closed or the connection broke. Recording goes on and the "
                "stream resumes by itself when the sender is back."
            )

    def _prune_recent(self, now: float) -> None:
        """Forget rate bookkeeping older than the rate window (caller holds the lock)."""
        horizon = now - self._options.rate_window
        while self._recent and self._recent[0][0] <= horizon:
            self._recent.popleft()

    def _notify(self, message: str) -> None:
        """Tell the user via on_status (and the log); a faulty callback must not stop reading."""
        log.warning(message)
        if self._on_status is None:
            return
        try:
            self._on_status(message)
        except Exception:
            log.exception("on_status callback failed")

    def _offset_loop(self) -> None:
        """Record time_correction() periodically off the read path (it can block ~1-2 s)."""
        opts = self._options
        while not self._stop.is_set():
            inlet = self._inlet  # the current connection: a reconnect swaps it
            if inlet is None:
                return
            offset = None
            if self._connected and not self._broken:
                try:
                    offset = inlet.time_correction(timeout=opts.clock_offset_timeout)
                except (LslTimeoutError, LostError):
                    offset = None  # the reader notices a broken connection and reconnects
            # Only a measurement of the connection still in use, while it delivers, counts.
            if offset is not None and self._connected and inlet is self._inlet:
                record = ClockOffset(host_time=local_clock(), offset=float(offset))
                with self._lock:
                    self._offsets.append(record)
            del inlet  # an old connection is freed here, between two measurements
            self._offset_wake.wait(opts.clock_offset_period)
            self._offset_wake.clear()
