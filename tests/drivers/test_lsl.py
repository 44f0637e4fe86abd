"""LSL streams over real loopback outlets and inlets (drivers.lsl)."""

from __future__ import annotations

import configparser
import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pylsl
import pytest

from core import clock
from core.clock import (
    LSL_LOOPBACK_CONFIG,
    LSL_SCOPES,
    LslConfigError,
    configure_lsl,
    is_configured,
    local_clock,
    lsl_config_content,
    lsl_scope,
)
from core.devices import DeviceError, StreamInfo
from drivers import lsl
from drivers.interfaces import ContinuousStream
from drivers.lsl_outlet import LslOutlet
from drivers.lsl_query import StreamQuery
from drivers.lsl_resolve import resolve_stream_info
from drivers.sim.counter_streams import CounterSender

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

    def __init__(self, outlet: LslOutlet, first_value: float) -> None:
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
    made: list[LslOutlet] = []
    yield made
    for outlet in made:
        outlet.close()


def parsed_config(content: str) -> configparser.ConfigParser:
    """liblsl's configuration text as sections and keys."""
    parsed = configparser.ConfigParser()
    parsed.read_string(content)
    return parsed


def test_loopback_configuration_is_applied_in_this_process():
    parsed = parsed_config(LSL_LOOPBACK_CONFIG)
    assert is_configured() and lsl_scope() == "machine"
    assert parsed["multicast"]["ResolveScope"] == "machine"
    assert parsed["ports"]["IPv6"] == "disable"


def test_every_resolve_scope_has_its_configuration_and_others_are_refused():
    for scope in LSL_SCOPES:
        parsed = parsed_config(lsl_config_content(scope))
        assert parsed["multicast"]["ResolveScope"] == scope
        assert parsed["ports"]["IPv6"] == "disable"
    with pytest.raises(LslConfigError, match="'lan' is not one of machine, link, site"):
        lsl_config_content("lan")


def test_the_first_scope_asked_for_is_applied_and_a_different_one_refused(monkeypatch):
    # A fresh process's state, with liblsl's setter recorded instead of called: this test
    # process keeps its loopback configuration (liblsl read it long ago).
    applied: list[str] = []
    monkeypatch.setattr(clock, "_scope", None)
    monkeypatch.setattr(pylsl, "set_config_content", applied.append)
    assert configure_lsl("site") == "site"
    assert applied == [lsl_config_content("site")]
    assert configure_lsl() == "site" and configure_lsl("site") == "site"
    with pytest.raises(LslConfigError, match=r"resolve scope 'site'.*cannot switch to 'machine'"):
        configure_lsl("machine")
    assert len(applied) == 1 and lsl_scope() == "site"


def test_a_wider_scope_is_refused_once_lsl_runs_in_this_process():
    with pytest.raises(LslConfigError, match="reads its configuration once"):
        configure_lsl("global")
    assert lsl_scope() == "machine" and configure_lsl() == "machine"


