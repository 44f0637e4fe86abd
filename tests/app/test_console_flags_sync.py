"""The Qt-free rules behind the console's channel flags and live sync health."""

from __future__ import annotations

import numpy as np

from app.console.channel_flags import FLAT, NOISY, SATURATED, channel_flags, flags_text
from core.codes import SYNC_CODE
from core.devices import Chunk
from core.trigger_channel import TriggerChannel
from recordings.live_sync import BOX_ROLE, LiveSyncMonitor


def test_flat_saturated_and_noisy_channels_are_flagged() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(0, 10, (5000, 8))  # µV
    data[:, 1] = 12.5 + rng.normal(0, 0.05, 5000)  # flat: well under 1 µV peak-to-peak
    data[:, 2] = np.clip(rng.normal(0, 10, 5000), -15, 15)  # clipped at ±15 µV (~13 %)
    data[:, 3] *= 8  # noisy: SD 80 µV against a median of 10
    flags = channel_flags(data, ["µV"] * 8)
    assert flags == ["", FLAT, SATURATED, NOISY, "", "", "", ""]
    assert flags_text([f"C{i}" for i in range(8)], flags) == (
        "flat: C1; saturated: C2; noisy: C3")
    # Too few samples say nothing; a unit without a flat figure is flat only when constant.
    assert channel_flags(data[:10], ["µV"] * 8) == [""] * 8
    assert channel_flags(np.full((100, 1), 3.0), ["°C"]) == [FLAT]
    assert channel_flags(np.linspace(30, 30.0001, 100)[:, None], ["°C"]) == [""]


def pulses(times: np.ndarray, rate: float, start: float, n: int, offset: float) -> Chunk:
    """n samples of a code channel from device time `start` holding 255 for 10 ms at each
    of `times` (device clock); host time = device time + offset."""
    device = start + np.arange(n) / rate
    code = np.zeros(n)
    for t in times:
        code[(device >= t) & (device < t + 0.01)] = SYNC_CODE
    return Chunk(code[:, None].astype(np.float32), device, device + offset)


def test_the_monitor_counts_sync_edges_fits_the_offset_and_notices_a_stopped_train() -> None:
    rate, offset = 1000.0, 100.25  # the device clock runs 100.25 s behind the session's
    monitor = LiveSyncMonitor({"eeg": TriggerChannel((0,), ("TRIGGER",), "label")},
                              {"eeg": rate}, sync_period=1.0)
    edges = np.arange(0.5, 10, 1.0)  # device times of the train's rising edges
    box = Chunk(np.array([[SYNC_CODE, np.nan]] * len(edges), np.float32), edges,
                edges + offset + 0.002)  # the box's notices arrive 2 ms after each edge
    monitor.add_chunk(BOX_ROLE, box)
    for start in np.arange(0, 10, 0.137):  # chunks that cut pulses in two
        monitor.add_chunk("eeg", pulses(edges, rate, start, 137, offset))
    now = 10.0 + offset
    health = monitor.health(now)["eeg"]
    assert health.edges == len(edges) and not health.lost
    assert abs(health.since_last - 0.5) < 0.01
    # The edge lies between two samples: its midpoint is half a sample early.
    assert abs(health.offset - (offset + 0.002 + 0.0005)) < 1e-6
    assert health.residual_ms is not None and health.residual_ms < 0.01
    assert "SYNC LOST" not in health.text()
    assert not monitor.health(9.4 + 3.0 + offset)["eeg"].lost  # 2.9 s after the last edge
    late = monitor.health(9.6 + 3.0 + offset)  # 3.1 s: the train stopped
    assert late["eeg"].lost and late[BOX_ROLE].lost
    assert late["eeg"].text().startswith("SYNC LOST")


def test_a_stream_that_never_shows_an_edge_is_lost_after_three_seconds_of_data() -> None:
    monitor = LiveSyncMonitor({"eeg": TriggerChannel((0,), ("TRIGGER",), "label")},
                              {"eeg": 1000.0}, box=False)
    monitor.add_chunk("eeg", pulses(np.array([]), 1000.0, 0.0, 500, 0.0))
    assert not monitor.health(2.9)["eeg"].lost
    assert monitor.health(3.1)["eeg"].lost
    assert monitor.health(3.1)["eeg"].text() == "no sync edge yet - SYNC LOST"
