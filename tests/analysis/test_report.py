"""report.html's session overview and clip timelines, from real sessions and plain arrays."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
from PIL import Image

from analysis.report_overview import CAMERA, device_rows, overview_section
from analysis.report_timeline import TRACE_RATE, TruthSpan, clip_timeline, timelines_section
from analysis.spotting import SpotCurve, SpottedInterval
from recordings.simulated.sync_session import SyncSimConfig, simulate_session
from recordings.store.reader import open_session
from recordings.summary import summarize
from recordings.sync.synchronize import synchronize


def test_overview_lists_every_device_with_its_sync_and_losses(tmp_path):
    sim = simulate_session(tmp_path / "synced", SyncSimConfig(seed=1, duration=30.0,
                                                              dropped_frames=3))
    synchronize(sim.folder)
    with open_session(sim.folder) as session:
        info = summarize(session)
    rows = {row[0]: row for row in device_rows(info)}
    assert set(rows) == {*info["streams"], CAMERA}
    for name, stream in info["streams"].items():
        row, sync = rows[name], info["sync"][name]
        assert row[5] == stream["samples"] and row[6] == stream["samples_lost"]
        assert row[8] == sync["method"]
        if sync["method"] == "trigger":
            assert row[9] == sync["n_edges"] > 0
            assert row[10] == f"{sync['rms_residual_ms']:.3g} / {sync['max_residual_ms']:.3g}"
    camera = rows[CAMERA]
    assert camera[5] == info["frames"] and camera[7].startswith("3 dropped")
    assert camera[8] == info["sync"]["camera"]["method"] == "trigger"
    drifts = [c["drift_ppm"] for c in info["sync"]["camera"]["clocks"]]
    assert camera[12] == max(drifts, key=abs)
    page = overview_section({sim.folder.name: info})
    assert f"participant {info['participant']}" in page and "Not synchronized" not in page


def test_overview_says_when_a_session_was_never_synchronized(tmp_path):
    sim = simulate_session(tmp_path / "raw", SyncSimConfig(seed=2, duration=10.0))
    with open_session(sim.folder) as session:
        info = summarize(session)
    assert all(row[8] == "not synced" for row in device_rows(info))
    assert "Not synchronized" in overview_section({"raw": info})


def _spot(onset: int, apex: int, offset: int, confident: bool = True) -> SpottedInterval:
    return SpottedInterval(onset, apex, offset, 8.0, "micro", confident)


def test_timeline_matches_spotted_to_annotated_and_cuts_the_signals():
    fps, t0 = 50.0, 1000.0
    times = t0 + np.arange(500) / fps
    truths = [TruthSpan(100, 110, 120, "micro", "happiness"),
              TruthSpan(300, None, 330, "micro", "fear")]
    hit, miss = _spot(101, 110, 121), _spot(200, 205, 210)
    rejected = _spot(299, 310, 331, confident=False)  # overlaps a truth, but filtered out
    heart_t = np.arange(t0 - 20.0, t0 + 30.0, 1 / 200)
    curve = SpotCurve(np.arange(2, 500, 5, dtype=float), np.linspace(0, 9, 100), 6.0)
    timeline = clip_timeline("S01_s01", "trial001", "0", times, [hit, miss, rejected],
                             {hit, miss}, truths, curve, (heart_t, 60 + (heart_t - t0)), None)
    assert [m.matched for m in timeline.spotted] == [True, False, False]
    assert [m.kept for m in timeline.spotted] == [True, True, False]
    assert [m.matched for m in timeline.truths] == [True, False]  # only the result counts
    assert abs(timeline.spotted[0].onset - 101 / fps) < 1e-9  # session clock: t0 + 101 / fps
    assert timeline.truths[1].apex is None
    assert abs(timeline.duration - 499 / fps) < 1e-9
    np.testing.assert_allclose(timeline.curve.t, curve.frames / fps)
    heart = timeline.heart
    np.testing.assert_allclose(np.diff(heart.t), 1 / TRACE_RATE, atol=1e-9)
    assert -5.1 < heart.t[0] < -4.9 and 14.9 < heart.t[-1] < 15.1  # the clip, 5 s either side
    np.testing.assert_allclose(heart.y, 60 + heart.t, atol=1e-6)
    assert timeline.eda is None

    page = timelines_section([timeline])
    assert ("2 annotated (2 micro), 1 found; 2 spotted, 1 matching; no EDA") in page
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) == 1
    image = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    assert image.format == "PNG" and image.size == (1240, 480)


def test_timelines_without_clips_say_so():
    assert "No video clip was analysed" in timelines_section([])