def test_importing_the_lsl_module_configures_a_fresh_process():
    script = (
        "import json, psutil\n"
        "import drivers.lsl  # configures LSL on import\n"
        "from core.clock import is_configured\n"
        "configured = is_configured()\n"
        "from core.devices import StreamInfo\n"
        f"info = StreamInfo('cfg-{uid()}', 'Probe', 'cfg-{uid()}', ('a',), ('',), 10.0)\n"
        "from drivers.lsl_outlet import LslOutlet\n"
        "out = LslOutlet(info)\n"
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


def test_stream_queries_parse_key_value_pairs_and_bare_names():
    assert StreamQuery.parse("type=Gaze") == StreamQuery(type="Gaze")
    query = StreamQuery.parse(" name=Markers , hostname=stim-pc")
    assert query == StreamQuery(name="Markers", hostname="stim-pc")
    assert query.text() == "name=Markers,hostname=stim-pc"
    assert query.predicate() == "name='Markers' and hostname='stim-pc'"
    assert StreamQuery.parse("Curry EEG, amp 1") == StreamQuery(name="Curry EEG, amp 1")
    assert StreamQuery.parse("source_id=a=b").source_id == "a=b"
    for bad, problem in (("colour=red", "'colour=red' is not key=value"),
                         ("type=", "'type=' is not key=value"),
                         ("type=EEG,type=Gaze", "gives type twice"),
                         (" ", "stream query is empty")):
        with pytest.raises(ValueError, match=problem):
            StreamQuery.parse(bad)


def test_resolve_by_name_type_source_id_hostname_and_combined(outlets):
    info = stream_info(uid())
    outlets.append(LslOutlet(info))
    host = socket.gethostname()
    for query in (
        StreamQuery(name=info.name),
        StreamQuery(type=info.type),
        StreamQuery(source_id=info.source_id),
        StreamQuery(type=info.type, hostname=host),
        StreamQuery(info.name, info.type, info.source_id, host),
    ):
        found = resolve_stream_info(query, timeout=3.0)
        assert (found.name(), found.type(), found.source_id(), found.hostname()) == (
            info.name, info.type, info.source_id, host)
    with pytest.raises(DeviceError, match="hostname='elsewhere'"):
        resolve_stream_info(StreamQuery(type=info.type, hostname="elsewhere"), timeout=0.3)


def test_not_found_error_lists_visible_streams(outlets):
    info = stream_info(uid())
    outlets.append(LslOutlet(info))
    missing = f"missing-{uid()}"
    with pytest.raises(DeviceError) as caught:
        resolve_stream_info(StreamQuery(name=missing), timeout=0.3)
    message = str(caught.value)
    assert missing in message
    assert (f"name={info.name!r} type={info.type!r} source_id={info.source_id!r} "
            f"hostname={socket.gethostname()!r}") in message
    assert "running" in message and "--lsl-scope site" in message
    with pytest.raises(DeviceError, match="selector"):
        resolve_stream_info(StreamQuery(), timeout=0.1)


def received(info: StreamInfo, inlet: lsl.LslInlet) -> StreamInfo:
    """What an inlet should describe for a sent info: the same, plus host and header."""
    return dataclasses.replace(info, hostname=socket.gethostname(),
                               header_xml=inlet.info.header_xml)


def test_open_reads_labels_units_types_rate_host_and_the_whole_header(outlets):
    info = dataclasses.replace(
        stream_info(uid(), labels=("ECG", "EDA", "DIGITAL"), units=("mV", "microsiemens", "")),
        channel_types=("ECG", "EDA", "STIM"))
    outlets.append(LslOutlet(info))
    inlet = lsl.LslInlet(source_id=info.source_id)
    with pytest.raises(DeviceError, match="open"):
        inlet.read()
    inlet.open(3.0)
    try:
        assert inlet.info == received(info, inlet)
        assert isinstance(inlet, ContinuousStream)
        header = ElementTree.fromstring(inlet.info.header_xml)
        assert header.findtext("name") == info.name
        assert header.findtext("hostname") == socket.gethostname()
        channels = header.findall("desc/channels/channel")
        assert [c.findtext("type") for c in channels] == ["ECG", "EDA", "STIM"]
        assert [c.findtext("unit") for c in channels] == ["mV", "microsiemens", ""]
    finally:
        inlet.close()


def test_describe_falls_back_without_desc():
    tag = uid()
    raw = pylsl.StreamInfo(f"bare-{tag}", "EEG", 2, 1000.0, "double64", f"bare-{tag}")
    described = lsl.describe(raw)
    assert described.channel_labels == ("ch1", "ch2")
    assert described.channel_units == ("", "")
    assert described.channel_types == ()
    assert described.nominal_rate == 1000.0
    assert described.channel_format == "float32"
    assert f"<name>bare-{tag}</name>" in described.header_xml
    markers = pylsl.StreamInfo(f"mk-{tag}", "Markers", 1, 0.0, "string", f"mk-{tag}")
    assert lsl.describe(markers).channel_format == "string"


def test_round_trip_keeps_values_and_raw_device_timestamps(outlets):
    info = stream_info(uid())
    outlet = LslOutlet(info)
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
    outlet = LslOutlet(info)
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
    first = LslOutlet(info)
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

        second = LslOutlet(info)
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


def test_a_silent_stream_is_flagged_and_its_resumption_ends_the_gap(outlets):
    """A sender that stops sending but keeps its outlet: flagged after the threshold, and
    the same connection delivers again (its samples buffered meanwhile are not lost)."""
    info = stream_info(uid())
    messages: list[str] = []
    options = lsl.InletOptions(outage_threshold=0.3)
    inlet = lsl.LslInlet(source_id=info.source_id, options=options, on_status=messages.append)
    outlets.append(LslOutlet(info))
    inlet.open(3.0)
    pusher = Pusher(outlets[0], 0.0)
    try:
        read_until(inlet, 40)
        pusher.stop()
        read_for(inlet, 0.6)
        assert not inlet.connected and "has sent no data" in messages[-1]
        pusher = Pusher(outlets[0], pusher.value)
        resumed = read_until(inlet, 20)
        (gap,) = inlet.gaps()
        assert inlet.connected and gap.end == resumed[0].host_time[0]
        assert "back after" in messages[-1]
    finally:
        pusher.stop()
        inlet.close()


def test_a_restarted_sender_is_read_again_within_0_1_s_and_its_loss_counted():
    """A 1000 Hz sender closed and opened again (same name and source_id) 0.3 s later: the
    samples it sends after its return are read within 0.1 s, and every counter value missing
    (those due while it was away, and before the inlet was back) is counted in the gap."""
    tag = uid()
    info = StreamInfo(f"melab-test-counter-{tag}", "Counter", f"src-counter-{tag}",
                      ("n", "n+1/8"), ("", ""), 1000.0)
    sender = CounterSender(info)
    sender.start()
    messages: list[str] = []
    inlet = lsl.LslInlet(source_id=info.source_id, on_status=messages.append)
    chunks: list = []
    try:
        inlet.open(3.0)
        chunks += read_until(inlet, 300)
        sender.restart(pause=0.3)
        deadline = time.monotonic() + 30.0  # only against a hang
        while not sender.restarts or chunks[-1].samples[-1, 0] < sender.restarts[0] + 300:
            assert time.monotonic() < deadline, "the restarted sender was not read again"
            chunks += read_for(inlet, 0.05)
        gaps = inlet.gaps()
    finally:
        sender.stop()
        inlet.close()
    index = np.concatenate([c.samples for c in chunks])[:, 0].astype(np.int64)
    # Bit-exact: every sample read is the one sent, with its device timestamp.
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]),
                                  sender.values(index))
    np.testing.assert_array_equal(np.concatenate([c.device_time for c in chunks]),
                                  sender.stamp(index))
    steps = np.diff(index)
    (hole,) = np.flatnonzero(steps != 1)
    first_after = index[hole + 1]
    assert sender.restarts[0] <= first_after <= sender.restarts[0] + 100  # <= 0.1 s lost
    (gap,) = gaps
    assert gap.samples_lost == steps[hole] - 1
    host = np.concatenate([c.host_time for c in chunks])
    assert (gap.start, gap.end) == (host[hole], host[hole + 1])
    assert f"{gap.samples_lost} samples its device sent meanwhile are lost" in messages[-1]


