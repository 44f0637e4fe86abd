"""Test set-up: Qt offscreen and loopback-only LSL before anything else loads; shared builders.

Tests that take more than ~3 s are marked `@pytest.mark.slow`. `make test` runs them all; the
quick subset is `python -m pytest -m "not slow"` (about a minute), `-m slow` the rest.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia*=false")

import itertools
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.clock import configure_lsl

configure_lsl()

# One tag per test process: LSL resolves across the whole machine, and other test runs (other
# worktrees) may run simulated labs with the same stream names at the same time.
_RUN = uuid.uuid4().hex[:6]
_LABS = itertools.count(1)


def unique_prefix(tag: str) -> str:
    """An LSL stream-name prefix no other lab on this machine uses (tag says whose it is)."""
    return f"{tag}{_RUN}{next(_LABS)}-"


LabFactory = Callable[..., Any]  # (seed=, duration=, ...) -> drivers.sim.lab.SimulatedLab


@pytest.fixture
def sim_lab() -> Iterator[LabFactory]:
    """Build simulated labs: `sim_lab(seed=, duration=, width=, height=, start=False, **config)`.

    config takes any other SimLabConfig field (reactive, name_prefix, clocks, ...). Each lab
    gets a unique stream-name prefix unless name_prefix is given (its streams are then
    `lab.eeg_info.name` / `lab.physio_info.name`); start=True starts it. Every lab built is
    stopped when the test ends, also when it fails.
    """
    from drivers.sim.lab import SimLabConfig, SimulatedLab

    labs: list[SimulatedLab] = []

    def make(*, seed: int, duration: float, width: int = 160, height: int = 120,
             start: bool = False, **config: Any) -> SimulatedLab:
        config.setdefault("name_prefix", unique_prefix("lab"))
        lab = SimulatedLab(SimLabConfig(seed=seed, duration=duration, width=width,
                                        height=height, **config))
        labs.append(lab)
        if start:
            lab.start()
        return lab

    yield make
    for lab in reversed(labs):
        lab.stop()


SenderFactory = Callable[..., Any]  # (name, type, channels, rate, types=) -> CounterSender


@pytest.fixture
def senders() -> Iterator[SenderFactory]:
    """Start counting LSL senders (drivers.sim.counter_streams): `senders(name, type,
    channels, rate, types=())`, rate 0 for markers; each gets a unique name and source_id, and
    is stopped when the test ends."""
    from core.devices import StreamInfo
    from drivers.sim.counter_streams import CounterSender

    started: list[CounterSender] = []

    def start(name: str, kind: str, channels: int, rate: float,
              types: tuple[str, ...] = ()) -> CounterSender:
        prefix = unique_prefix("rec")
        fmt = "string" if rate == 0 else "float32"
        info = StreamInfo(f"{prefix}{name}", kind, f"{prefix}{name}-src",
                          tuple(f"c{i}" for i in range(channels)), ("µV",) * channels, rate,
                          fmt, channel_types=types)
        sender = CounterSender(info, marker_period=0.1)
        sender.start()
        started.append(sender)
        return sender

    yield start
    for sender in started:
        sender.stop()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount small file systems (a disk that fills up): `tmpfs("3m")` -> its mount point,
    unmounted when the test ends; the test is skipped where mounting is not allowed."""
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"small{len(mounts)}"
        point.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                 str(point)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.fixture
def m3api() -> Iterator[Any]:
    """XIMEA's own binding (xiapipy.xiapi, importable as the driver imports it) over our double
    of its native library (tests/drivers/m3api_double.py), reset to an MQ022CG-CM on a
    3,600 Mbit/s USB controller: `m3api.reset(...)` changes the scenario, `m3api.xiapi` is
    the binding."""
    from tests.drivers.m3api_double import load_xiapi

    _, double = load_xiapi()
    double.reset()
    yield double
    double.reset()


class MarkerListener:
    """A pylsl inlet on one `melab-markers` outlet, connected at once, pulling on a thread."""

    def __init__(self, source_id: str) -> None:
        import threading

        import pylsl

        (info,) = pylsl.resolve_byprop("source_id", source_id, minimum=1, timeout=5.0)
        self.info = info
        self.inlet = pylsl.StreamInlet(info)
        self.inlet.open_stream(timeout=5.0)  # connected before the session can log anything
        self.markers: list[tuple[float, str]] = []
        self.offset = self.inlet.time_correction(timeout=5.0)  # while the outlet is there
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pull, daemon=True)
        self._thread.start()

    def _pull(self) -> None:
        while not self._stop.is_set():
            values, stamps = self.inlet.pull_chunk(timeout=0.1)
            self.markers += [(t, v[0]) for v, t in zip(values, stamps, strict=True)]

    def stop(self) -> list[tuple[float, str]]:
        """Stop pulling (the outlet is gone by then) and return (timestamp, marker) pairs."""
        self._stop.set()
        self._thread.join()
        return self.markers


@pytest.fixture(scope="session")
def console_session(qapp: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One session recorded as `melab demo` records it (the console, the autopilot, a reactive
    simulated lab, 2 trials of 3 s clips, one reminder), with a pylsl inlet on its
    `melab-markers` outlet from before the start: {"folder", "markers" [(stamp, text)],
    "offset" (the inlet's time correction), "stream" (the outlet's pylsl StreamInfo)}.

    It asks for pytest-qt's `qapp`: a console run that made its own QApplication would quit
    it at the end, and every later test's Qt event loop would then return at once."""
    from app.console.app import run_console
    from app.console.setup import SessionSetup
    from app.rig import Rig, simulated_rig
    from tests.app.test_console_qt import write_two_trials

    base = tmp_path_factory.mktemp("console_session")
    (base / "clips").mkdir()
    protocol = write_two_trials(base / "clips", {
        "demo_happiness": ("happiness", 3.0), "demo_sadness": ("sadness", 3.0),
        "demo_neutral": ("neutral", 1.0)})
    listeners: list[MarkerListener] = []

    def make_rig(seconds: float) -> Rig:
        rig = simulated_rig(seconds, seed=3, width=160, height=120,
                            prefix=unique_prefix("export"), reactive=True)
        assert rig.markers is not None
        listeners.append(MarkerListener(rig.markers.info.source_id))
        return rig

    setup = SessionSetup("P09", protocol=str(protocol), output=str(base / "out"),
                         full_screen=False)
    run = run_console(make_rig, setup, autostart=True, autopilot=True, quit_when_done=True,
                      remind_in_trial=1)
    assert run.problems == [] and run.finished is not None, run.problems
    (listener,) = listeners
    markers = listener.stop()
    return {"folder": Path(run.finished.folder), "markers": markers, "offset": listener.offset,
            "stream": listener.info}
