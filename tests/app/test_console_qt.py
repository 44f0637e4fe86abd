"""The console offscreen on the simulated lab: a whole session, reminders, analysis, screenshots."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QPushButton

from analysis import AnalysisCancelled
from app.console.app import run_console
from app.console.recording import FinishedSession
from app.console.setup import OK, CheckItem, SessionSetup
from app.console.window import ConsoleWindow
from drivers.sim.clocks import DeviceClock
from protocols.demo_stimuli import write_clip
from protocols.engine import Phase
from protocols.loader import resolve_protocol_path
from recordings.store.ground_truth import read_ground_truth
from recordings.store.reader import open_session

CLIPS = {"demo_happiness": ("happiness", 0.6), "demo_sadness": ("sadness", 0.6),
         "demo_neutral": ("neutral", 1.0)}


@pytest.fixture(scope="module")
def two_trials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A protocol file of 2 main trials with 0.6 s clips and a 1 s neutral clip."""
    return write_two_trials(tmp_path_factory.mktemp("two_trials"), CLIPS)


def write_two_trials(folder: Path, clips: dict[str, tuple[str, float]]) -> Path:
    """The demo protocol cut to 2 main trials (happiness, sadness) of the given clips."""
    manifest = ["[library]", 'name = "console test clips"', ""]
    for clip_id, (emotion, seconds) in clips.items():
        write_clip(folder / f"{clip_id}.mp4", seconds, label=emotion)
        manifest += ["[[clip]]", f'id = "{clip_id}"', f'file = "{clip_id}.mp4"',
                     f'emotion = "{emotion}"', "valence = 5.0", "arousal = 5.0",
                     f"duration = {seconds}", ""]
    (folder / "manifest.toml").write_text("\n".join(manifest), encoding="utf-8")
    text = resolve_protocol_path("demo").read_text(encoding="utf-8")
    for old, new in (
            ('name = "CMRR demo"', 'name = "console test"'),
            ('generate = "demo"', 'folder = "."'),
            ('[practice]\nclips = ["demo_practice"]\n', ""),
            ('emotions = ["happiness", "sadness", "disgust"]',
             'emotions = ["happiness", "sadness"]'),
            ('clips = ["demo_happiness", "demo_sadness", "demo_disgust"]',
             'clips = ["demo_happiness", "demo_sadness"]'),
            ("neutral_s = 3.0", "neutral_s = 1.0")):
        assert old in text
        text = text.replace(old, new)
    path = folder / "protocol.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def console(qtbot, sim_rigs) -> ConsoleWindow:
    window = ConsoleWindow(sim_rigs(seed=5, width=320, height=240))  # a small lab, 150 fps
    window.confirm = lambda title, text: True  # no modal dialog may wait for a person
    window.results_page.open_file = lambda path: True
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    return window


def fill_and_check(qtbot, console: ConsoleWindow, protocol: Path, out: Path) -> None:
    page = console.setup_page
    qtbot.keyClicks(page.participant, "P07")
    page.protocol.setCurrentText(str(protocol))
    page.output.setText(str(out))
    page.full_screen.setChecked(False)
    page.consent.setCurrentIndex(page.consent.findData(1))
    qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)
    # a hang guard: LSL resolution may take its full 5 s per stream, and starting the simulated
    # lab several more, on a machine loaded by other jobs
    qtbot.waitUntil(lambda: not console._checking, timeout=180000)
    preflight = console.preflight
    assert preflight is not None, console.statusBar().currentMessage()
    assert preflight.can_start, [str(i) for i in preflight.items]
    assert page.start_button.isEnabled()


def start(qtbot, console: ConsoleWindow) -> None:
    with qtbot.waitSignal(console.recordingStarted, timeout=10000):
        qtbot.mouseClick(console.setup_page.start_button, Qt.MouseButton.LeftButton)
    assert console.page == "recording"


def wait_phase(qtbot, console: ConsoleWindow, phase: Phase, timeout: int = 8000) -> None:
    assert console.session is not None
    engine = console.session.engine
    qtbot.waitUntil(lambda: engine.phase is phase, timeout=timeout)


