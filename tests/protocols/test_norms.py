"""A simulated rating study: norms, reliability against the paper's formulas, the selection,
and the written library through `melab protocol check`."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from core.expressions import EMOTIONS
from protocols.candidates import read_candidates
from protocols.check import check_command
from protocols.demo_stimuli import ensure_demo_stimuli
from protocols.library_writer import write_selected
from protocols.loader import load_protocol
from protocols.norms import study
from protocols.ratings_file import read_rating_files
from protocols.selection import SelectionRules, default_min_ratings, select_clips
from protocols.stimuli_report import write_report
from tests.protocols.rating_study import TrueClip, simulate_ratings, write_library

RATERS = 20
DESIGN = ("happiness", "sadness", "disgust")  # the demo protocol's emotions
PRACTICE_AROUSAL = {"happiness": 7.0, "sadness": 5.0, "disgust": 4.0}


def true_clips() -> list[TrueClip]:
    """60 clips: 10 per design emotion with planted winners, 30 of the other emotions."""
    clips = []
    for emotion in DESIGN:
        p = emotion[:3]
        clips += [
            TrueClip(f"{p}_long", emotion, 5.0, 8.5, hits=20, duration=75.0),  # too long
            TrueClip(f"{p}_few", emotion, 5.0, 8.5, hits=20, answers=10),  # too few ratings
            TrueClip(f"{p}_a", emotion, 5.0, 3.0, hits=18),  # ties _b on hit rate ...
            TrueClip(f"{p}_b", emotion, 5.0, 8.0, hits=18),  # ... and wins on arousal
            TrueClip(f"{p}_c", emotion, 5.0, PRACTICE_AROUSAL[emotion], hits=17),
        ]
        clips += [TrueClip(f"{p}_{i}", emotion, 2.0 + i, 2.0 + i / 2, hits=6 + i)
                  for i in range(5)]
    others = [e for e in EMOTIONS if e not in DESIGN]
    clips += [TrueClip(f"x{i:02d}", others[i % 4], 1.5 + (i % 7), 1.5 + (i * 3 % 7),
                       hits=8 + i % 10) for i in range(30)]
    return clips


@pytest.fixture(scope="module")
def rated(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("rating_study")
    clips_dir = folder / "clips"
    ensure_demo_stimuli(clips_dir)
    files = {e: f"demo_{e}.mp4" for e in EMOTIONS}
    library = write_library(clips_dir, true_clips(), files, neutral=("demo_neutral.mp4", 3.0))
    (folder / "ratings").mkdir()
    paths = simulate_ratings(folder / "ratings", true_clips(), RATERS)
    candidates = read_candidates(library)
    files_read = read_rating_files(paths, set(candidates.rated))
    return candidates, study(files_read, candidates)


def hand_reliability(x: np.ndarray) -> dict[str, float]:
    """Alpha (paper eq. 1, raters as items) and ICCs (eq. 2 and Shrout & Fleiss) by hand."""
    n, k = x.shape
    alpha = k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))
    grand = x.mean()
    ms_rows = k * ((x.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    ms_cols = n * ((x.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    resid = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand
    ms_err = (resid ** 2).sum() / ((n - 1) * (k - 1))
    return {"alpha": alpha,
            "ICC(C,1)": (ms_rows - ms_err) / (ms_rows + (k - 1) * ms_err),
            "ICC(A,1)": (ms_rows - ms_err) / (ms_rows + (k - 1) * ms_err
                                               + k * (ms_cols - ms_err) / n),
            "ICC(C,k)": (ms_rows - ms_err) / ms_rows}


@pytest.mark.parametrize("scale", ["valence", "arousal"])
def test_alpha_and_icc_equal_the_hand_computation(rated, scale: str) -> None:
    _, result = rated
    table = result.table
    wide = table.pivot(index="clip", columns="rater", values=scale)
    complete = wide.dropna().to_numpy()
    assert complete.shape == (60 - 3, RATERS)  # the 3 clips half the raters skipped are out
    expected = hand_reliability(complete)
    rel = result.reliability[scale]
    assert (rel.raters, rel.clips, rel.clips_left_out) == (RATERS, 57, 3)
    assert rel.alpha == pytest.approx(expected["alpha"], abs=1e-9)
    for icc in rel.iccs:
        assert icc.value == pytest.approx(expected[icc.form], abs=1e-9)
        assert icc.ci_low < icc.value < icc.ci_high
    assert rel.alpha > 0.8  # clips differ far more than raters' noise
    assert rel.alpha_ci[0] < rel.alpha < rel.alpha_ci[1]


def test_per_clip_norms_and_missing_answers(rated) -> None:
    _, result = rated
    by_id = {c.clip: c for c in result.clips}
    b = by_id["hap_b"]
    assert (b.ratings, b.missing, b.hit_rate, b.modal_emotion) == (20, 0, 0.9, "happiness")
    rows = result.table[result.table["clip"] == "hap_b"]
    assert b.valence_mean == pytest.approx(rows["valence"].mean())
    assert b.arousal_sd == pytest.approx(rows["arousal"].std(ddof=1))
    few = by_id["sad_few"]
    assert (few.ratings, few.missing, few.hit_rate) == (10, 10, 1.0)
    # raters R11..R20 skipped the three *_few clips
    assert result.missing_by_rater == {f"R{r:02d}": 3 if r > 10 else 0
                                       for r in range(1, RATERS + 1)}


def test_selection_follows_the_truth(rated) -> None:
    _, result = rated
    rules = SelectionRules(per_emotion=2, emotions=DESIGN,
                           min_ratings=default_min_ratings(RATERS), practice=1)
    selection = select_clips(result.clips, rules)
    assert not selection.short
    assert [c.clip for c in selection.chosen("main")] == [
        f"{e[:3]}_{s}" for e in DESIGN for s in ("b", "a")]
    assert [c.clip for c in selection.chosen("practice")] == ["hap_c"]
    reasons = {c.clip.clip: c.reason for c in selection.choices}
    assert reasons["dis_long"] == "lasts 75 s, over 60 s"
    assert reasons["dis_few"] == "too few ratings (10 < 16)"
    assert "not one of the design's emotions" in reasons["x00"]
    assert "below the 2 chosen" in reasons["sad_0"]


def test_too_few_eligible_clips_are_reported(rated) -> None:
    _, result = rated
    rules = SelectionRules(per_emotion=9, emotions=DESIGN, min_ratings=16)
    assert select_clips(result.clips, rules).short == {e: 8 for e in DESIGN}


def test_written_library_passes_protocol_check(rated, tmp_path: Path) -> None:
    candidates, result = rated
    rules = SelectionRules(per_emotion=2, emotions=DESIGN, min_ratings=16, practice=1)
    selection = select_clips(result.clips, rules)
    _, protocol = write_selected(tmp_path, selection, candidates, "demo", "ratings/")
    out = io.StringIO()
    assert check_command(protocol, out=out) == 0, out.getvalue()
    loaded = load_protocol(protocol)
    norms = {c.clip: c for c in result.clips}
    assert loaded.main == tuple(c.clip for c in selection.chosen("main"))
    assert loaded.practice == ("hap_c",)
    assert loaded.clips["sad_b"].valence == pytest.approx(norms["sad_b"].valence_mean, abs=1e-3)
    assert loaded.clips["sad_b"].arousal == pytest.approx(norms["sad_b"].arousal_mean, abs=1e-3)
    with pytest.raises(FileExistsError):  # a selection never overwrites an earlier one
        write_selected(tmp_path, selection, candidates, "demo", "ratings/")


def test_report_files(rated, tmp_path: Path) -> None:
    _, result = rated
    selection = select_clips(result.clips, SelectionRules(2, DESIGN, 16))
    report = write_report(tmp_path, result, selection)
    text = report.read_text(encoding="utf-8")
    assert "ICC(3,1)" in text and "valence_arousal.png" in text
    assert (tmp_path / "valence_arousal.png").stat().st_size > 1000
    lines = (tmp_path / "clip_ratings.csv").read_text().splitlines()
    assert len(lines) == 61 and lines[0].startswith("clip,emotion,duration,ratings,missing")
    reliability = (tmp_path / "reliability.csv").read_text().splitlines()
    assert len(reliability) == 1 + 2 * 4  # alpha + 3 ICC forms per scale
    assert sum(1 for line in (tmp_path / "selection.csv").read_text().splitlines()) == 61
