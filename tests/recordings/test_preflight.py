"""Disk-space preflight: the estimate and the refusal to start."""

from __future__ import annotations

import shutil

import pytest

from recordings.preflight import (
    RecordingPlan,
    StreamPlan,
    VideoPlan,
    check_disk_space,
    estimate_bytes,
    human_bytes,
)
from recordings.store.errors import DiskSpaceError

CAMERA = VideoPlan(width=2040, height=1080, frame_rate=150, seconds=60)
STREAMS = (StreamPlan(channels=65, rate=1000), StreamPlan(channels=6, rate=1000))


def test_estimate_counts_frames_samples_and_bookkeeping():
    plan = RecordingPlan(duration=60, streams=STREAMS, video=(CAMERA,))
    frames = 60 * 150 * (2040 * 1080 + 64)
    samples = 60 * 1000 * ((4 * 65 + 16) + (4 * 6 + 16))
    assert estimate_bytes(plan) == frames + samples
    # One 60 s clip is ~20 GB, as the design brief says; 42 of them ~840 GB.
    assert 19e9 < estimate_bytes(plan) < 21e9
    whole = RecordingPlan(duration=85 * 60, streams=STREAMS, video=(CAMERA,) * 42)
    assert 800e9 < estimate_bytes(whole) < 900e9


def test_plan_that_does_not_fit_is_refused_with_both_figures(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    too_big = VideoPlan(2040, 1080, 150, seconds=2 * free / (2040 * 1080 * 150))
    plan = RecordingPlan(duration=60, video=(too_big,))
    with pytest.raises(DiskSpaceError) as caught:
        check_disk_space(tmp_path / "new_session", plan)
    message = str(caught.value)
    assert human_bytes(estimate_bytes(plan)) in message and "free" in message
    assert "force" in message
    forced = check_disk_space(tmp_path / "new_session", plan, force=True)
    assert not forced.fits and forced.needed == estimate_bytes(plan)


def test_small_plan_fits(tmp_path):
    check = check_disk_space(tmp_path / "a" / "b", RecordingPlan(duration=10, streams=STREAMS))
    assert check.fits and check.needed == 10 * 1000 * (276 + 40)
    assert "fits" in check.describe()


def test_human_bytes():
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024**3) == "3.0 GiB"
