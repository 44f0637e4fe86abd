"""LSL streams over real loopback outlets and inlets (drivers.lsl)."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pylsl
import pytest

from core.clock import LSL_LOOPBACK_CONFIG, is_configured, local_clock
from core.devices import DeviceError, StreamInfo
from drivers import lsl
from drivers.interfaces import ContinuousStream

REPO = Path(__file__).resolve().parents[2]


def uid() -> str:
    """A short unique suffix so tests never see each other's streams."""
    return uuid.uuid4().hex[:12]


def stream_info(
    tag: str,
    *,
    labels: tuple[str, ...] = ("Fp1", "Fp2", "Cz"),
    units: tuple[str, ...] = ("microvolts", "microvolts", "microvolts"),
    rate: float = 200.0,
    fmt: str = "float32",
) -> StreamInfo:
    """A base StreamInfo with unique name, type and source_id built from tag."""
    return StreamInfo(
        name=f"melab-test-{tag}",
        type=f"T{tag}",
        source_id=f"src-{tag}",
        channel_labels=labels,
        channel_units=units,
        nominal_rate=rate,
        channel_format=fmt,
    )


def read_until(inlet: lsl.LslInlet, n: int, timeout: float = 5.0) -> list:
    """Read chunks until at least n samples arrived (fails the test on timeout)."""
    chunks, got, deadline = [], 0, time.monotonic() + timeout
    while got < n:
        assert time.monotonic() < deadline, f"only {got} of {n} samples arrived"
        chunk = inlet.read()
        if chunk is not None:
            chunks.append(chunk)
            got += len(chunk)
        time.sleep(0.005)
    return chunks


def read_for(inlet: lsl.LslInlet, seconds: float) -> list:
    """Keep reading (like the recorder does) for a while; returns the chunks."""
    chunks, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        chunk = inlet.read()
        if chunk is not None:
            chunks.append(chunk)
        time.sleep(0.01)
    return chunks


