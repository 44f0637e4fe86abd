"""LSL streams: resolve, describe, an inlet implementing ContinuousStream, and an outlet helper."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.clock import configure_lsl, local_clock
from core.devices import Chunk, ClockOffset, DeviceError, StreamGap, StreamInfo

# Loopback-only configuration must precede pylsl's first call in this process.
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

# Only listing visible streams in an error message waits this long (resolve_streams always
# waits its full time), so the happy path never pays it.
_LIST_WAIT = 1.0


def _xpath_literal(value: str) -> str:
    """Quote a value for an XPath 1.0 predicate (which has no escape sequences)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise DeviceError(
        f"Stream selector {value!r} contains both ' and \" and cannot be searched for; "
        "select the stream by another property (name, type or source_id)."
    )


def _selector_text(criteria: dict[str, str]) -> str:
    """Human-readable form of the selector, e.g. name='EEG' and type='EEG'."""
    return " and ".join(f"{k}={v!r}" for k, v in criteria.items())


def visible_streams(wait_time: float = _LIST_WAIT) -> list[tuple[str, str, str]]:
    """(name, type, source_id) of every LSL stream visible on this machine."""
    return [(i.name(), i.type(), i.source_id()) for i in pylsl.resolve_streams(wait_time)]


def resolve_stream_info(
    name: str | None = None,
    type: str | None = None,  # shadows the builtin: LSL's property name
    source_id: str | None = None,
    timeout: float = 5.0,
) -> pylsl.StreamInfo:
    """Find one LSL stream by name, type and/or source_id; DeviceError when none shows up."""
    criteria = {k: v for k, v in (("name", name), ("type", type), ("source_id", source_id)) if v}
    if not criteria:
        raise DeviceError(
            "No LSL stream selector given: pass at least one of name, type or source_id "
            "(source_id is the unambiguous choice when several devices share a type)."
        )
    if len(criteria) == 1:
        ((prop, value),) = criteria.items()
        # resolve_byprop returns as soon as a match answers, not after the full timeout.
        found = pylsl.resolve_byprop(prop, value, 1, timeout)
    else:
        pred = " and ".join(f"{k}={_xpath_literal(v)}" for k, v in criteria.items())
        found = pylsl.resolve_bypred(pred, 1, timeout)
    if found:
        if len(found) > 1:
            log.warning(
                "%d LSL streams match %s; using the first (source_id %r). Select by "
                "source_id to choose.",
                len(found),
                _selector_text(criteria),
                found[0].source_id(),
            )
        return found[0]
    visible = visible_streams()
    if visible:
        listing = "; ".join(f"name={n!r} type={t!r} source_id={s!r}" for n, t, s in visible)
        seen = f"Streams visible on this machine: {listing}."
    else:
        seen = "No LSL streams at all are visible on this machine."
    raise DeviceError(
        f"No LSL stream with {_selector_text(criteria)} appeared within {timeout:g} s. {seen} "
        "Check that the sending program (e.g. Curry's LSL output for EEG, the AcqKnowledge "
        "bridge for Physio) is running with its LSL output switched on, that the selector "
        "matches exactly (case-sensitive), and that the sender runs on this computer "
        "(melab only looks for streams on this machine)."
    )


def describe(info: pylsl.StreamInfo) -> StreamInfo:
    """Convert a (full) pylsl StreamInfo to core.devices.StreamInfo, reading labels/units."""
    count = info.channel_count()
    labels = [""] * count
    units = [""] * count
    channel = info.desc().child("channels").child("channel")
    index = 0
    # Walk desc/channels/channel as written by the XDF meta-data convention.
    while not channel.empty() and index < count:
        labels[index] = channel.child_value("label")
        units[index] = channel.child_value("unit")
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
    )


