"""Serial trigger box driver (pyserial) and the byte protocol of docs/trigger-protocol.md."""

from __future__ import annotations

import bisect
import contextlib
import errno
import logging
import operator
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import serial
import serial.tools.list_ports

from core.clock import local_clock
from core.codes import (
    DEFAULT_PULSE_WIDTH_MS,
    DEFAULT_SYNC_PERIOD_S,
    EVENT_CODE_MAX,
    EVENT_CODE_MIN,
    PULSE_WIDTH_RANGE_MS,
    SYNC_CODE,
    SYNC_PERIOD_RANGE_MS,
)
from core.devices import BoxEvent, DeviceError

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
HOST_START = 0xA5  # host -> box; differs from BOX_START so an echo is never taken for a reply
BOX_START = 0x5A  # box -> host
HOST_FRAME_LEN = 7
BOX_FRAME_LEN = 11
FRAME_TIMEOUT_S = 0.05  # the box drops a partial frame older than this



class Command(IntEnum):
    """Host -> box command bytes."""

    PING = 0x01
    EVENT = 0x02
    SYNC_START = 0x03
    SYNC_STOP = 0x04
    PULSE_WIDTH = 0x05


class Reply(IntEnum):
    """Box -> host frame types."""

    ACK = 0x06
    NAK = 0x15
    SYNC = 0x53


class NakError(IntEnum):
    """Error codes a NAK carries."""

    BAD_CHECKSUM = 0x01
    UNKNOWN_COMMAND = 0x02
    BAD_ARGUMENT = 0x03
    QUEUE_FULL = 0x04