def press(qtbot, console: ConsoleWindow, *keys: Qt.Key) -> None:
    """Key presses on the participant window at machine speed.

    Each press sends a trigger code, so the codes queue up in the box and leave it 20 ms
    apart (10 ms pulse + 10 ms gap), often the same code several times: sync must still pair
    each device edge with its own box edge (check_aligned).
    """
    assert console.session is not None
    for key in keys:
        qtbot.keyClick(console.session.window, key)


def test_setup_refuses_ids_that_break_paths(qtbot, console: ConsoleWindow) -> None:
    page = console.setup_page
    qtbot.keyClicks(page.participant, "P/07")
    assert "not usable as a folder name" in page.form_error.text()
    assert not page.start_button.isEnabled()
    page.participant.clear()
    qtbot.keyClicks(page.participant, "P07")
    assert page.form_error.text() == ""


@pytest.mark.slow
def test_a_complete_two_trial_session_through_the_console(
        qtbot, console: ConsoleWindow, two_trials: Path, tmp_path: Path) -> None:
    fill_and_check(qtbot, console, two_trials, tmp_path)
    levels = {i.group: i.level for i in console.preflight.items}  # type: ignore[union-attr]
    assert levels == {"protocol": "ok", "devices": "ok", "disk": "ok", "displays": "ok"}
    assert [r.state for r in console.devices.rows] == ["connected"] * 4
    start(qtbot, console)
    panel = console.protocol_panel
    wait_phase(qtbot, console, Phase.INSTRUCTIONS)
    press(qtbot, console, Qt.Key.Key_Space)
    answers = {1: (Qt.Key.Key_3, Qt.Key.Key_7, Qt.Key.Key_2), 2: (Qt.Key.Key_5, Qt.Key.Key_2,
                                                                 Qt.Key.Key_9)}
    live = console.live
    for number in (1, 2):
        wait_phase(qtbot, console, Phase.READY)
        qtbot.waitUntil(lambda n=number: panel.trial.text() == f"Trial {n} of 2", timeout=10000)
        if number == 2:
            # The live views run beside the recording (which loses nothing, below): the
            # preview keeps showing new camera frames and the plots fill. READY waits for
            # SPACE, so only a hang ends this wait; the display rate is a benchmark figure
            # (benchmarks/bench_console.py).
            shown = live.preview.frames_shown
            qtbot.waitUntil(lambda s=shown: live.preview.frames_shown >= s + 10
                            and len(live.rings["eeg"]) > 1000
                            and len(live.rings["physio"]) > 1000, timeout=30000)
        press(qtbot, console, Qt.Key.Key_Space)
        wait_phase(qtbot, console, Phase.SELF_REPORT)
        qtbot.waitUntil(lambda: panel.phase.text() == "self-report", timeout=10000)
        minutes, seconds = panel.countdown.text().split(":")
        assert 0 < 60 * int(minutes) + int(seconds) <= 15  # a 15 s form, counting down
        press(qtbot, console, *answers[number], Qt.Key.Key_Return)
        wait_phase(qtbot, console, Phase.NEUTRAL)
        if number == 1:
            qtbot.waitUntil(lambda: "trial 1: sadness, valence 7, arousal 2"
                            in panel.last_report.text(), timeout=10000)
    with qtbot.waitSignal(console.sessionFinished, timeout=30000) as finished:
        pass
    result: FinishedSession = finished.args[0]
    assert result is not None and result.problems == []
    assert console.page == "results" and result.folder.name in console.results_page.title.text()

    with open_session(result.folder) as session:
        meta = session.metadata
        assert (meta.participant, meta.consent_level, meta.protocol_name, meta.simulated) == (
            "P07", 1, "console test", True)
        assert session.complete
        assert {n.split("-")[-1] for n in session.streams} == {"SynAmps", "MP160", "TriggerBox"}
        eeg = next(s for n, s in session.streams.items() if n.endswith("SynAmps"))
        physio = next(s for n, s in session.streams.items() if n.endswith("MP160"))
        for stream in (eeg, physio):
            assert len(stream) > 3000 and stream.samples_lost == 0 and len(stream.gaps) == 0
        assert session.segment_names() == ["trial001", "trial002"]
        events = session.events
        kinds = [e.kind for e in events]
        for kind in ("protocol_start", "trial_start", "stimulus_onset", "stimulus_offset",
                     "self_report", "answer", "neutral_onset", "neutral_offset", "trial_end",
                     "protocol_end"):
            assert kind in kinds
        onsets = [e for e in events if e.kind == "stimulus_onset"]
        assert sorted(e.code for e in onsets) == [21, 23]  # happiness, sadness
        trials = session.trials
        assert [(t.trial, t.block, t.status) for t in trials] == [(1, "main", "complete"),
                                                                   (2, "main", "complete")]
        assert [(t.report_emotion, t.report_valence, t.report_arousal) for t in trials] == [
            ("sadness", 7, 2), ("anger", 2, 9)]
        answers_logged = [e.payload for e in events if e.kind == "answer"]
        assert [a["emotion"] for a in answers_logged] == ["sadness", "anger"]
        for name in session.segment_names():
            segment = session.segment(name)
            assert segment.complete and segment.dropped_frames == 0 and segment.lost_frames == 0
            np.testing.assert_array_equal(np.diff(segment.column("frame_number")), 1)
            assert segment.n_frames >= 0.6 * 150 * 0.9  # the clip's length at 150 fps
        assert sum(session.segment(n).dropped_frames for n in session.segment_names()) == 0
        check_aligned(session, onsets)

    assert "trial_end" in panel.log.toPlainText()


