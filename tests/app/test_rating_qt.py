"""A 3-clip rating session through the rating console (offscreen) to its ratings file."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from app.console.autopilot import QT_KEYS, participant_keys
from app.console.rating import RatingConsole
from core.expressions import EMOTIONS
from protocols.candidates import read_candidates
from protocols.demo_stimuli import write_clip
from protocols.engine import Phase
from protocols.rating import plan_rating
from protocols.ratings_file import read_ratings

CLIPS = {"hap": "happiness", "sad": "sadness", "fea": "fear"}


@pytest.fixture
def library(tmp_path: Path) -> Path:
    lines = []
    for clip_id, emotion in CLIPS.items():
        write_clip(tmp_path / f"{clip_id}.mp4", 0.5, label=emotion)
        lines += ["[[clip]]", f'id = "{clip_id}"', f'file = "{clip_id}.mp4"',
                  f'emotion = "{emotion}"', "duration = 0.5", ""]
    path = tmp_path / "candidates.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_a_rating_session_runs_to_its_ratings_file(qtbot, library: Path,
                                                   tmp_path: Path) -> None:
    plan = plan_rating(read_candidates(library), "R07", tmp_path / "ratings")
    console = RatingConsole(plan)
    qtbot.addWidget(console)
    console.show()
    qtbot.mouseClick(console.buttons["start"], Qt.MouseButton.LeftButton)
    engine, window = console.engine, console.session.window
    answers = []
    with qtbot.waitSignal(console.ended, timeout=30_000) as ended:
        step = 0
        while not engine.done:
            phase = engine.phase
            qtbot.waitUntil(lambda p=phase: engine.phase is not p or engine.phase in (
                Phase.INSTRUCTIONS, Phase.READY, Phase.SELF_REPORT), timeout=10_000)
            if engine.phase is not phase:
                continue
            if phase is Phase.SELF_REPORT:
                step += 1
                answers.append(participant_keys(phase, step))
            for name in participant_keys(phase, step):
                key = QT_KEYS.get(name) or Qt.Key(Qt.Key.Key_0.value + int(name))
                qtbot.keyClick(window, key)
            qtbot.waitUntil(lambda p=phase: engine.phase is not p, timeout=10_000)
    assert ended.args == ["finished"]
    assert console.status.text().startswith("3 of 3 clips rated")
    ratings = read_ratings(plan.path, set(CLIPS))
    assert [ratings.rows[c].position for c in plan.header.order] == [1, 2, 3]
    for clip_id, keys in zip(plan.header.order, answers, strict=True):
        row = ratings.rows[clip_id]
        assert row.answered
        assert (row.emotion, row.valence, row.arousal) == (
            EMOTIONS[int(keys[0]) - 1], int(keys[1]), int(keys[2]))
