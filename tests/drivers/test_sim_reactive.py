"""A reactive simulated participant: expressions inside the clips a protocol plays, seen by the
camera, the EEG and the physiology alike, and listed in the ground truth on camera frames."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from drivers.sim.eeg import simulate_eeg, simulate_eeg_rhythms
from drivers.sim.scenario import MIN_GAP_S, Scenario, expressions_for_clip, make_scenario
from recordings.store.annotations import annotations_from_ground_truth
from tests.conftest import LabFactory


@pytest.mark.parametrize("seconds", [2.5, 4.0, 60.0])
def test_every_clip_gets_an_me_inside_its_window(seconds: float) -> None:
    micro = macro = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        placed: list[tuple[float, float]] = [(0.0, 1.0)]
        start = 3.0
        out = expressions_for_clip(rng, "fear", start, start + seconds, placed=placed)
        kinds = [e.kind for e in out]
        assert "micro" in kinds, (seed, out)
        micro += kinds.count("micro")
        macro += kinds.count("macro")
        assert [e.onset for e in out] == sorted(e.onset for e in out)
        for e in out:
            assert start + 1.5 <= e.onset < e.apex < e.offset <= start + seconds - 0.3
            assert e.emotion == "fear"
        # Every pair (the earlier interval included) keeps the minimum gap.
        spans = sorted(placed)
        assert len(spans) == len(out) + 1
        assert all(b[0] - a[1] >= MIN_GAP_S for a, b in itertools.pairwise(spans))
    if seconds == 60.0:  # 3 MEs and 1 macro-expression per minute on average
        assert 40 * 2 < micro < 40 * 6 and macro > 5


def test_a_clip_too_short_to_react_in_gets_nothing() -> None:
    rng = np.random.default_rng(1)
    assert expressions_for_clip(rng, "anger", 10.0, 11.5) == []  # 1.5 s lead, 0.3 s tail


def test_eeg_change_equals_simulating_the_changed_scenario() -> None:
    before = Scenario(4, 30.0)
    rng = np.random.default_rng(4)
    after = Scenario(4, 30.0, expressions=expressions_for_clip(rng, "sadness", 10.0, 14.0))
    eeg, rhythms = simulate_eeg_rhythms(before, 250.0, 8)
    row, delta = rhythms.change(before, after)
    apex = after.expressions[0].apex
    # Only the 0.2-3 s band-power response after the apex (0.3 s ramps) changes, with one
    # 20 ms control step of slack either side.
    assert (apex + 0.2 - 0.03) * 250 <= row and row + len(delta) <= (apex + 3.3 + 0.03) * 250
    assert np.abs(delta).max() > 0.5  # µV: a real change
    eeg[row: row + len(delta)] += delta
    np.testing.assert_allclose(eeg, simulate_eeg(after, 250.0, 8), atol=1e-3)
    assert rhythms.change(after, after)[1].shape == (0, 8)


def test_a_scenario_lab_is_unchanged_and_refuses_stimuli(sim_lab: LabFactory) -> None:
    lab = sim_lab(seed=2, duration=25.0)
    assert lab.scenario.to_dict() == make_scenario(2, 25.0).to_dict()
    assert "reactive" not in lab.ground_truth()
    with pytest.raises(RuntimeError, match="reactive=True"):
        lab.stimulus("happiness", 1.0, 5.0)


def test_a_reactive_lab_answers_each_clip_in_face_eeg_and_physiology(
        sim_lab: LabFactory) -> None:
    lab = sim_lab(seed=6, duration=40.0, reactive=True)
    assert lab.scenario.expressions == [] and lab.scenario.episodes == []
    camera = lab.camera()
    lab.start()
    time.sleep(0.5)  # the push loops are sending
    windows = []
    for trial, emotion, seconds, ahead in ((1, "happiness", 4.0, 0.0),
                                           (2, "disgust", 3.0, 6.0)):
        start = lab.now() + ahead
        before = {role: lab._signals[role].copy() for role in ("eeg", "physio")}
        sent = dict(lab._sent)
        expressions = lab.stimulus(emotion, start, start + seconds, trial)
        lab.wait_for_updates()
        windows.append((trial, emotion, start, start + seconds, expressions))
        assert any(e.kind == "micro" for e in expressions)
        for e in expressions:
            assert start < e.onset and e.offset <= start + seconds and e.emotion == emotion
            assert e in camera.active(e.apex)  # the face shows it
        for role in ("eeg", "physio"):
            now = lab._signals[role]
            changed = np.flatnonzero(np.any(now != before[role], axis=1))
            # The body answers too, but only in samples not sent when the clip began.
            assert changed.size > 0, role
            assert changed[0] >= sent[role], role
    assert lab.stimulus("neutral", lab.now(), lab.now() + 3.0) == []
    truth = lab.ground_truth()
    assert truth["reactive"]["late_samples"] == {"eeg": 0, "physio": 0}
    assert [c["trial"] for c in truth["reactive"]["clips"]] == [1, 2]
    listed = truth["scenario"]["expressions"]
    assert len(listed) == sum(len(w[4]) for w in windows)
    fps = truth["camera"]["fps"]
    for _trial, emotion, start, end, expressions in windows:
        inside = [e for e in listed if start <= e["onset"] and e["offset"] <= end]
        assert len(inside) == len(expressions) >= 1
        for e in inside:
            assert e["emotion"] == emotion
            for point in ("onset", "apex", "offset"):  # camera frame n is exposed at (n-1)/fps
                assert e[f"{point}_frame"] == round(e[point] * fps) + 1
                assert e[f"{point}_session_time"] == pytest.approx(truth["t0"] + e[point])
    episodes = truth["scenario"]["episodes"]
    assert [(ep["trial"], ep["emotion"]) for ep in episodes] == [(1, "happiness"), (2, "disgust")]
    # The analysis reads them as ground-truth annotations of their trials.
    annotations = annotations_from_ground_truth(truth, "P01", 1)
    assert sorted({a.trial for a in annotations}) == ["1", "2"]
    assert all(a.kind in ("micro", "macro") and a.onset_frame for a in annotations)