def check_aligned(session: Any, onsets: list[Any]) -> None:
    """After synchronize(), samples and frames sit at their true times on the session clock.

    The simulated lab's ground truth gives every device clock: a sample's true session time is
    t0 + physical_time(device_time); a frame's is t0 + (frame_number - 1) / fps.
    """
    from recordings.sync.storage import read_sync

    truth = read_ground_truth(session.file)
    sync = read_sync(session.file)
    for role in ("eeg", "physio"):
        stream = session.streams[truth["streams"][role]]
        clock = DeviceClock.from_dict(truth["clocks"][role])
        expected = truth["t0"] + clock.physical_time(stream.times("device_time")[:])
        error = np.abs(stream.times("session_time")[:] - expected)
        assert sync[stream.name]["method"] == "trigger"
        assert error.max() < 0.002, role  # sub-sample alignment: bound ~0.4 ms
    camera_error = []
    for name, onset in zip(session.segment_names(), onsets, strict=True):
        segment = session.segment(name)
        times = segment.column("session_time")
        expected = truth["t0"] + (segment.column("frame_number") - 1) / truth["camera"]["fps"]
        assert np.all(np.isfinite(times))
        camera_error.append(np.abs(times - expected))
        assert expected[0] < onset.time < expected[-1]  # the clip's onset is inside its segment
    error = np.concatenate(camera_error)
    camera = sync["camera"]
    if camera["method"] == "trigger":
        # Frames sit within the bound sync states: with few edges (0.6 s segments, a pulse per
        # second) that is up to half a frame, as an edge is only known between two latches.
        assert camera["bound_ms"] is not None and camera["bound_ms"] <= 1e3 / 150, camera
        assert error.max() < camera["bound_ms"] / 1e3 + 0.0002, camera
    else:
        # No pulse in any segment: receipt times, which carry the camera's latency and the
        # host's scheduling delays (tens of ms when the machine is busy).
        assert np.median(error) < 0.15, camera


