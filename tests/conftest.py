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
