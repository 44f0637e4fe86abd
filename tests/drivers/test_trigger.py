"""Trigger box driver and simulated box over a real pty pair (socat), plus protocol units."""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import serial

from core.clock import local_clock
from core.devices import DeviceError
from drivers.interfaces import TriggerBox
from drivers.sim.ptypair import PtyPair
from drivers.sim.trigger_box import Edge, SimTriggerBox
from drivers.trigger import (
    FrameReader,
    SerialTriggerBox,
    crc8,
    decode_command,
    encode_command,
    encode_reply,
)

SOCAT = shutil.which("socat")
needs_socat = pytest.mark.skipif(
    SOCAT is None, reason="socat not installed (apt-get install socat): no pty pair to test on")


def bitwise_crc8(data: bytes) -> int:
    """Independent CRC-8/SMBUS, bit by bit, to check the driver's table version."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


@pytest.fixture
def pty_pair(tmp_path: Path):
    """A socat pty pair: tmp/ttyA <-> tmp/ttyB; socat is stopped afterwards."""
    pair = PtyPair(tmp_path)
    yield pair
    pair.close()


@pytest.fixture
def box_and_driver(pty_pair: PtyPair):
    """Simulated box on ttyB, opened driver on ttyA, edges also collected by callback."""
    seen: list[Edge] = []
    box = SimTriggerBox(pty_pair.b, on_edge=seen.append, box_offset=100.0)
    box.start()
    drv = SerialTriggerBox(pty_pair.a, pulse_width_ms=10)
    drv.open()
    yield box, drv, seen, pty_pair
    drv.close()
    box.stop()


class RawBox:
    """A hand-written far end: records raw command bytes, answers ACK (or NAK for some codes)."""

    def __init__(self, port: str, nak_codes: frozenset[int] = frozenset()) -> None:
        self.ser = serial.Serial(port, timeout=0.02)
        self.received: list[bytes] = []
        self.nak_codes = nak_codes
        self.acked_times: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = b""
        while not self._stop.is_set():
            buf += self.ser.read(7 - len(buf))
            if len(buf) < 7:
                continue
            frame, buf = buf, b""
            self.received.append(frame)
            cmd, seq, p0 = frame[1], frame[2], frame[3]
            t_us = 1_000_000 * len(self.received) + 17
            kind, arg = 0x06, {0x01: 1, 0x02: p0, 0x03: frame[5]}.get(cmd, 0)
            if cmd == 0x02 and p0 in self.nak_codes:
                kind, arg = 0x15, 0x03
            elif cmd == 0x02:
                self.acked_times.append(t_us)
            body = bytes([kind, seq, arg]) + t_us.to_bytes(6, "little")
            self.ser.write(b"\x5a" + body + bytes([bitwise_crc8(body)]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.ser.close()


# -- protocol units (no I/O) ----------------------------------------------------------------


def test_crc8_matches_check_value_and_bitwise_reference():
    assert crc8(b"123456789") == 0xF4
    for data in (b"", b"\x00", b"\xff" * 9, bytes(range(256))):
        assert crc8(data) == bitwise_crc8(data)


def test_reply_encoding_matches_documented_bytes():
    assert encode_reply(0x06, 3, 1, 1_234_567).hex(" ") == "5a 06 03 01 87 d6 12 00 00 00 a5"
    assert encode_reply(0x53, 0, 255, 2_000_000).hex(" ") == "5a 53 00 ff 80 84 1e 00 00 00 07"
    assert encode_command(0x03, 7, b"\xe8\x03\xff").hex(" ") == "a5 03 07 e8 03 ff 97"


def test_frame_reader_resyncs_after_garbage_and_bad_checksum():
    good1, good2 = encode_command(0x02, 1, b"\x05"), encode_command(0x02, 2, b"\x06")
    bad = bytearray(encode_command(0x02, 9, b"\x07"))
    bad[3] ^= 0x10  # corrupt the payload
    reader = FrameReader(0xA5, 7)
    stream = b"\x00\xa5\x13" + bytes(bad) + good1 + good2[:4]
    frames = reader.feed(stream)
    # The stray 0xA5 and the corrupted frame fail the CRC; both good frames survive.
    assert [f for f, ok in frames if ok] == [good1]
    assert not all(ok for _, ok in frames)
    assert reader.feed(good2[4:]) == [(good2, True)]


def test_frame_reader_drops_stale_partial_frame():
    now = [0.0]
    reader = FrameReader(0xA5, 7, timeout=0.05, clock=lambda: now[0])
    frame = encode_command(0x01, 4)
    assert reader.feed(b"\xa5\x02") == []
    now[0] = 0.2  # the rest of that frame never came
    assert reader.feed(frame) == [(frame, True)]


def test_invalid_codes_and_settings_raise_value_error():
    drv = SerialTriggerBox("/dev/null-not-opened")
    for code in (0, 255, 256, -1, True, 1.5, "3"):
        with pytest.raises(ValueError, match=r"1\.\.254"):
            drv.send(code)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="255 is reserved"):
        drv.send(255)
    with pytest.raises(ValueError, match="sync period"):
        drv.start_sync(0.005)
    with pytest.raises(ValueError, match="pulse \\+ gap"):
        SerialTriggerBox("x", pulse_width_ms=30).start_sync(0.05)
    with pytest.raises(ValueError, match="pulse width"):
        SerialTriggerBox("x", pulse_width_ms=0)


def test_send_before_open_says_to_open():
    with pytest.raises(DeviceError, match=r"not open: call open\(\)"):
        SerialTriggerBox("/dev/ttyUSB9").send(3)


def test_loopback_port_without_a_box_gives_no_answer_error():
    # loop:// echoes our own 0xA5 frames back: they must never be taken for replies.
    written: list[bytes] = []

    def loop_port(port: str, **kwargs: Any) -> serial.SerialBase:
        ser = serial.serial_for_url(port, **kwargs)
        write = ser.write
        ser.write = lambda data: written.append(bytes(data)) or write(data)  # type: ignore
        return ser

    drv = SerialTriggerBox("loop://", ack_timeout=0.15, serial_factory=loop_port)
    with pytest.raises(DeviceError, match="no answer from a trigger box on loop:// to PING"):
        drv.open()
    # Only the PING went out: giving up sends no SYNC_STOP (and waits for no answer to it).
    assert [decode_command(frame).command for frame in written] == [0x01]
    assert drv._serial is None  # port released after the failed handshake


# -- open errors ----------------------------------------------------------------------------


def test_missing_port_names_it_and_lists_available_ports(tmp_path):
    port = str(tmp_path / "ttyUSB7")
    with pytest.raises(DeviceError) as err:
        SerialTriggerBox(port).open()
    msg = str(err.value)
    assert port in msg and "does not exist" in msg and "available serial ports:" in msg


@pytest.mark.parametrize("exc", [
    serial.SerialException(errno.EACCES, "could not open port /dev/ttyUSB0: [Errno 13] "
                           "Permission denied: '/dev/ttyUSB0'"),
    PermissionError(errno.EACCES, "Permission denied"),
])
def test_permission_denied_tells_the_dialout_fix(exc):
    def factory(port, **kwargs):
        raise exc

    with pytest.raises(DeviceError, match=r"permission denied .*/dev/ttyUSB0.*dialout"):
        SerialTriggerBox("/dev/ttyUSB0", serial_factory=factory).open()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_denied_on_a_real_unreadable_file(tmp_path):
    port = tmp_path / "ttyS9"
    port.write_bytes(b"")
    port.chmod(0)
    with pytest.raises(DeviceError, match="dialout"):
        SerialTriggerBox(str(port)).open()


# -- over a real pty pair -------------------------------------------------------------------


@needs_socat
def test_frames_on_the_wire_byte_for_byte(pty_pair):
    far = RawBox(pty_pair.b)
    ticks = itertools.count(1000)  # injected clock: every call is a later "time"
    drv = SerialTriggerBox(pty_pair.a, clock=lambda: float(next(ticks)))
    try:
        drv.open()
        returned = [drv.send(c) for c in (1, 7, 128, 254)]
    finally:
        drv._shutdown(stop_sync=False)  # keep the wire log to exactly what we sent
        far.close()
    assert [f.hex(" ") for f in far.received] == [
        "a5 01 00 00 00 00 62",  # PING
        "a5 04 01 00 00 00 99",  # SYNC_STOP
        "a5 05 02 0a 00 00 46",  # PULSE_WIDTH 10 ms
        "a5 02 03 01 00 00 95",
        "a5 02 04 07 00 00 8a",
        "a5 02 05 80 00 00 81",
        "a5 02 06 fe 00 00 f0",
    ]
    assert all(t >= 1000 for t in returned) and returned == sorted(set(returned))
    assert drv.sent() == list(zip(returned, (1, 7, 128, 254), strict=True))
    assert [e.box_time for e in drv.box_events()] == [t / 1e6 for t in far.acked_times]
    assert [e.code for e in drv.box_events()] == [1, 7, 128, 254]


@needs_socat
def test_nak_from_the_box_raises_and_is_not_logged(pty_pair):
    far = RawBox(pty_pair.b, nak_codes=frozenset({9}))
    drv = SerialTriggerBox(pty_pair.a)
    try:
        drv.open()
        with pytest.raises(DeviceError, match="rejected event code 9: argument out of range"):
            drv.send(9)
        t = drv.send(10)  # the link is still fine after a NAK
    finally:
        drv._shutdown(stop_sync=False)
        far.close()
    assert drv.sent() == [(t, 10)]


@needs_socat
def test_events_reach_the_box_with_box_times(box_and_driver):
    box, drv, seen, _ = box_and_driver
    assert isinstance(drv, TriggerBox)
    codes = [1, 2, 3, 100, 254]
    returned, acked = [], []
    for code in codes:
        returned.append(drv.send(code))
        acked.append(local_clock())
    assert returned == sorted(returned) and len(set(returned)) == len(returned)
    assert drv.sent() == list(zip(returned, codes, strict=True))
    edges = box.edges()
    assert [e.code for e in edges] == codes and all(e.kind == "event" for e in edges)
    assert seen == edges  # the callback saw every edge
    assert [e.box_time for e in drv.box_events()] == [e.box_time for e in edges]
    assert all(e.box_time > 100.0 for e in edges)  # the box's own clock (offset 100 s)
    # Back-to-back sends still keep pulse + gap (2 x 10 ms) between rising edges.
    gaps = [b.box_time - a.box_time for a, b in itertools.pairwise(edges)]
    assert min(gaps) >= 0.020 - 1e-6
    # Each edge rose after its host send time and before send() returned (ACK'd first);
    # edge times are whole box microseconds.
    for host_t, edge, back in zip(returned, edges, acked, strict=True):
        assert host_t - 1e-6 <= edge.host_time <= back + 1e-6
        assert edge.width == pytest.approx(0.010)


@needs_socat
def test_sync_train_period_count_and_log(box_and_driver):
    box, drv, _, _ = box_and_driver
    drv.start_sync(0.05)
    deadline = time.monotonic() + 30  # only against a hang
    while sum(e.kind == "sync" for e in drv.box_events()) < 6:
        assert time.monotonic() < deadline, drv.box_events()
        time.sleep(0.01)
    drv.stop_sync()
    stopped = len(box.edges())
    time.sleep(0.15)  # three periods: nothing may rise after the stop was acknowledged
    assert len(box.edges()) == stopped
    syncs = [e for e in box.edges() if e.kind == "sync"]
    assert len(syncs) == stopped >= 6 and all(e.code == 255 for e in syncs)
    # The period on the box's own clock: 50 ms to the microsecond. (A simulated box held up
    # by a busy host for over a period skips a pulse, as its index says, never stacks one:
    # a skip is a step of whole periods, and the driver counts it as missed.)
    periods = np.array([b.box_time - a.box_time for a, b in itertools.pairwise(syncs)]) / 0.05
    np.testing.assert_allclose(periods, np.round(periods), atol=2e-6 / 0.05)
    assert np.all(periods >= 1 - 1e-4)
    assert drv.missed_sync == int(np.round(periods).sum()) - len(periods)
    host_syncs = [e for e in drv.box_events() if e.kind == "sync"]
    assert [e.box_time for e in host_syncs] == [e.box_time for e in syncs]
    # The host logs each pulse when its report arrives: in order, after the edge rose.
    receipt = [e.host_time for e in host_syncs]
    assert receipt == sorted(receipt)
    assert all(r >= e.host_time - 1e-6 for r, e in zip(receipt, syncs, strict=True))
    assert [c for _, c in drv.sent()] == [255] * len(syncs)


@needs_socat
def test_events_during_sync_never_overlap_a_sync_pulse(box_and_driver):
    box, drv, _, _ = box_and_driver
    drv.start_sync(0.03)
    sent_codes = []
    for i in range(12):
        drv.send(10 + i)
        sent_codes.append(10 + i)
        time.sleep(0.007)
    drv.stop_sync()
    edges = box.edges()
    assert [e.code for e in edges if e.kind == "event"] == sent_codes
    assert sum(e.kind == "sync" for e in edges) >= 3
    starts = [e.box_time for e in edges]
    assert starts == sorted(starts)
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.020 - 1e-6
    host_times = [t for t, _ in drv.sent()]
    assert host_times == sorted(host_times)


@needs_socat
def test_unplugged_box_raises_disconnected_on_next_send(box_and_driver):
    _, drv, _, pair = box_and_driver
    drv.send(5)
    pair.proc.kill()  # the USB cable is pulled
    pair.proc.wait()
    time.sleep(0.1)
    with pytest.raises(DeviceError, match=r"disconnected.*USB cable"):
        drv.send(6)
    with pytest.raises(DeviceError, match="disconnected"):
        drv.start_sync(1.0)
    drv.close()  # must not raise or hang on a dead port
    assert [c for _, c in drv.sent()] == [5]


@needs_socat
def test_sim_box_answers_raw_frames(pty_pair):
    box = SimTriggerBox(pty_pair.b)
    box.start()
    host = serial.Serial(pty_pair.a, timeout=0.5)
    try:
        def exchange(frame: bytes) -> bytes:
            host.write(frame)
            return host.read(11)

        bad = bytearray(encode_command(0x02, 1, b"\x05"))
        bad[-1] ^= 0xFF
        assert exchange(bytes(bad))[1:4] == bytes([0x15, 1, 0x01])  # NAK bad checksum
        assert exchange(encode_command(0x02, 2, b"\xff"))[1:4] == bytes([0x15, 2, 0x03])
        assert exchange(encode_command(0x02, 3, b"\x00"))[1:4] == bytes([0x15, 3, 0x03])
        assert exchange(encode_command(0x7F, 4))[1:4] == bytes([0x15, 4, 0x02])
        assert exchange(encode_command(0x05, 5, b"\x00\x00"))[1:4] == bytes([0x15, 5, 0x03])
        # A lone start byte is dropped after 50 ms, so the next PING is not garbled.
        host.write(b"\xa5")
        time.sleep(0.12)
        reply = exchange(encode_command(0x01, 6))
        assert reply[1:4] == bytes([0x06, 6, 1]) and crc8(reply[1:10]) == reply[10]
        assert host.read(11) == b""  # and nothing else came back
        ack = exchange(encode_command(0x02, 7, b"\x2a"))
        edge = box.edges()[-1]
        assert ack[1:4] == bytes([0x06, 7, 42])
        assert int.from_bytes(ack[4:10], "little") == round(edge.box_time * 1e6)
        assert box.naks == 5
    finally:
        host.close()
        box.stop()