def test_a_sender_back_with_another_layout_is_not_read_until_it_is_back_as_it_was(outlets):
    info = stream_info(uid())
    messages: list[str] = []
    inlet = lsl.LslInlet(source_id=info.source_id, on_status=messages.append)
    first = LslOutlet(info)
    pusher = Pusher(first, 0.0)
    try:
        inlet.open(3.0)
        read_until(inlet, 10)
        pusher.stop()
        first.close()
        wider = dataclasses.replace(info, channel_labels=("a", "b", "c", "d"),
                                    channel_units=("",) * 4)
        outlets.append(LslOutlet(wider))
        deadline = time.monotonic() + 30.0  # only against a hang
        while not any("came back" in m for m in messages):
            assert time.monotonic() < deadline, "the changed sender was never noticed"
            assert inlet.read() is None
            time.sleep(0.01)
        assert "4 channels of float32 instead of 3 of float32" in messages[-1]
        assert not inlet.connected
        outlets.pop().close()
        outlets.append(LslOutlet(info))
        pusher = Pusher(outlets[-1], 100.0)
        resumed = read_until(inlet, 10, timeout=15.0)
        assert resumed[0].samples.shape[1] == 3 and inlet.connected
    finally:
        pusher.stop()
        inlet.close()


def test_a_closed_stream_can_be_opened_again(outlets):
    """Closing and opening an inlet again (the console's Reconnect) reads fresh state, not the
    old connection's."""
    info = stream_info(uid())
    inlet = lsl.LslInlet(source_id=info.source_id)
    first = LslOutlet(info)
    pusher = Pusher(first, 0.0)
    try:
        inlet.open(3.0)
        read_until(inlet, 10)
        pusher.stop()
        first.close()
        read_for(inlet, 0.1)
        assert not inlet.status().connected
        inlet.close()
        outlets.append(LslOutlet(info))
        pusher = Pusher(outlets[-1], 0.0)
        inlet.open(3.0)
        assert read_until(inlet, 10) and inlet.status().connected
        assert inlet.gaps() == []  # the old connection's outage leaves no gap in the new one
    finally:
        pusher.stop()
        inlet.close()


