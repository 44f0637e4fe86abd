"""Issue 16 in the console: resuming a crashed session, live sync health, EEG channel flags."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from app.console.autopilot import Autopilot
from app.console.model import ERROR
from app.console.window import ConsoleWindow
from core.clock import local_clock
from protocols.demo_stimuli import write_clip
from protocols.loader import resolve_protocol_path
from recordings.store.layout import FLUSH_INTERVAL_S
from recordings.store.links import session_chain, superseded_trials
from recordings.store.reader import open_session
from tests.conftest import unique_prefix

DEMO_CLIPS = {"demo_practice": "happiness", "demo_happiness": "happiness",
              "demo_sadness": "sadness", "demo_disgust": "disgust", "demo_neutral": "neutral"}


def write_short_demo(folder: Path, seconds: float = 0.6) -> Path:
    """The demo protocol as it is (a practice trial and 3 main trials), on short clips."""
    manifest = ["[library]", 'name = "short demo clips"', ""]
    for clip_id, emotion in DEMO_CLIPS.items():
        length = 1.0 if emotion == "neutral" else seconds
        write_clip(folder / f"{clip_id}.mp4", length, label=emotion)
        manifest += ["[[clip]]", f'id = "{clip_id}"', f'file = "{clip_id}.mp4"',
                     f'emotion = "{emotion}"', "valence = 5.0", "arousal = 5.0",
                     f"duration = {length}", ""]
    (folder / "manifest.toml").write_text("\n".join(manifest), encoding="utf-8")
    text = resolve_protocol_path("demo").read_text(encoding="utf-8")
    for old, new in (('generate = "demo"', 'folder = "."'), ("neutral_s = 3.0", "neutral_s = 1.0")):
        assert old in text
        text = text.replace(old, new)
    path = folder / "protocol.toml"
    path.write_text(text, encoding="utf-8")
    return path


def crash_at_trial(protocol: Path, out: Path, trial: int) -> Path:
    """Record with the console in a subprocess and SIGKILL it (its whole process group: the
    simulated lab's socat too) once trial `trial`'s clip is on screen."""
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.app.crash_console", str(protocol), str(out),
         unique_prefix("crash")], cwd=repo, env=env, stdout=subprocess.PIPE, text=True,
        start_new_session=True)
    folder = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends when the process does (a hang is the timeout's)
            if line.startswith("FOLDER "):
                folder = Path(line.split(" ", 1)[1].strip())
            if line.strip() == f"EVENT stimulus_onset {trial}":
                # What the writers still hold reaches the file within FLUSH_INTERVAL_S; the
                # trial itself lasts longer (clip, self-report, neutral clip).
                time.sleep(2 * FLUSH_INTERVAL_S)
                break
        else:
            pytest.fail("the console ended before the trial was reached")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert folder is not None
    return folder


@pytest.mark.slow
def test_a_crashed_session_is_resumed_from_the_console(
        qtbot, sim_rigs, tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    protocol = write_short_demo(clips)
    out = tmp_path / "sessions"
    crashed = crash_at_trial(protocol, out, trial=3)
    with open_session(crashed) as session:
        assert not session.complete and session.stop_reason == ""  # a crash, not a stop
        before = {t.trial for t in session.trials}
        shown_before = {e.payload["clip"] for e in session.events
                        if e.kind == "stimulus_onset" and e.trial in before}
    assert before == {1, 2}

    window = ConsoleWindow(sim_rigs(seed=5, width=320, height=240))
    questions: list[str] = []
    window.confirm = lambda title, text: questions.append(text) or True
    qtbot.addWidget(window)
    window.show()
    page = window.setup_page
    page.protocol.setCurrentText(str(protocol))
    page.full_screen.setChecked(False)
    plan = window.resumer.choose(crashed)
    assert plan is not None and plan.first_trial == 3 and plan.total == 4
    assert "Continue at session trial 3 of 4" in questions[0]
    assert page.participant.text() == "P11" and page.output.text() == str(out)
    qtbot.waitUntil(lambda: not window._checking, timeout=60000)
    assert window.preflight is not None and window.preflight.can_start
    with qtbot.waitSignal(window.recordingStarted, timeout=10000) as started:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    Autopilot(window.session, delay_s=0.2)
    # The protocol panel's plan: trials 1-2 done before the crash, 3-4 still to run.
    qtbot.waitUntil(lambda: [s for _, s in window.protocol_panel._plan][:2] == [
        "resumed", "resumed"], timeout=10000)
    assert window.protocol_panel.plan.count() == 4
    with qtbot.waitSignal(window.sessionFinished, timeout=90000) as finished:
        pass
    resumed = finished.args[0].folder
    assert resumed == started.args[0] and resumed != crashed and resumed.parent == out

    with open_session(resumed) as session:
        assert session.complete and session.metadata.resumes == crashed.name
        after = [t.trial for t in session.trials]
        shown_after = {e.payload["clip"] for e in session.events if e.kind == "stimulus_onset"}
        start = next(e for e in session.events if e.kind == "protocol_start")
    assert sorted(after) == [3, 4]
    assert sorted([*before, *after]) == [1, 2, 3, 4]  # every trial exactly once
    assert not shown_before & shown_after  # no clip of a finished trial is shown again
    assert start.payload["resumed"] and start.payload["finished"] == [1, 2]
    assert session_chain(resumed) == [crashed, resumed]
    assert superseded_trials([crashed, resumed]) == {crashed: {3, 4}}
    with open_session(crashed) as session:  # never written into again
        assert {t.trial for t in session.trials} == {1, 2} and session.stop_reason == ""


@pytest.mark.slow
def test_sync_health_turns_red_when_the_sync_train_stops_and_a_flat_channel_is_flagged(
        qtbot, sim_rigs, tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    protocol = write_short_demo(clips)
    window = ConsoleWindow(sim_rigs(seed=5, width=320, height=240, flat_eeg=("O1",)))
    window.confirm = lambda title, text: True
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    page = window.setup_page
    qtbot.keyClicks(page.participant, "P12")
    page.protocol.setCurrentText(str(protocol))
    page.output.setText(str(tmp_path / "sessions"))
    page.full_screen.setChecked(False)
    window.check()
    qtbot.waitUntil(lambda: window.preflight is not None and not window._checking,
                    timeout=60000)
    with qtbot.waitSignal(window.recordingStarted, timeout=10000):
        window.start()
    rows = lambda: {r.role: r for r in window.devices.rows}  # noqa: E731
    watched = ("eeg", "physio", "camera", "trigger")

    # Every device sees the train: edges, a running offset and its residual (>= 3 edges).
    qtbot.waitUntil(lambda: all("±" in rows()[r].sync and "LOST" not in rows()[r].sync
                                for r in ("eeg", "physio", "camera")), timeout=30000)
    assert "sync pulses received" in rows()["trigger"].sync

    eeg = window.live.eeg
    qtbot.waitUntil(lambda: "flat" in eeg.flags, timeout=15000)
    assert [eeg.labels[i] for i, f in enumerate(eeg.flags) if f == "flat"] == ["O1"]
    assert "flat: O1" in eeg.flags_label.text()
    window.grab().save(str(tmp_path / "recording.png"))

    window.recording.rig.trigger.stop_sync()
    qtbot.waitUntil(lambda: all(rows()[r].level == ERROR for r in watched), timeout=20000)
    health = window.recording.sync_health(local_clock())
    for role in watched:
        assert health[role].lost and health[role].since_last > 3.0, health[role]
        assert "LOST" in rows()[role].sync
    assert rows()["trigger"].state == "sync train stopped"
    with qtbot.waitSignal(window.sessionFinished, timeout=30000):
        window.session.abort("test")