@dataclass(frozen=True)
class StreamStatus:
    """Live status of an inlet for the recorder's display."""

    samples_received: int
    effective_rate: float  # Hz, samples received over the last rate window
    last_sample_age: float | None  # seconds since the last sample arrived; None before any
    connected: bool


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
    """LSL inlet as a ContinuousStream: raw stamps, receipt times, clock offsets, outages."""

    def __init__(
        self,
        name: str | None = None,
        type: str | None = None,  # shadows the builtin: LSL's property name
        source_id: str | None = None,
        options: InletOptions | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self._selector = {"name": name, "type": type, "source_id": source_id}
        self._options = options or InletOptions()
        self._on_status = on_status
        self._lock = threading.Lock()
        self._inlet: pylsl.StreamInlet | None = None
        self._info: StreamInfo | None = None
        self._dtype: type[np.generic] | None = None
        self._buffer: np.ndarray | None = None
        self._capacity = 0
        self._threshold: float | None = None
        self._reset_connection()
        self._offsets: list[ClockOffset] = []
        self._gaps: list[StreamGap] = []
        self._stop = threading.Event()
        self._offset_thread: threading.Thread | None = None

    def _reset_connection(self) -> None:
        """Per-connection state: fresh at construction and at every open()."""
        self._connected = False
        self._lost = False
        self._opened_at = 0.0
        self._last_sample_host: float | None = None
        self._out_since: float | None = None
        self._received = 0
        self._recent: deque[tuple[float, int]] = deque()

    # -- ContinuousStream -------------------------------------------------------------
    @property
    def info(self) -> StreamInfo:
        """Stream description (available after open())."""
        if self._info is None:
            raise DeviceError(f"LSL stream {self._describe_selector()} is not open: call open().")
        return self._info

    def open(self, timeout: float) -> None:
        """Resolve the stream, open the inlet and start clock-offset collection."""
        if self._inlet is not None:
            return
        opts = self._options
        found = resolve_stream_info(timeout=timeout, **self._selector)
        # recover=True lets liblsl reconnect when an outlet with the same source_id returns.
        inlet = pylsl.StreamInlet(found, max_buflen=opts.max_buflen, recover=True)
        try:
            full = inlet.info(timeout)
            inlet.open_stream(timeout)
        except (LslTimeoutError, LostError) as exc:
            inlet.close_stream()
            raise DeviceError(
                f"LSL stream {found.name()!r} (source_id {found.source_id()!r}) was found but "
                f"did not answer within {timeout:g} s ({exc}); check that the sender is still "
                "running and not overloaded, then try again."
            ) from exc
        info = describe(full)
        fmt = full.channel_format()
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
            self._threshold = max(0.5, 50.0 / rate)
        self._reset_connection()  # a stream lost before may be opened again
        self._inlet, self._info = inlet, info
        self._opened_at = local_clock()
        self._connected = True
        self._stop.clear()
        self._offset_thread = threading.Thread(
            target=self._offset_loop, name=f"lsl-offsets-{info.name}", daemon=True
        )
        self._offset_thread.start()

    def read(self) -> Chunk | None:
        """Samples that arrived since the last call (raw device timestamps), or None."""
        inlet = self._inlet
        if inlet is None:
            raise DeviceError(
                f"LSL stream {self._describe_selector()} is not open: call open() before read()."
            )
        if self._lost:
            return None
        try:
            parts = self._pull_all(inlet)
        except LostError:
            self._mark_lost()
            return None
        now = local_clock()
        if not parts:
            self._check_outage(now)
            return None
        samples = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        device = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
        host = np.concatenate([np.full(len(p[1]), p[2]) for p in parts])
        self._note_samples(float(host[0]), float(host[-1]), len(device))
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
        """Stop clock-offset collection and close the inlet."""
        inlet, self._inlet = self._inlet, None
        if inlet is None:
            return
        self._stop.set()
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
        """False while the stream is out (no samples for longer than the threshold)."""
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
    def _describe_selector(self) -> str:
        """The selector as text for messages."""
        return _selector_text({k: v for k, v in self._selector.items() if v}) or "(no selector)"

    def _pull_all(self, inlet: pylsl.StreamInlet) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Drain everything buffered now: (samples copy, device times, receipt time) parts."""
        parts: list[tuple[np.ndarray, np.ndarray, float]] = []
        capacity = self._capacity
        while True:
            if self._buffer is not None:
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

    def _note_samples(self, first_host: float, last_host: float, n: int) -> None:
        """Update counters; close an outage when samples come back."""
        message = None
        with self._lock:
            if not self._connected and self._out_since is not None:
                gap = StreamGap(start=self._out_since, end=first_host)
                self._gaps.append(gap)
                message = (
                    f"LSL stream {self.info.name!r} ({self.info.type}) is back after "
                    f"{gap.end - gap.start:.1f} s without data; the gap is recorded."
                )
                self._out_since = None
            self._connected = True
            self._received += n
            self._last_sample_host = last_host
            self._recent.append((last_host, n))
            self._prune_recent(last_host)
        if message:
            self._notify(message)

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
        info = self.info
        self._notify(
            f"LSL stream {info.name!r} ({info.type}, source_id {info.source_id!r}) has sent no "
            f"data for {now - last:.1f} s. Check the sending program and its device; recording "
            "goes on and the stream resumes by itself when the sender is back."
        )

    def _mark_lost(self) -> None:
        """The inlet cannot recover (e.g. the sender has no source_id): say so once."""
        self._lost = True
        with self._lock:
            self._connected = False
            if self._out_since is None:
                self._out_since = self._last_sample_host or self._opened_at
        info = self.info
        self._notify(
            f"LSL stream {info.name!r} ({info.type}) was lost and cannot reconnect because "
            "its sender sets no source_id; restart the sender and re-open the stream."
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
        inlet = self._inlet
        opts = self._options
        while not self._stop.is_set() and inlet is not None:
            try:
                offset = inlet.time_correction(timeout=opts.clock_offset_timeout)
            except LslTimeoutError:
                offset = None
            except LostError:
                return
            # During an outage liblsl returns its last estimate instantly; a stale value
            # must not look like a fresh measurement.
            if offset is not None and self._connected:
                record = ClockOffset(host_time=local_clock(), offset=float(offset))
                with self._lock:
                    self._offsets.append(record)
            self._stop.wait(opts.clock_offset_period)


class LslOutlet:
    """An LSL outlet made from a core.devices.StreamInfo; pushes chunks with explicit stamps."""

    def __init__(self, info: StreamInfo, chunk_size: int = 0, max_buffered: int = 360) -> None:
        if info.channel_format not in ("float32", "string"):
            raise DeviceError(
                f"Stream {info.name!r}: channel_format must be 'float32' or 'string', "
                f"not {info.channel_format!r}."
            )
        if len(info.channel_units) not in (0, info.channel_count):
            raise DeviceError(
                f"Stream {info.name!r}: {info.channel_count} channel labels but "
                f"{len(info.channel_units)} units; give one unit per channel (or none)."
            )
        lsl_info = pylsl.StreamInfo(
            info.name,
            info.type,
            info.channel_count,
            info.nominal_rate,
            info.channel_format,
            info.source_id,
        )
        # Standard XDF meta-data layout: desc/channels/channel/{label,unit}.
        channels = lsl_info.desc().append_child("channels")
        units = info.channel_units or ("",) * info.channel_count
        for label, unit in zip(info.channel_labels, units, strict=True):
            channel = channels.append_child("channel")
            channel.append_child_value("label", label)
            channel.append_child_value("unit", unit)
        self.info = info
        self._outlet: pylsl.StreamOutlet | None = pylsl.StreamOutlet(
            lsl_info, chunk_size, max_buffered
        )

    def push(self, samples: Any, timestamps: Sequence[float] | np.ndarray) -> None:
        """Push samples (n, channels) with one timestamp (sender clock) per sample."""
        outlet = self._require_open()
        stamps = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        n_channels = self.info.channel_count
        if self.info.channel_format == "string":
            block = np.asarray(samples, dtype=object).reshape(len(stamps), n_channels)
            data: Any = [str(v) for v in block.reshape(-1)]
        else:
            data = np.ascontiguousarray(samples, dtype=np.float32)
            if data.ndim != 2 or data.shape != (len(stamps), n_channels):
                raise ValueError(
                    f"Stream {self.info.name!r}: samples of shape {data.shape} do not match "
                    f"{len(stamps)} timestamps x {n_channels} channels."
                )
        if len(stamps) == 0:
            return
        outlet.push_chunk(data, timestamp=stamps.tolist())

    def wait_for_consumers(self, timeout: float) -> bool:
        """Wait up to timeout seconds for an inlet to connect."""
        return self._require_open().wait_for_consumers(timeout)

    def close(self) -> None:
        """Destroy the outlet now (inlets see the stream vanish)."""
        # Dropping the last reference runs liblsl's destroy immediately (CPython refcount).
        self._outlet = None

    def _require_open(self) -> pylsl.StreamOutlet:
        """The live outlet, or a clear error after close()."""
        if self._outlet is None:
            raise DeviceError(f"LSL outlet {self.info.name!r} is closed; create a new LslOutlet.")
        return self._outlet