@pytest.mark.slow
def test_a_full_disk_ends_the_protocol_and_the_results_say_why(
        qtbot, console: ConsoleWindow, two_trials: Path, tmpfs, monkeypatch) -> None:
    # 72 MiB: the 64 MiB space reserve and ~8 MiB, full within the first clip's frames. The
    # preflight would refuse such a disk; here it is told the session fits.
    monkeypatch.setattr("app.console.preflight.check_disk", lambda *args: CheckItem(
        "disk", "disk space", OK, "taken as fitting by the test"))
    out = tmpfs("72m")
    fill_and_check(qtbot, console, two_trials, out)
    finished: list[FinishedSession] = []
    console.sessionFinished.connect(finished.append)
    start(qtbot, console)
    for _ in range(600):  # the participant presses SPACE until the disk fills (hang guard)
        if finished:
            break
        engine = console.session.engine if console.session is not None else None
        if engine is not None and engine.phase in (Phase.INSTRUCTIONS, Phase.READY):
            press(qtbot, console, Qt.Key.Key_Space)
        qtbot.wait(100)
    (result,) = finished
    assert any(p.startswith("recording stopped: disk full") for p in result.problems)
    assert result.summary["stop_reason"] == "disk full" and not result.summary["complete"]
    assert "stopped: disk full" in console.results_page.summary.toPlainText()
    assert "disk full" in console.results_page.message.text()
    with open_session(result.folder) as session:
        assert session.closed_cleanly
        assert [t.status for t in session.trials] in ([], ["aborted"])


@pytest.mark.slow
def test_the_reminder_button_and_key_during_a_trial(
        qtbot, console: ConsoleWindow, two_trials: Path, tmp_path: Path) -> None:
    fill_and_check(qtbot, console, two_trials, tmp_path)
    start(qtbot, console)
    session = console.session
    assert session is not None
    panel = console.protocol_panel
    reminder_window = session.reminder_window
    assert not panel.reminder.isEnabled() or session.engine.phase is not Phase.IDLE
    wait_phase(qtbot, console, Phase.INSTRUCTIONS)
    press(qtbot, console, Qt.Key.Key_Space)
    wait_phase(qtbot, console, Phase.READY)
    press(qtbot, console, Qt.Key.Key_Space)
    wait_phase(qtbot, console, Phase.STIMULUS)
    with qtbot.waitSignal(reminder_window.shown, timeout=10000):
        qtbot.mouseClick(panel.reminder, Qt.MouseButton.LeftButton)
    assert reminder_window.showing and reminder_window.isVisible()
    assert reminder_window.prompt.text() == "Neutral face - stay still"
    qtbot.waitUntil(lambda: panel.reminders.text().startswith("reminders in this trial: 1"),
                    timeout=10000)
    with qtbot.waitSignal(reminder_window.hidden, timeout=10000):
        pass  # the prompt goes away by itself after reminder.seconds (1.5 s)
    assert not reminder_window.showing
    wait_phase(qtbot, console, Phase.SELF_REPORT)
    console.activateWindow()
    qtbot.waitUntil(console.isActiveWindow, timeout=10000)
    with qtbot.waitSignal(reminder_window.shown, timeout=10000):
        qtbot.keyClick(console, Qt.Key.Key_R)  # the keyboard shortcut
    qtbot.waitUntil(lambda: panel.reminders.text().startswith("reminders in this trial: 2"),
                    timeout=10000)
    console.confirm = lambda title, text: False  # "no": the session goes on
    qtbot.mouseClick(panel.abort, Qt.MouseButton.LeftButton)
    assert not session.engine.done
    console.confirm = lambda title, text: True
    with qtbot.waitSignal(console.sessionFinished, timeout=30000) as finished:
        qtbot.mouseClick(panel.abort, Qt.MouseButton.LeftButton)
    assert reminder_window.count == 2
    with open_session(finished.args[0].folder) as recorded:
        reminders = [e for e in recorded.events if e.kind == "reminder"]
        assert [(e.code, e.trial, e.payload["phase"]) for e in reminders] == [
            (60, 1, "stimulus"), (60, 1, "self_report")]
        (trial,) = recorded.trials
        assert (trial.status, trial.reminders) == ("aborted", 2)
        assert any(e.kind == "abort" and e.code == 8 for e in recorded.events)


