"""Rating sessions (the Qt-free engine) and ratings files: order, pause, resume, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.candidates import read_candidates
from protocols.dry_run import ManualClock, SilentPresenter
from protocols.engine import Phase
from protocols.rating import RatingEngine, open_rating, plan_rating, rating_order
from protocols.ratings_file import RatingsError, read_rating_files, read_ratings
from tests.protocols.rating_study import TrueClip, simulate_ratings, write_library

CLIPS = [TrueClip(f"c{i}", e, 5.0, 5.0, hits=2, duration=2.0)
         for i, e in enumerate(("happiness", "sadness", "fear", "anger"))]


@pytest.fixture
def candidates(tmp_path: Path):
    files = {c.emotion: f"{c.emotion}.mp4" for c in CLIPS}
    return read_candidates(write_library(tmp_path, CLIPS, files, neutral=("n.mp4", 3.0)))


def run_clip(engine: RatingEngine, clock: ManualClock, answer: tuple | None) -> None:
    """SPACE on the ready screen, the clip plays 2 s, then an answer (or a timeout)."""
    assert engine.phase is Phase.READY
    engine.key("space")
    engine.clip_started(clock.advance(0.1))
    engine.clip_finished(clock.advance(2.0))
    assert engine.phase is Phase.SELF_REPORT
    clock.advance(1.5)
    if answer is None:
        engine.tick(clock.advance(engine.report_s))
    else:
        engine.answer(*answer)


def test_order_is_seeded_per_rater_and_stored(candidates, tmp_path: Path) -> None:
    one = plan_rating(candidates, "R01", tmp_path / "out")
    assert set(one.header.order) == {"c0", "c1", "c2", "c3"}  # the neutral clip is not rated
    assert one.header.order == plan_rating(candidates, "R01", tmp_path / "out").header.order
    orders = {plan_rating(candidates, f"R{i:02d}", tmp_path / "out").header.order
              for i in range(10)}
    assert len(orders) > 1
    assert rating_order(["a", "b", "c"], 7) == rating_order(["c", "a", "b"], 7)
    open_rating(one)
    assert read_ratings(one.path).header == one.header  # order and seed are in the file


def test_a_session_writes_every_answer_and_resumes_after_an_abort(candidates,
                                                                  tmp_path: Path) -> None:
    clock = ManualClock()
    plan = plan_rating(candidates, "R01", tmp_path)
    engine = RatingEngine(plan, open_rating(plan), SilentPresenter(), clock=clock)
    engine.start()
    engine.key("space")
    run_clip(engine, clock, ("happiness", 7, 3))
    run_clip(engine, clock, None)  # no answer in time: a missing answer
    engine.key("space")
    engine.abort()  # the third clip was playing: it stays unrated
    rows = read_ratings(plan.path).rows
    first, second = plan.header.order[:2]
    assert rows[first].answered and (rows[first].emotion, rows[first].valence,
                                     rows[first].arousal) == ("happiness", 7, 3)
    assert rows[first].rt_s == pytest.approx(1.5)
    assert rows[second].status == "timeout" and rows[second].valence is None
    again = plan_rating(candidates, "R01", tmp_path)
    assert again.header == plan.header and again.done == {first, second}
    presenter = SilentPresenter()
    engine = RatingEngine(again, open_rating(again), presenter, clock=clock)
    engine.start()
    engine.key("space")
    for _ in range(2):
        run_clip(engine, clock, ("fear", 2, 8))
    assert engine.phase is Phase.FINISHED and presenter.calls[-1] == "finish"
    rows = read_ratings(plan.path).rows
    assert [rows[c].position for c in plan.header.order] == [1, 2, 3, 4]


def test_pause_waits_for_the_answer_and_resume_continues(candidates, tmp_path: Path) -> None:
    clock = ManualClock()
    plan = plan_rating(candidates, "R02", tmp_path)
    engine = RatingEngine(plan, open_rating(plan), SilentPresenter(), clock=clock)
    engine.start()
    engine.key("space")
    engine.key("space")
    engine.pause()  # during the clip
    assert engine.phase is Phase.STIMULUS
    engine.clip_started(clock.advance(0.1))
    engine.clip_finished(clock.advance(2.0))
    engine.answer("anger", 3, 6)
    assert engine.phase is Phase.PAUSED and engine.rated == 1
    engine.key("space")  # the rater cannot leave the pause
    assert engine.phase is Phase.PAUSED
    engine.resume()
    assert engine.phase is Phase.READY


def test_a_clip_that_does_not_play_is_recorded_without_answers(candidates,
                                                               tmp_path: Path) -> None:
    clock = ManualClock()
    plan = plan_rating(candidates, "R03", tmp_path)
    engine = RatingEngine(plan, open_rating(plan), SilentPresenter(), clock=clock)
    engine.start()
    engine.key("space")
    engine.key("space")
    engine.tick(clock.advance(engine.clip_grace_s + 0.1))
    assert engine.phase is Phase.READY
    assert read_ratings(plan.path).rows[plan.header.order[0]].status == "clip_error"


BAD_ROWS = [
    ("clip", "c_unknown", "unknown clip id 'c_unknown'"),
    ("valence", "12", "valence '12' is outside 1..9"),
    ("arousal", "0", "arousal '0' is outside 1..9"),
    ("emotion", "joy", "emotion 'joy' is not one of"),
]


@pytest.mark.parametrize(("column", "value", "message"), BAD_ROWS)
def test_bad_rows_are_named_by_file_and_line(tmp_path: Path, column: str, value: str,
                                             message: str) -> None:
    (path,) = simulate_ratings(tmp_path, CLIPS, 1)
    lines = path.read_text(encoding="utf-8").splitlines()
    row = 9  # 6 header lines, the column line, then the rows
    cells = lines[row - 1].split(",")
    cells[["rater", "position", "clip", "status", "emotion", "valence", "arousal"]
          .index(column)] = value
    lines[row - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RatingsError, match=rf"{path}:{row}: {message}"):
        read_ratings(path, {c.id for c in CLIPS})


def test_a_clip_rated_twice_and_a_duplicate_rater_are_named(tmp_path: Path) -> None:
    (path,) = simulate_ratings(tmp_path, CLIPS, 1)
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, lines[7]]) + "\n", encoding="utf-8")
    with pytest.raises(RatingsError, match=rf"{path}:{len(lines) + 1}: rater 'R01' rated "
                                           r"clip '\w+' twice \(first at line 8\)"):
        read_ratings(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    copy = tmp_path / "copy" / "ratings_R01.csv"
    copy.parent.mkdir()
    copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(RatingsError, match=rf"{copy}:2: rater 'R01' also rated in {path}"):
        read_rating_files([path, copy], {c.id for c in CLIPS})


def test_a_bad_rater_id_is_refused(candidates, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"rater ID '\.\./x' is not usable"):
        plan_rating(candidates, "../x", tmp_path)