class Pusher:
    """Pushes 4 samples every 20 ms (200 Hz) stamped with the local clock, in a thread."""

    def __init__(self, outlet: lsl.LslOutlet, first_value: float) -> None:
        self.outlet, self.value = outlet, first_value
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        channels = self.outlet.info.channel_count
        while not self._stop.is_set():
            values = self.value + np.arange(4, dtype=np.float32)
            self.value += 4
            now = local_clock()
            stamps = now - (3 - np.arange(4)) / 200.0
            self.outlet.push(np.repeat(values[:, None], channels, axis=1), stamps)
            self._stop.wait(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


@pytest.fixture
def outlets():
    """Outlets created by a test, destroyed at its end."""
    made: list[lsl.LslOutlet] = []
    yield made
    for outlet in made:
        outlet.close()


def test_loopback_configuration_is_applied_in_this_process():
    parsed = configparser.ConfigParser()
    parsed.read_string(LSL_LOOPBACK_CONFIG)
    assert is_configured()
    assert parsed["multicast"]["ResolveScope"] == "machine"
    assert parsed["ports"]["IPv6"] == "disable"


def test_importing_the_lsl_module_configures_a_fresh_process():
    script = (
        "import json, psutil\n"
        "import drivers.lsl as lsl\n"
        "from core.clock import is_configured\n"
        "configured = is_configured()\n"
        "from core.devices import StreamInfo\n"
        f"info = StreamInfo('cfg-{uid()}', 'Probe', 'cfg-{uid()}', ('a',), ('',), 10.0)\n"
        "out = lsl.LslOutlet(info)\n"
        "fams = sorted({c.family.name for c in psutil.Process().net_connections('inet')})\n"
        "print(json.dumps({'configured': configured, 'families': fams}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LSLAPICFG"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["configured"] is True
    # liblsl reports where its configuration came from: our content, not a file or defaults.
    assert "Configuration loaded from content" in done.stderr
    # IPv6 = disable: the outlet opened IPv4 sockets only.
    assert result["families"] == ["AF_INET"]


def test_resolve_by_name_type_source_id_and_combined(outlets):
    info = stream_info(uid())
    outlets.append(lsl.LslOutlet(info))
    for selector in (
        {"name": info.name},
        {"type": info.type},
        {"source_id": info.source_id},
        {"name": info.name, "type": info.type, "source_id": info.source_id},
    ):
        found = lsl.resolve_stream_info(timeout=3.0, **selector)
        assert (found.name(), found.type(), found.source_id()) == (
            info.name,
            info.type,
            info.source_id,
        )


def test_not_found_error_lists_visible_streams(outlets):
    info = stream_info(uid())
    outlets.append(lsl.LslOutlet(info))
    missing = f"missing-{uid()}"
    with pytest.raises(DeviceError) as caught:
        lsl.resolve_stream_info(name=missing, timeout=0.3)
    message = str(caught.value)
    assert missing in message
    assert f"name={info.name!r} type={info.type!r} source_id={info.source_id!r}" in message
    assert "running" in message
    with pytest.raises(DeviceError, match="selector"):
        lsl.resolve_stream_info(timeout=0.1)


def test_open_reads_labels_units_rate_from_desc(outlets):
    info = stream_info(uid(), labels=("ECG", "EDA", "RSP"), units=("mV", "microsiemens", "V"))
    outlets.append(lsl.LslOutlet(info))
    inlet = lsl.LslInlet(source_id=info.source_id)
    with pytest.raises(DeviceError, match="open"):
        inlet.read()
    inlet.open(3.0)
    try:
        assert inlet.info == info
        assert isinstance(inlet, ContinuousStream)
    finally:
        inlet.close()


def test_describe_falls_back_without_desc():
    tag = uid()
    raw = pylsl.StreamInfo(f"bare-{tag}", "EEG", 2, 1000.0, "double64", f"bare-{tag}")
    described = lsl.describe(raw)
    assert described.channel_labels == ("ch1", "ch2")
    assert described.channel_units == ("", "")
    assert described.nominal_rate == 1000.0
    assert described.channel_format == "float32"
    markers = pylsl.StreamInfo(f"mk-{tag}", "Markers", 1, 0.0, "string", f"mk-{tag}")
    assert lsl.describe(markers).channel_format == "string"


def test_round_trip_keeps_values_and_raw_device_timestamps(outlets):
    info = stream_info(uid())
    outlet = lsl.LslOutlet(info)
    outlets.append(outlet)
    inlet = lsl.LslInlet(name=info.name)
    inlet.open(3.0)
    try:
        assert outlet.wait_for_consumers(3.0)
        rng = np.random.default_rng(7)
        sent = rng.normal(0, 50, size=(150, 3)).astype(np.float32)
        # A device clock far from the host's: must come back untouched (no clock sync).
        stamps = 98765.4321 + np.arange(150) / 200.0
        before = local_clock()
        for block in range(3):
            part = slice(50 * block, 50 * (block + 1))
            outlet.push(sent[part], stamps[part])
        chunks = read_until(inlet, 150)
        after = local_clock()
        samples = np.concatenate([c.samples for c in chunks])
        device = np.concatenate([c.device_time for c in chunks])
        host = np.concatenate([c.host_time for c in chunks])
        assert samples.dtype == np.float32
        np.testing.assert_array_equal(samples, sent)
        np.testing.assert_array_equal(device, stamps)
        assert before <= host[0] and host[-1] <= after
        assert np.all(np.diff(host) >= 0)
        status = inlet.status()
        assert status.samples_received == 150 and status.connected
        assert 0 <= status.last_sample_age < 1.0
    finally:
        inlet.close()


def test_clock_offsets_recorded_periodically_and_rate_measured(outlets):
    info = stream_info(uid())
    outlet = lsl.LslOutlet(info)
    outlets.append(outlet)
    window = 1.0
    options = lsl.InletOptions(clock_offset_period=0.2, rate_window=window)
    inlet = lsl.LslInlet(type=info.type, options=options)
    inlet.open(3.0)
    opened = local_clock()
    pusher = Pusher(outlet, 0.0)
    chunks: list = []
    try:
        deadline = time.monotonic() + 30.0  # only against a hang
        offsets: list = []
        while len(offsets) < 4 or local_clock() - opened < window:
            assert time.monotonic() < deadline, f"only {len(offsets)} clock offsets"
            chunks += read_for(inlet, 0.1)
            offsets += inlet.clock_offsets()
        # effective_rate: samples received over the last `window` seconds of host time,
        # checked against the receipt times of the chunks read, bracketing status()'s own
        # "now". Taken right after a read, so samples are in the window (retried if a busy
        # machine held this thread up for a whole window).
        while True:
            assert time.monotonic() < deadline, "no samples within a rate window"
            chunks += read_until(inlet, 1, timeout=10.0)
            early, rate, late = local_clock(), inlet.status().effective_rate, local_clock()
            received = np.array([c.host_time[-1] for c in chunks])
            sizes = np.array([len(c) for c in chunks])
            fewest = sizes[received > late - window].sum() / window
            most = sizes[received > early - window].sum() / window
            if most > 0:
                break
    finally:
        pusher.stop()
        inlet.close()
    assert fewest <= rate <= most, (fewest, rate, most)
    times = np.array([o.host_time for o in offsets])
    # Never more often than the period asked for (each takes a round trip on top).
    assert np.all(np.diff(times) >= 0.18), np.diff(times)
    # Same machine, same clock: the offset is essentially zero.
    assert all(abs(o.offset) < 0.005 for o in offsets)


def test_outage_is_flagged_and_one_gap_recorded_when_the_sender_returns():
    info = stream_info(uid())
    messages: list[str] = []
    options = lsl.InletOptions(outage_threshold=0.3, clock_offset_period=0.5)
    inlet = lsl.LslInlet(source_id=info.source_id, options=options, on_status=messages.append)
    first = lsl.LslOutlet(info)
    inlet.open(3.0)
    pusher = Pusher(first, 0.0)
    second = None
    try:
        read_until(inlet, 40)
        pusher.stop()
        tail = read_for(inlet, 0.1)  # drain what was already sent
        killed = local_clock()
        first.close()
        read_for(inlet, 0.8)
        assert not inlet.connected and not inlet.status().connected
        assert len(messages) == 1 and "no data" in messages[0]
        assert info.name in messages[0]

        second = lsl.LslOutlet(info)
        back = local_clock()
        pusher = Pusher(second, 10_000.0)
        resumed = read_until(inlet, 20, timeout=15.0)
        read_for(inlet, 0.3)
        gaps = inlet.gaps()
        assert inlet.connected
        assert len(gaps) == 1, gaps
        gap = gaps[0]
        last_before = tail[-1].host_time[-1] if tail else gap.start
        assert gap.start == last_before and killed - 0.3 < gap.start <= killed
        assert back < gap.end <= resumed[0].host_time[0]
        assert resumed[0].samples[0, 0] >= 10_000.0  # data from the new sender
        assert len(messages) == 2 and "back" in messages[1]
        assert inlet.gaps() == []
    finally:
        pusher.stop()
        inlet.close()
        if second is not None:
            second.close()


def test_a_lost_stream_can_be_opened_again(outlets):
    """'restart the sender and re-open the stream': the reopened inlet reads and reports
    fresh state, not the lost connection's."""
    info = stream_info(uid())
    messages: list[str] = []
    inlet = lsl.LslInlet(source_id=info.source_id, on_status=messages.append)
    outlets.append(lsl.LslOutlet(info))
    pusher = Pusher(outlets[0], 0.0)
    try:
        inlet.open(3.0)
        read_until(inlet, 10)
        inlet._mark_lost()  # what a LostError from liblsl leads to
        assert inlet.read() is None and not inlet.status().connected
        assert "re-open the stream" in messages[-1]
        inlet.close()
        inlet.open(3.0)
        assert read_until(inlet, 10) and inlet.status().connected
        assert inlet.gaps() == []  # the lost connection leaves no gap in the new one
    finally:
        pusher.stop()
        inlet.close()


def test_marker_stream_round_trip(outlets):
    info = stream_info(uid(), labels=("marker",), units=("",), rate=0.0, fmt="string")
    outlet = lsl.LslOutlet(info)
    outlets.append(outlet)
    inlet = lsl.LslInlet(name=info.name)
    inlet.open(3.0)
    try:
        assert inlet.info == info
        assert outlet.wait_for_consumers(3.0)
        markers = ["clip_start:happiness_03", "reminder", "report,valence=7", "ünïcödé ✓"]
        stamps = 1234.5 + np.array([0.0, 0.25, 0.5, 3.125])
        outlet.push([[m] for m in markers], stamps)
        chunks = read_until(inlet, 4)
        samples = np.concatenate([c.samples for c in chunks])
        assert samples.dtype == object and samples.shape == (4, 1)
        assert samples[:, 0].tolist() == markers
        np.testing.assert_array_equal(np.concatenate([c.device_time for c in chunks]), stamps)
        assert inlet.connected  # irregular streams are never flagged out for silence
    finally:
        inlet.close()


def test_the_melab_command_configures_lsl_before_anything_else(tmp_path):
    # Every entry point goes through app.cli.main (the `melab` console script).
    script = (
        "import sys\n"
        "from app.cli.main import main\n"
        "from core.clock import is_configured\n"
        "assert not is_configured()\n"
        f"main(['info', {str(tmp_path)!r}])\n"
        "print('configured', is_configured())\n"
        "import pylsl\n"  # liblsl reads its configuration at the first outlet
        "info = pylsl.StreamInfo('probe-cli', 'Probe', 1, 10, 'float32', 'probe-cli')\n"
        "outlet = pylsl.StreamOutlet(info)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LSLAPICFG"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "configured True" in done.stdout.splitlines()
    assert "Configuration loaded from content" in done.stderr