@pytest.mark.slow
def test_screenshots_of_setup_recording_and_results(
        qtbot, console: ConsoleWindow, two_trials: Path, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    opened: list[Path] = []
    console.results_page.open_file = lambda path: opened.append(path) or True
    fill_and_check(qtbot, console, two_trials, tmp_path / "sessions")
    assert console.grab().save(str(shots / "setup.png"))
    start(qtbot, console)
    wait_phase(qtbot, console, Phase.INSTRUCTIONS)
    press(qtbot, console, Qt.Key.Key_Space)
    wait_phase(qtbot, console, Phase.READY)
    press(qtbot, console, Qt.Key.Key_Space)
    wait_phase(qtbot, console, Phase.SELF_REPORT)
    qtbot.mouseClick(console.protocol_panel.reminder, Qt.MouseButton.LeftButton)
    qtbot.wait(1500)  # plots fill, the countdown runs
    assert console.grab().save(str(shots / "recording.png"))
    press(qtbot, console, Qt.Key.Key_4, Qt.Key.Key_6, Qt.Key.Key_3, Qt.Key.Key_Return)
    wait_phase(qtbot, console, Phase.READY)
    with qtbot.waitSignal(console.sessionFinished, timeout=30000) as finished:
        qtbot.mouseClick(console.protocol_panel.abort, Qt.MouseButton.LeftButton)
    folder = finished.args[0].folder
    with qtbot.waitSignal(console.analysisDone, timeout=30000) as done:
        console.analyze_action.trigger()
    result = done.args[0]  # the real analysis.pipeline on the recorded session
    assert result.summary["sessions"] == 1
    assert "leave-one-subject-out" in result.summary["recognition"]["skipped"]
    assert set(result.tables) == {"spotting", "concordance"}
    assert opened == [result.report] and result.report.parent.parent.name == "analysis"
    assert console.page == "results"
    tabs = [console.results_page.tabs.tabText(i) for i in range(console.results_page.tabs.count())]
    assert tabs[0] == "Summary" and "concordance" in tabs
    from PyQt6.QtWidgets import QLabel, QTableWidget

    for index in range(1, console.results_page.tabs.count()):  # content, or why there is none
        tab = console.results_page.tabs.widget(index)
        if isinstance(tab, QTableWidget):
            assert tab.rowCount() > 0, tabs[index]
        elif isinstance(tab, QLabel):
            assert tab.text().startswith("No "), tabs[index]
    assert tabs[-1] == "Plots"
    console.results_page.tabs.setCurrentIndex(1)
    assert console.grab().save(str(shots / "results.png"))
    for name in ("setup", "recording", "results"):
        png = shots / f"{name}.png"
        assert png.stat().st_size > 10_000, name
    if os.environ.get("MELAB_DOCS_SCREENSHOTS"):  # regenerate docs/console*.png on request
        docs = Path(__file__).resolve().parents[2] / "docs"
        shutil.copyfile(shots / "recording.png", docs / "console.png")
        shutil.copyfile(shots / "results.png", docs / "console-results.png")
    assert folder.is_dir()


def test_analysis_can_be_cancelled(qtbot, console: ConsoleWindow, tmp_path: Path) -> None:
    started = threading.Event()

    def slow(paths: list[Path], out_dir: Path, *, progress: Any, cancel: threading.Event) -> Any:
        progress(0.1, "working")
        started.set()
        cancel.wait(10)
        raise AnalysisCancelled("analysis cancelled")  # what analysis.pipeline does

    console.analyze_function = slow
    with qtbot.waitSignal(console.analysisDone, timeout=15000) as done:
        console.analyze_session(tmp_path)
        qtbot.waitUntil(started.is_set, timeout=5000)
        qtbot.waitUntil(lambda: console.analysis.dialog is not None
                        and console.analysis.dialog.value() == 10, timeout=5000)
        cancel = console.analysis.dialog.findChild(QPushButton)
        qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)  # the dialog's Cancel button
    assert done.args[0] == "Analysis cancelled."