NAK_MEANING = {
    NakError.BAD_CHECKSUM: "the frame arrived corrupted (bad checksum)",
    NakError.UNKNOWN_COMMAND: "unknown command (box firmware too old?)",
    NakError.BAD_ARGUMENT: "argument out of range",
    NakError.QUEUE_FULL: "the box's pulse queue is full",
}


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8 = _crc8_table()


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS (poly 0x07, init 0, no reflection); crc8(b"123456789") == 0xF4."""
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def encode_command(command: int, seq: int, payload: bytes = b"") -> bytes:
    """Host -> box frame: start, command, seq, 3 payload bytes (zero padded), CRC."""
    if len(payload) > 3:
        raise ValueError(f"command payload is at most 3 bytes, got {len(payload)}")
    body = bytes([command, seq & 0xFF]) + payload.ljust(3, b"\0")
    return bytes([HOST_START]) + body + bytes([crc8(body)])


def encode_reply(kind: int, seq: int, arg: int, box_time_us: int) -> bytes:
    """Box -> host frame: start, type, seq, arg, 48-bit µs counter (LE), CRC."""
    body = bytes([kind, seq & 0xFF, arg & 0xFF]) + (box_time_us % (1 << 48)).to_bytes(6, "little")
    return bytes([BOX_START]) + body + bytes([crc8(body)])


@dataclass(frozen=True)
class CommandFrame:
    """A decoded host -> box frame."""

    command: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class ReplyFrame:
    """A decoded box -> host frame."""

    kind: int
    seq: int
    arg: int
    box_time_us: int


def decode_command(frame: bytes) -> CommandFrame:
    """Fields of a host -> box frame whose checksum was already verified."""
    return CommandFrame(frame[1], frame[2], bytes(frame[3:6]))


def decode_reply(frame: bytes) -> ReplyFrame:
    """Fields of a box -> host frame whose checksum was already verified."""
    return ReplyFrame(frame[1], frame[2], frame[3], int.from_bytes(frame[4:10], "little"))


@dataclass
class FrameReader:
    """Splits a byte stream into fixed-length frames, resynchronising after bad checksums."""

    start: int
    length: int
    timeout: float | None = None  # drop a partial frame older than this (seconds)
    clock: Callable[[], float] = time.monotonic
    _buf: bytearray = field(default_factory=bytearray)
    _partial_since: float = 0.0

    def feed(self, data: bytes) -> list[tuple[bytes, bool]]:
        """Add bytes; return the complete frames found as (frame, checksum_ok)."""
        now = self.clock()
        if self._buf and self.timeout is not None and now - self._partial_since > self.timeout:
            self._buf.clear()
        self._buf.extend(data)
        out: list[tuple[bytes, bool]] = []
        while True:
            i = self._buf.find(self.start)
            if i < 0:
                self._buf.clear()
                break
            del self._buf[:i]
            if len(self._buf) < self.length:
                break
            frame = bytes(self._buf[: self.length])
            ok = crc8(frame[1:-1]) == frame[-1]
            out.append((frame, ok))
            # A bad frame may have started on a stray start byte: retry one byte later.
            del self._buf[: self.length if ok else 1]
        if self._buf:
            self._partial_since = now
        return out


@dataclass
class _Pending:
    command: Command
    seq: int
    code: int
    host_time: float
    done: threading.Event = field(default_factory=threading.Event)
    reply: ReplyFrame | None = None


SerialFactory = Callable[..., Any]


def available_ports() -> list[str]:
    """Serial ports the OS lists now, as 'device (description)'."""
    return [f"{p.device} ({p.description})" for p in serial.tools.list_ports.comports()]


class SerialTriggerBox:
    """The melab trigger box on a serial port (implements drivers.interfaces.TriggerBox)."""

    def __init__(
        self,
        port: str,
        baud: int = 115200,
        pulse_width_ms: int = DEFAULT_PULSE_WIDTH_MS,
        clock: Callable[[], float] = local_clock,
        serial_factory: SerialFactory = serial.serial_for_url,
        ack_timeout: float = 0.5,
    ) -> None:
        lo, hi = PULSE_WIDTH_RANGE_MS
        if not lo <= pulse_width_ms <= hi or int(pulse_width_ms) != pulse_width_ms:
            raise ValueError(f"pulse width must be a whole number of ms in {lo}..{hi}, "
                             f"got {pulse_width_ms!r}")
        self.port = port
        self.baud = baud
        self.pulse_width_ms = int(pulse_width_ms)
        self._clock = clock
        self._factory = serial_factory
        # The box holds an ACK until the edge is up, which may wait behind a sync pulse.
        self._ack_timeout = ack_timeout + 4 * self.pulse_width_ms / 1000
        self._serial: Any = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._cmd_lock = threading.Lock()  # one command in flight: ACKs stay in order
        self._lock = threading.Lock()  # guards the logs, outstanding commands, failure
        self._outstanding: dict[int, _Pending] = {}
        self._seq = 0
        self._failure: str | None = None
        self._sent: list[tuple[float, int]] = []
        self._box_events: list[BoxEvent] = []
        self._last_sync_index: int | None = None
        self.missed_sync = 0  # sync notifications lost on the wire (index gaps)
        self.sync_period: float | None = None
        self.box_version: int | None = None

    # -- public API ---------------------------------------------------------------------

    def open(self) -> None:
        """Open the port, check the box answers, stop any old sync train, set pulse width."""
        if self._serial is not None:
            if self._failure is None:
                return
            self.close()  # reopen after a disconnect
        try:
            self._serial = self._factory(self.port, baudrate=self.baud, timeout=0.05,
                                         write_timeout=1.0, exclusive=True)
        except (serial.SerialException, OSError) as exc:
            raise self._open_error(exc) from exc
        self._failure = None
        self._stop.clear()
        self._reader = threading.Thread(target=self._read_loop, name="trigger-box-reader",
                                        daemon=True)
        self._reader.start()
        try:
            reply, _ = self._command(Command.PING, b"", what="PING")
            self.box_version = reply.arg
            if reply.arg != PROTOCOL_VERSION:
                raise DeviceError(
                    f"trigger box on {self.port} speaks protocol version {reply.arg}, melab "
                    f"needs {PROTOCOL_VERSION}: update the box firmware or melab")
            # A train left running by a crashed session would corrupt this one's sync log.
            self._command(Command.SYNC_STOP, b"", what="SYNC_STOP")
            self._command(Command.PULSE_WIDTH, struct.pack("<H", self.pulse_width_ms),
                          what=f"PULSE_WIDTH {self.pulse_width_ms} ms")
        except DeviceError:
            self._shutdown(stop_sync=False)  # the box did not answer: don't wait on it again
            raise

    def send(self, code: int) -> float:
        """Send an event code (1..254); returns the host time just before it was written."""
        if isinstance(code, bool):
            raise ValueError(f"event code must be an integer {EVENT_CODE_MIN}..{EVENT_CODE_MAX}"
                             f", got {code!r}")
        try:
            value = operator.index(code)
        except TypeError:
            raise ValueError(f"event code must be an integer {EVENT_CODE_MIN}..{EVENT_CODE_MAX}"
                             f", got {code!r}") from None
        if not EVENT_CODE_MIN <= value <= EVENT_CODE_MAX:
            raise ValueError(f"event code must be in {EVENT_CODE_MIN}..{EVENT_CODE_MAX} "
                             f"({SYNC_CODE} is reserved for sync pulses), got {value}")
        _, host_time = self._command(Command.EVENT, bytes([value]), code=value,
                                     what=f"event code {value}")
        return host_time

    def start_sync(self, period: float = DEFAULT_SYNC_PERIOD_S) -> None:
        """Make the box raise code 255 every `period` seconds (whole ms) until stop_sync()."""
        period_ms = round(period * 1000)
        lo, hi = SYNC_PERIOD_RANGE_MS
        if not lo <= period_ms <= hi:
            raise ValueError(f"sync period must be {lo / 1000}..{hi / 1000} s, got {period} s")
        if period_ms < 2 * self.pulse_width_ms:
            raise ValueError(f"sync period {period_ms} ms is shorter than pulse + gap "
                             f"(2 x {self.pulse_width_ms} ms): lengthen it")
        with self._lock:
            self._last_sync_index = None
        self._command(Command.SYNC_START, struct.pack("<HB", period_ms, SYNC_CODE),
                      what=f"SYNC_START {period_ms} ms")
        self.sync_period = period_ms / 1000

    def stop_sync(self) -> None:
        """Stop the box's sync train (a pulse already on the lines finishes its width)."""
        self._command(Command.SYNC_STOP, b"", what="SYNC_STOP")
        self.sync_period = None

    def sent(self) -> list[tuple[float, int]]:
        """(host time, code) of every acknowledged event and every sync pulse, in time order."""
        with self._lock:
            return list(self._sent)

    def box_events(self, start: int = 0) -> list[BoxEvent]:
        """The edges the box reported (from the start-th on), box-clock times, as they came."""
        with self._lock:
            return self._box_events[start:]

    def close(self) -> None:
        """Stop the sync train if the box is reachable, stop the reader, close the port."""
        self._shutdown(stop_sync=True)

    # -- internals ----------------------------------------------------------------------

    def _shutdown(self, stop_sync: bool) -> None:
        if self._serial is None:
            return
        reader_alive = self._reader is not None and self._reader.is_alive()
        if stop_sync and self._failure is None and reader_alive:
            try:
                self.stop_sync()
            except DeviceError as exc:
                log.warning("could not stop the sync train while closing: %s", exc)
        self._stop.set()
        cancel = getattr(self._serial, "cancel_read", None)
        if cancel is not None:
            # The port may be gone already; the reader then exits on its own.
            with contextlib.suppress(OSError, serial.SerialException):
                cancel()
        if self._reader is not None:
            self._reader.join(timeout=2.0)
        # Closing a vanished device can fail; there is nothing left to release then.
        with contextlib.suppress(OSError, serial.SerialException):
            self._serial.close()
        self._serial = None
        self._reader = None

    def _command(self, command: Command, payload: bytes, *, code: int = 0,
                 what: str) -> tuple[ReplyFrame, float]:
        with self._cmd_lock:
            self._check_usable()
            seq = self._seq
            self._seq = (self._seq + 1) & 0xFF
            frame = encode_command(command, seq, payload)
            host_time = self._clock()
            pending = _Pending(command, seq, code, host_time)
            with self._lock:
                self._outstanding[seq] = pending
            try:
                self._serial.write(frame)
            except (serial.SerialException, OSError) as exc:
                with self._lock:
                    self._outstanding.pop(seq, None)
                raise self._disconnected(exc) from exc
            if not pending.done.wait(self._ack_timeout):
                # Left outstanding on purpose: a late ACK still logs an edge that happened.
                self._check_usable()
                raise DeviceError(
                    f"no answer from a trigger box on {self.port} to {what} within "
                    f"{self._ack_timeout:.2f} s: check that this is the trigger box's port, "
                    f"that the box is powered and runs protocol v{PROTOCOL_VERSION} firmware")
            self._check_usable()
            reply = pending.reply
            assert reply is not None  # done is only set with a reply or a failure
            if reply.kind == Reply.NAK:
                try:
                    meaning = NAK_MEANING[NakError(reply.arg)]
                except ValueError:
                    meaning = f"error code {reply.arg}"
                raise DeviceError(f"trigger box on {self.port} rejected {what}: {meaning}")
            return reply, host_time

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise DeviceError(self._failure)
        if self._serial is None:
            raise DeviceError(f"trigger box on {self.port} is not open: call open() first")

    def _read_loop(self) -> None:
        port = self._serial
        parser = FrameReader(BOX_START, BOX_FRAME_LEN)
        while not self._stop.is_set():
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                if not self._stop.is_set():
                    self._fail(self._disconnected(exc))
                return
            if not data:
                continue
            now = self._clock()
            for frame, ok in parser.feed(data):
                if ok:
                    self._handle(decode_reply(frame), now)
                else:
                    log.warning("trigger box sent a corrupted frame %s; ignored", frame.hex(" "))

    def _handle(self, reply: ReplyFrame, now: float) -> None:
        box_time = reply.box_time_us / 1e6
        with self._lock:
            if reply.kind == Reply.SYNC:
                self._note_sync_index(reply.seq)
                bisect.insort(self._sent, (now, reply.arg))
                self._box_events.append(BoxEvent(now, box_time, reply.arg, "sync"))
                return
            pending = self._outstanding.pop(reply.seq, None)
            if pending is None or reply.kind not in (Reply.ACK, Reply.NAK):
                log.warning("unexpected frame from trigger box: %s", reply)
                return
            if reply.kind == Reply.ACK and pending.command == Command.EVENT:
                bisect.insort(self._sent, (pending.host_time, pending.code))
                self._box_events.append(BoxEvent(pending.host_time, box_time, pending.code,
                                                 "event", now - pending.host_time))
            pending.reply = reply
            pending.done.set()

    def _note_sync_index(self, index: int) -> None:
        last = self._last_sync_index
        if last is not None and index != (last + 1) & 0xFF:
            lost = (index - last - 1) & 0xFF
            self.missed_sync += lost
            log.warning("%d sync notification(s) from the trigger box were lost", lost)
        self._last_sync_index = index

    def _fail(self, error: DeviceError) -> None:
        with self._lock:
            self._failure = str(error)
            waiting = list(self._outstanding.values())
            self._outstanding.clear()
        for pending in waiting:
            pending.done.set()  # wake the sender: it re-checks _failure
        log.error("%s", error)

    def _disconnected(self, exc: BaseException) -> DeviceError:
        return DeviceError(
            f"trigger box on {self.port} was disconnected ({exc}): check its USB cable and "
            f"power, then reopen it; events sent meanwhile were not marked")

    def _open_error(self, exc: BaseException) -> DeviceError:
        code = getattr(exc, "errno", None)
        if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
            return DeviceError(
                f"permission denied opening trigger box port {self.port}: add your user to "
                f"the 'dialout' group (sudo usermod -aG dialout $USER), then log out and in")
        if isinstance(exc, FileNotFoundError) or code in (errno.ENOENT, errno.ENODEV,
                                                          errno.ENXIO):
            ports = available_ports()
            listing = ", ".join(ports) if ports else "none found (is the box plugged in?)"
            return DeviceError(
                f"trigger box port {self.port} does not exist; available serial ports: "
                f"{listing}. Plug the box in or choose one of these ports")
        if code in (errno.EBUSY, errno.EAGAIN) or "lock" in str(exc).lower():
            return DeviceError(
                f"trigger box port {self.port} is in use by another program (another melab?): "
                f"close it and retry")
        return DeviceError(f"could not open trigger box port {self.port}: {exc}")
