"""Participant and reminder displays, offscreen: real clip playback, keys, countdown, prompt."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtGui import QGuiApplication

from app.participant.reminder import ReminderWindow
from app.participant.session import ParticipantSession
from app.participant.window import ParticipantWindow, key_name
from core.clock import local_clock
from protocols.demo_stimuli import ensure_demo_stimuli, write_clip
from protocols.engine import Phase
from protocols.loader import load_protocol
from protocols.model import Protocol
from protocols.sinks import MemorySink

RED = (0, 0, 255)  # BGR


@pytest.fixture(scope="module")
def red_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 s, 30 fps red clip."""
    return write_clip(tmp_path_factory.mktemp("clips") / "red.mp4", 1.0, colour=RED)


@pytest.fixture
def window(qtbot) -> ParticipantWindow:
    win = ParticipantWindow("How did you feel?")
    qtbot.addWidget(win)
    win.resize(800, 600)
    win.show()
    return win


def test_window_plays_a_clip_to_its_end_and_reports_onset_and_offset(
        qtbot, window: ParticipantWindow, red_clip: Path) -> None:
    onsets: list[float] = []
    window.clipStarted.connect(onsets.append)
    asked = local_clock()
    with qtbot.waitSignal(window.clipFinished, timeout=30000) as finished:
        window.play_clip(red_clip, "stimulus")
        assert window.page == "video" and onsets == []  # nothing shown at the request
        qtbot.waitUntil(lambda: bool(onsets), timeout=20000)
        assert window.video.image is not None  # the onset came with a painted frame
        shot = window.grab().toImage()
        colour = shot.pixelColor(shot.width() // 2, shot.height() // 3)
        assert colour.red() > 200 and colour.green() < 60 and colour.blue() < 60
    offset = finished.args[0]
    assert len(onsets) == 1 and asked < onsets[0] < offset
    # Played in real time to its end (a busy machine may drop late frames, or end late).
    assert offset - onsets[0] >= 1.0 - 0.35
    assert window.player.frames_shown > 1
    assert not window.player.playing


def test_a_missing_clip_is_reported_not_hung_on(qtbot, window: ParticipantWindow,
                                                tmp_path: Path) -> None:
    with qtbot.waitSignal(window.clipFailed, timeout=2000) as failed:
        window.play_clip(tmp_path / "absent.mp4", "stimulus")
    assert "clip not found" in failed.args[0]


def test_self_report_answered_with_key_presses(qtbot, window: ParticipantWindow) -> None:
    keys: list[str] = []
    window.keyPressed.connect(lambda name, t: keys.append(name))
    window.show_self_report(25.0)
    assert window.page == "report"
    assert window.report.countdown.text() == "25 s"
    assert not window.report.done.isEnabled()
    for key in (Qt.Key.Key_Right, Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_7):
        qtbot.keyClick(window, key)
    assert (window.report.form.emotion, window.report.form.valence) == ("surprise", 7)
    assert window.report.buttons[1].isChecked()
    assert window.report.scales["valence"].value == 7
    qtbot.keyClick(window, Qt.Key.Key_Enter)  # arousal still missing: focus goes there
    assert window.report.form.row == 2
    qtbot.keyClick(window, Qt.Key.Key_2)
    assert window.report.done.isEnabled()
    with qtbot.waitSignal(window.answered, timeout=1000) as answered:
        qtbot.keyClick(window, Qt.Key.Key_Return)
    assert answered.args == ["surprise", 7, 2]
    assert keys == ["right", "right", "down", "7", "enter", "2", "enter"]
    qtbot.keyClick(window, Qt.Key.Key_1)  # the form is closed now
    assert window.report.form.answer() == ("surprise", 7, 2)


def test_self_report_by_mouse(qtbot, window: ParticipantWindow) -> None:
    window.show_self_report(25.0)
    qtbot.mouseClick(window.report.buttons[6], Qt.MouseButton.LeftButton)
    for row, value in (("valence", 3), ("arousal", 9)):
        scale = window.report.scales[row]
        centre = scale.cell(value).center()
        qtbot.mouseClick(scale, Qt.MouseButton.LeftButton,
                         pos=QPoint(int(centre.x()), int(centre.y())))
    with qtbot.waitSignal(window.answered, timeout=1000) as answered:
        qtbot.mouseClick(window.report.done, Qt.MouseButton.LeftButton)
    assert answered.args == ["contempt", 3, 9]


def test_countdown_runs_down(qtbot, window: ParticipantWindow) -> None:
    window.show_self_report(0.3)
    qtbot.waitUntil(lambda: window.report.countdown.text() == "0 s", timeout=10000)
    assert window.report.remaining() == 0.0


def test_reminder_window_shows_and_hides(qtbot) -> None:
    reminder = ReminderWindow()
    qtbot.addWidget(reminder)
    reminder.place(0, full_screen=True)
    screen = QGuiApplication.primaryScreen()
    assert reminder.isFullScreen() and reminder.geometry() == screen.geometry()
    assert not reminder.showing
    with qtbot.waitSignal(reminder.shown, timeout=1000):
        reminder.show_reminder("Neutral face - stay still", 0.3)
    assert reminder.showing and reminder.prompt.text() == "Neutral face - stay still"
    with qtbot.waitSignal(reminder.hidden, timeout=10000) as hidden:
        pass
    assert not reminder.showing
    reminder.show_reminder("again", 0.2)
    assert reminder.showing and reminder.count == 2
    qtbot.waitUntil(lambda: not reminder.showing, timeout=10000)
    assert hidden.args[0] > 0


def test_participant_window_fills_the_chosen_screen(qtbot) -> None:
    window = ParticipantWindow("How did you feel?")
    qtbot.addWidget(window)
    window.place(0)
    window.show_self_report(25.0)  # the form fits a small screen too
    assert window.isFullScreen()
    assert window.geometry() == QGuiApplication.screens()[0].geometry()


@pytest.mark.parametrize("kind", [ParticipantWindow, ReminderWindow])
def test_escape_leaves_a_full_screen_window_after_confirmation(qtbot, kind: type) -> None:
    window = kind()
    qtbot.addWidget(window)
    window.place(0, full_screen=True)
    questions: list[str] = []
    answers = [False, True]
    window.confirm = lambda title, text: questions.append(title) or answers.pop(0)
    keys: list[str] = []
    if kind is ParticipantWindow:
        window.keyPressed.connect(lambda name, when: keys.append(name))
    qtbot.keyClick(window, Qt.Key.Key_Escape)  # answered No: still full screen
    assert window.isFullScreen() and questions == ["Leave full screen?"]
    qtbot.keyClick(window, Qt.Key.Key_Escape)  # answered Yes
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=5000)
    assert window.isVisible() and len(questions) == 2
    qtbot.keyClick(window, Qt.Key.Key_Escape)  # a normal window: no question
    assert len(questions) == 2
    if kind is ParticipantWindow:  # only the last Escape was the participant's key press
        assert keys == ["escape"]