def test_a_restarted_marker_sender_is_read_again_without_a_loss_count(outlets):
    info = stream_info(uid(), labels=("marker",), units=("",), rate=0.0, fmt="string")
    inlet = lsl.LslInlet(source_id=info.source_id)
    first = LslOutlet(info)
    try:
        inlet.open(3.0)
        assert first.wait_for_consumers(3.0)
        first.push([["before"]], [1.0])
        read_until(inlet, 1)
        first.close()
        read_for(inlet, 0.1)
        closed = local_clock()
        outlets.append(LslOutlet(info))
        assert outlets[-1].wait_for_consumers(10.0)
        outlets[-1].push([["after"]], [2.0])
        (chunk,) = read_until(inlet, 1)
        assert chunk.samples[0, 0] == "after"
        (gap,) = inlet.gaps()
        # An irregular stream has no rhythm: its outage runs from the break to the reconnect.
        assert gap.start <= closed + 0.1 and gap.end <= chunk.host_time[0]
        assert gap.samples_lost == 0
    finally:
        inlet.close()


def test_marker_stream_round_trip(outlets):
    info = stream_info(uid(), labels=("marker",), units=("",), rate=0.0, fmt="string")
    outlet = LslOutlet(info)
    outlets.append(outlet)
    inlet = lsl.LslInlet(name=info.name)
    inlet.open(3.0)
    try:
        assert inlet.info == received(info, inlet)
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
        "from core.devices import StreamInfo\n"
        "from recordings.store.metadata import SessionMetadata\n"
        "from recordings.store.session_writer import SessionWriter\n"
        "info = StreamInfo('EEG', 'EEG', 'eeg-1', ('Fz',), ('uV',), 1000.0)\n"
        f"SessionWriter({str(tmp_path / 's')!r}, SessionMetadata('P01'), [info],\n"
        "              clock=lambda: 1.0).close()\n"
        "assert not is_configured()\n"
        f"main(['info', {str(tmp_path / 's')!r}])\n"
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