@pytest.mark.slow
def test_headless_console_with_the_autopilot_runs_the_protocol_and_quits(
        qtbot, two_trials: Path, tmp_path: Path, sim_rigs) -> None:
    """What `melab demo` does without a display, on the 2-trial protocol."""
    setup = SessionSetup("P08", protocol=str(two_trials), output=str(tmp_path),
                         full_screen=False)
    run = run_console(sim_rigs(seed=5, width=320, height=240), setup, autostart=True,
                      autopilot=True, quit_when_done=True, remind_in_trial=1)
    assert run.problems == [] and run.finished is not None
    info = run.finished.summary
    assert (info["participant"], info["trials"], info["dropped_frames"]) == ("P08", 2, 0)
    assert info["event_kinds"]["answer"] == 2 and info["event_kinds"]["reminder"] == 1
    assert "Sync:" in run.finished.summary_text


@pytest.mark.slow
def test_the_demo_analyses_its_own_session_with_expressions_in_the_clips(
        qtbot, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`melab demo` (run_demo) on 2 trials of 3 s clips: the reactive simulated participant
    shows MEs inside the recorded stimulus segments, and the analysis printed at the end
    scores spotting against them."""
    import json

    from app.cli.demo import run_demo
    from app.console.analysis import default_out_dir

    clips = {"demo_happiness": ("happiness", 3.0), "demo_sadness": ("sadness", 3.0),
             "demo_neutral": ("neutral", 1.0)}
    (tmp_path / "clips").mkdir()
    protocol = write_two_trials(tmp_path / "clips", clips)
    folder = run_demo(tmp_path / "out", seed=3, autopilot=True, protocol=str(protocol))
    assert folder is not None
    printed = capsys.readouterr().out

    with open_session(folder) as session:
        truth = read_ground_truth(session.file)
        assert truth is not None and truth["reactive"]["late_samples"] == {"eeg": 0, "physio": 0}
        onsets = [e for e in session.events if e.kind == "stimulus_onset"]
        assert [e.payload["emotion"] for e in onsets] == [
            c["emotion"] for c in truth["reactive"]["clips"]]
        in_segments = 0
        for name in session.segment_names():
            frames = session.segment(name).column("frame_number")
            mine = [e for e in truth["scenario"]["expressions"]
                    if frames[0] <= e["onset_frame"] and e["offset_frame"] <= frames[-1]]
            assert any(e["kind"] == "micro" for e in mine), name  # >= 1 ME in every clip
            in_segments += sum(e["kind"] == "micro" for e in mine)
        # Every expression of the participant lies in a recorded clip.
        assert in_segments == sum(e["kind"] == "micro" for e in truth["scenario"]["expressions"])

    summary = json.loads((default_out_dir(folder) / "spotting_summary.json").read_text())
    assert summary["micro_tp"] + summary["micro_fn"] == in_segments >= 2
    assert summary["micro_recall"] > 0  # the spotter finds the rendered MEs
    assert f"Ground truth: {in_segments} micro-, " in printed
    assert ("Recognition skipped: leave-one-subject-out needs >= 2 subjects, have 1"
            in printed)
    assert (default_out_dir(folder) / "report.html").exists()


@pytest.mark.slow
def test_the_readme_demo_command_runs_end_to_end(tmp_path: Path) -> None:
    """`melab demo` as `make demo` runs it: the packaged demo protocol, offscreen, then the
    analysis of its own session (about 45 s)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "MELAB_STIMULI_CACHE": str(tmp_path / "stimuli")}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "app.cli", "demo", "--out", str(tmp_path / "s")],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (session,) = [p for p in (tmp_path / "s").iterdir() if (p / "session.h5").exists()]
    assert (tmp_path / "s" / "analysis" / session.name / "report.html").is_file()
    assert "Ground truth: " in done.stdout and "with CCF" in done.stdout
    assert "Recognition skipped: " in done.stdout