def test_key_names() -> None:
    assert key_name(Qt.Key.Key_Space.value, " ") == "space"
    assert key_name(Qt.Key.Key_5.value, "5") == "5"
    assert key_name(Qt.Key.Key_A.value, "A") == "a"
    assert key_name(Qt.Key.Key_F1.value, "") == f"key{Qt.Key.Key_F1.value}"


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> Protocol:
    """The demo protocol with 0.4 s clips and short timings, for a real run in seconds.

    The 1.5 s form leaves time to answer on a busy machine; the 10 s clip grace only catches
    a clip that never starts."""
    folder = ensure_demo_stimuli(tmp_path_factory.mktemp("demo")).parent
    protocol = load_protocol("demo", folder)
    clips = {}
    for clip_id, clip in protocol.clips.items():
        path = write_clip(folder / f"tiny_{clip_id}.mp4", 0.4, label=clip.emotion)
        clips[clip_id] = dataclasses.replace(clip, path=path, duration=0.4)
    timings = dataclasses.replace(protocol.timings, self_report_s=1.5, neutral_s=0.25,
                                  clip_grace_s=10.0)
    reminder = dataclasses.replace(protocol.reminder, seconds=0.2)
    return dataclasses.replace(protocol, clips=clips, timings=timings, reminder=reminder)


