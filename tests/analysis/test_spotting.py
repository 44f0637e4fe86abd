"""Spotting on simulated face video, and the Candidate Clip Filter (MMME eq. 12)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.ccf import apply_ccf, candidate_clip_filter
from analysis.clips import read_and_spot
from analysis.evaluation import Interval, evaluate_spotting
from analysis.face import FaceLayout
from analysis.face_track import FaceTracker
from analysis.features_physio import hr_slope_at
from analysis.spotting import (
    SpotParams,
    SpottedInterval,
    Spotter,
    spot,
)
from drivers.sim.expression import Expression
from drivers.sim.face import FaceRenderer

FPS = 150.0


def _render(renderer: FaceRenderer, exprs: list[Expression], seconds: float):
    """Aligned face crops (n, 128, 128) of a rendered clip and their layout, from the tracker
    like the pipeline."""
    tracker = FaceTracker(FPS, renderer.pixel_format)
    tracked = [tracker.push(renderer.render(i / FPS, exprs)) for i in range(round(seconds * FPS))]
    assert all(t.point.found for t in tracked), "the tracker did not follow the simulated face"
    return np.stack([t.crop for t in tracked]), tracked[0].layout


def _truth(exprs: list[Expression]) -> list[Interval]:
    return [Interval(round(e.onset * FPS), round(e.offset * FPS), e.kind) for e in exprs]


def _f1(spotted: list[SpottedInterval], exprs: list[Expression]) -> dict:
    cands = {"clip": [(s.onset, s.offset, s.kind) for s in spotted]}
    return evaluate_spotting(cands, {"clip": _truth(exprs)})


# Micro-expressions of different regions at the default intensity (4 px at a 600 px face,
# about 1 px on the 128 px crop), two macro-expressions, blinks (10/min) and head motion on.
SCRIPT = [
    Expression(1.0, 1.12, 1.35, "micro", "happiness", aus=(6, 12)),
    Expression(3.0, 3.5, 4.6, "macro", "surprise"),
    Expression(6.2, 6.3, 6.5, "micro", "surprise", aus=(1, 2)),
    Expression(8.0, 8.15, 8.45, "micro", "contempt"),
    Expression(10.0, 10.6, 12.4, "macro", "happiness"),
    Expression(13.9, 14.0, 14.25, "micro", "anger", aus=(4, 23)),
    Expression(15.8, 15.95, 16.2, "micro", "sadness", aus=(1, 15)),
]


@pytest.fixture(scope="module")
def scripted() -> tuple[np.ndarray, FaceLayout]:
    return _render(FaceRenderer(640, 480, seed=11), SCRIPT, 17.5)


@pytest.fixture(scope="module")
def scripted_spots(scripted) -> list[SpottedInterval]:
    crops, face = scripted
    return spot(crops, FPS, SpotParams(), layout=face)


@pytest.mark.slow
def test_spotting_finds_every_expression_with_micro_f1_one(scripted_spots) -> None:
    counts = _f1(scripted_spots, SCRIPT)
    assert (counts["micro"].tp, counts["micro"].fp, counts["micro"].fn) == (5, 0, 0)
    assert counts["micro"].f1 == 1.0
    assert counts["macro"].f1 == 1.0  # and no micro-expression hidden inside a macro one


@pytest.mark.slow
def test_spotted_intervals_are_close_to_the_truth(scripted_spots) -> None:
    for s, e in zip(scripted_spots, SCRIPT, strict=True):
        assert s.kind == e.kind
        assert s.onset <= s.apex <= s.offset
        on, apex, off = s.seconds(FPS)
        # Within about two analysis frames (30 fps) for micro; the macro contrast peak is broad.
        assert abs(apex - e.apex) <= (0.07 if e.kind == "micro" else 0.2)
        # Micro boundaries within 50 ms; macro ones are rounder and found a little inside.
        tol = 0.05 if e.kind == "micro" else 0.35
        assert abs(on - e.onset) <= tol and abs(off - e.offset) <= tol
        assert s.score >= SpotParams().z


@pytest.mark.slow
def test_blinks_and_head_motion_alone_spot_nothing() -> None:
    r = FaceRenderer(640, 480, seed=12, blink_rate=20.0, head_motion=2.0)
    crops, face = _render(r, [], 12.0)
    assert len(r.blinks(0.0, 12.0)) >= 3
    assert spot(crops, FPS, layout=face) == []
    # Without the eye mask a blink (as short as an ME, ~10x its motion) is called an ME.
    unmasked = spot(crops, FPS, SpotParams(mask_eyes=False), layout=face)
    blink_starts = r.blinks(0.0, 12.0)
    assert unmasked and all(
        s.kind == "micro" and min(abs(s.apex / FPS - b) for b in blink_starts) < 0.2
        for s in unmasked
    )


def two_mes(intensity: float) -> list[Expression]:
    """A smile at 1.1 s and raised brows at 3.6 s (apexes), in a 5.5 s clip."""
    return [
        Expression(1.0, 1.1, 1.3, "micro", "happiness", aus=(12,), intensity=intensity),
        Expression(3.5, 3.6, 3.9, "micro", "surprise", aus=(1, 2), intensity=intensity),
    ]


FAINT = two_mes(2.0)  # half the default ME intensity: ~0.5 px on the crop


@pytest.fixture(scope="module")
def faint() -> tuple[np.ndarray, FaceLayout]:
    return _render(FaceRenderer(640, 480, seed=13), FAINT, 5.5)


def test_faint_micro_expressions_at_half_intensity_are_still_found(faint) -> None:
    crops, face = faint
    assert _f1(spot(crops, FPS, layout=face), FAINT)["micro"].f1 == 1.0


@pytest.mark.slow
def test_spotter_fed_in_blocks_gives_the_same_intervals(faint) -> None:
    crops, face = faint
    spotter = Spotter(FPS, layout=face)
    for start in range(0, len(crops), 97):  # blocks that do not line up with the averaging
        spotter.push(crops[start : start + 97])
    assert spotter.finish() == spot(crops, FPS, layout=face)
    with pytest.raises(ValueError, match="uint8"):
        spotter.push(np.zeros((3, 64, 64), np.uint8))  # not this clip's crop size


def test_spot_validates_input_and_handles_short_clips() -> None:
    with pytest.raises(ValueError, match="uint8"):
        spot(np.zeros((10, 128, 128), np.float32), FPS)
    assert spot(np.zeros((20, 128, 128), np.uint8), FPS) == []  # shorter than one scale


# -- Candidate Clip Filter -------------------------------------------------------------------------
def _hr() -> tuple[np.ndarray, np.ndarray]:
    """HR rising at 2-4 s (+5 bpm/s), falling at 6-8 s (-5 bpm/s), flat elsewhere, 10 Hz."""
    t = np.arange(0.0, 12.0, 0.1)
    hr = 70.0 + 5.0 * np.clip(t - 2.0, 0, 2) - 5.0 * np.clip(t - 6.0, 0, 2)
    return t, hr


def test_hr_slope() -> None:
    t, hr = _hr()
    slope = hr_slope_at(t, t, hr)
    assert slope[30] == pytest.approx(5.0) and slope[70] == pytest.approx(-5.0)
    assert slope[100] == pytest.approx(0.0)


def test_candidate_clip_filter_keeps_micro_apexes_on_rising_heart_rate() -> None:
    t, hr = _hr()
    fps = 100.0
    rising = SpottedInterval(250, 300, 330, 20.0, "micro")  # apex 3.0 s: slope +5
    falling = SpottedInterval(650, 700, 730, 20.0, "micro")  # apex 7.0 s: slope -5
    flat = SpottedInterval(950, 1000, 1030, 20.0, "micro")  # apex 10.0 s: slope 0
    macro = SpottedInterval(600, 700, 800, 30.0, "macro")  # not a candidate ME
    kept = candidate_clip_filter([rising, falling, flat, macro], fps, t, hr)
    # The clip's mean slope is 0 (HR ends where it began): only the rising apex exceeds it.
    assert kept == [rising, macro]
    # Frame 0 of the clip at -1.0 s on the HR clock: every apex comes 1 s earlier.
    earlier = candidate_clip_filter([rising, falling, flat], fps, t, hr, clip_start=-1.0)
    assert earlier == [rising]  # apex at 2.0 s, where the rise starts: slope +2.5 > ~0
    # Mean over a clip that is all rise: nothing exceeds it by being on the rise.
    assert candidate_clip_filter([rising], fps, t, hr, clip_start=0.0, clip_end=4.0) == [rising]
    within = candidate_clip_filter([rising], fps, t, hr, clip_start=1.0, clip_end=4.0)
    assert within == []  # clip 1..4 s: mean slope ~+3.2; apex at 4.0 s has slope +2.5


def test_candidate_clip_filter_rejects_bad_series() -> None:
    with pytest.raises(ValueError, match="two heart-rate samples"):
        candidate_clip_filter([], 100.0, np.array([1.0]), np.array([60.0]))


# An ME at a tenth of the default intensity (~0.1 px on the crop) peaks between the
# sensitive floor (4.5 MADs) and the threshold (6 MADs); the second one clears the threshold.
BARELY = two_mes(0.4)


@pytest.fixture(scope="module")
def barely() -> tuple[np.ndarray, FaceLayout]:
    return _render(FaceRenderer(640, 480, seed=13), BARELY, 5.5)


def test_sensitive_tier_adds_unconfirmed_candidates_only(barely) -> None:
    crops, face = barely
    plain = spot(crops, FPS, layout=face)
    both = spot(crops, FPS, layout=face, sensitive=True)
    assert [s for s in both if s.confident] == plain  # the confident result is unchanged
    assert [round(s.apex / FPS, 1) for s in plain] == [3.6]
    extra = [s for s in both if not s.confident]
    assert [round(s.apex / FPS, 1) for s in extra] == [1.1]
    assert all(s.kind == "micro" and 4.5 <= s.score < 6.0 for s in extra)


def _hr_rising_at(apex: float) -> tuple[np.ndarray, np.ndarray]:
    """10 Hz heart rate, flat except a 2 s rise of 10 bpm starting just before `apex`."""
    t = np.arange(0.0, 5.5, 0.1)
    return t, 70.0 + 5.0 * np.clip(t - (apex - 0.5), 0, 2)


def test_ccf_rescue_confirms_faint_candidates_and_never_drops_confident_ones(barely) -> None:
    crops, face = barely
    both = spot(crops, FPS, layout=face, sensitive=True)
    confident = [s for s in both if s.confident]
    # Heart rising at the faint ME's apex: it is confirmed; the confident one stays too.
    assert apply_ccf(both, "rescue", FPS, *_hr_rising_at(1.1)) == both
    # Heart rising elsewhere (at the confident apex): the faint candidate is not confirmed.
    assert apply_ccf(both, "rescue", FPS, *_hr_rising_at(3.6)) == confident
    # 'veto' (MMME eq. 12 as published) judges the confident ones and drops the unsupported.
    assert apply_ccf(both, "veto", FPS, *_hr_rising_at(1.1)) == []
    assert apply_ccf(both, "veto", FPS, *_hr_rising_at(3.6)) == confident
    assert apply_ccf(both, "rescue", FPS, None, None) == confident  # no ECG recorded
    with pytest.raises(ValueError, match="CCF mode must be one of"):
        apply_ccf(both, "maybe", FPS, None, None)


@pytest.mark.slow
def test_read_and_spot_streams_stored_frames_like_spot_on_the_whole_clip() -> None:
    """melab analyze's path: raw frames read and cropped on a thread while flows run."""
    renderer = FaceRenderer(640, 480, seed=13)
    n = round(5.5 * FPS)
    raw = np.stack([renderer.render(i / FPS, FAINT) for i in range(n)])
    run = read_and_spot(raw, n - 10, renderer.pixel_format, FPS, sensitive=True)
    tracker = FaceTracker(FPS, renderer.pixel_format)
    tracked = [tracker.push(frame) for frame in raw[: n - 10]]
    crops = np.stack([t.crop for t in tracked])
    np.testing.assert_array_equal(run.crops, crops)  # the last 10 frames were not analysed
    assert run.spotted == spot(crops, FPS, layout=tracked[0].layout, sensitive=True)
    assert _f1(run.spotted, FAINT)["micro"].f1 == 1.0
    with pytest.raises(ValueError, match="frames"):  # a reader error reaches the caller
        read_and_spot(raw[:, :, :, None], n, renderer.pixel_format, FPS)