@pytest.mark.slow
def test_a_whole_protocol_through_the_windows(qtbot, tiny_demo: Protocol) -> None:
    sink = MemorySink(local_clock)
    session = ParticipantSession(tiny_demo, sink, seed=3)
    qtbot.addWidget(session.window)
    qtbot.addWidget(session.reminder_window)
    session.window.resize(800, 600)
    session.window.show()
    engine = session.engine
    onsets: list[float] = []
    session.window.clipStarted.connect(onsets.append)

    def wait_for(phase: Phase) -> None:
        qtbot.waitUntil(lambda: engine.phase is phase, timeout=20000)

    def space() -> None:
        qtbot.keyClick(session.window, Qt.Key.Key_Space)

    session.start()
    wait_for(Phase.INSTRUCTIONS)
    space()
    wait_for(Phase.BLOCK_INTRO)  # the practice text
    space()
    for number in range(1, 5):
        wait_for(Phase.READY)
        assert engine.trial.plan.number == number
        space()
        if number == 2:
            wait_for(Phase.STIMULUS)
            session.reminder()
            assert session.reminder_window.showing
        wait_for(Phase.SELF_REPORT)
        if number == 3:
            wait_for(Phase.NEUTRAL)  # nobody answers: the form times out
        else:
            for key in (Qt.Key.Key_1, Qt.Key.Key_8, Qt.Key.Key_4, Qt.Key.Key_Return):
                qtbot.keyClick(session.window, key)
        if number == 1:
            wait_for(Phase.BLOCK_INTRO)  # the main block's text
            space()
    with qtbot.waitSignal(session.ended, timeout=20000) as ended:
        pass
    assert ended.args == ["finished"]
    assert not session.reminder_window.showing  # the prompt went away by itself

    assert [(t.trial, t.block, t.status, t.report_emotion, t.report_valence, t.reminders)
            for t in sink.trials] == [
        (1, "practice", "complete", "happiness", 8, 0),
        (2, "main", "complete", "happiness", 8, 1),
        (3, "main", "timeout", "", 0, 0),
        (4, "main", "complete", "happiness", 8, 0)]
    stimulus = [e for e in sink.events if e.kind == "stimulus_onset"]
    neutral = [e for e in sink.events if e.kind == "neutral_onset"]
    assert sorted(e.payload["at"] for e in stimulus + neutral) == onsets
    assert [e.code for e in stimulus] == [20] + [tiny_demo.codes.onset[
        tiny_demo.clips[c].emotion] for c in engine.order]
    for request, onset in zip([e for e in sink.events if e.kind == "stimulus_request"],
                              stimulus, strict=True):
        assert onset.payload["at"] > request.time  # onset = first frame, after the request
    reminder = next(e for e in sink.events if e.kind == "reminder")
    assert (reminder.code, reminder.trial) == (60, 2)
    timeout = next(e for e in sink.events if e.kind == "report_timeout")
    shown = next(e for e in sink.events if e.kind == "self_report" and e.trial == 3)
    assert timeout.time - shown.time >= 1.5 - 1e-3  # never before the form's time limit
    assert [s[0] for s in sink.segments] == ["trial001", "trial002", "trial003", "trial004"]
    assert sink.kinds()[-1] == "protocol_end"
    assert session.window.text.text() == tiny_demo.texts["end"]
