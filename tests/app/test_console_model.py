"""The console's Qt-free parts: set-up checks, device rows, warnings, progress, taps, analysis."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis import AnalysisCancelled
from app.console.analysis import (
    default_out_dir,
    read_result,
    run_analysis,
    summary_lines,
    table_columns,
)
from app.console.autopilot import participant_keys
from app.console.model import (
    ERROR,
    OK,
    WARN,
    StatusWatcher,
    WarningBoard,
    age_text,
    connection_rows,
    recording_rows,
)
from app.console.preview import preview_rgb, preview_step
from app.console.progress import ProtocolTracker, countdown_text, format_event
from app.console.setup import (
    SessionSetup,
    check_protocol,
    free_space_text,
    output_problem,
    protocol_seconds,
    setup_problems,
)
from app.console.sink import ObservingSink
from app.console.taps import ChunkTap, LatestFrame, StreamRing
from app.rig import connect_all
from core.devices import CameraInfo, CameraLosses, Chunk, Frame, StreamInfo
from drivers.imaging import mosaic
from protocols.dry_run import ManualClock, SilentPresenter
from protocols.engine import Phase, ProtocolEngine
from protocols.loader import load_protocol
from protocols.sinks import MemorySink
from recordings.recorder import Recorder, RecorderStatus, StreamLiveStatus
from recordings.store.metadata import Event, SessionMetadata

# --- set-up -----------------------------------------------------------------------------


def good_setup(tmp_path: Path, **changes: Any) -> SessionSetup:
    values = {"participant": "P07", "protocol": "demo", "output": str(tmp_path / "out"),
              **changes}
    return SessionSetup(**values)


@pytest.mark.parametrize("participant", ["", "P/07", "../P07", ".hidden", "P 07", "P07\\x",
                                         "P:07", "Ü07", "x" * 65])
def test_participant_ids_that_break_paths_are_refused(tmp_path: Path, participant: str) -> None:
    problems = setup_problems(good_setup(tmp_path, participant=participant))
    assert len(problems) == 1 and "not usable as a folder name" in problems[0]


def test_a_valid_form_has_no_problems(tmp_path: Path) -> None:
    assert setup_problems(good_setup(tmp_path, participant="P-07_b.2")) == []


def test_session_consent_protocol_and_output_are_checked(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    problems = setup_problems(good_setup(tmp_path, session=0, consent_level=3, protocol=" ",
                                         output=str(tmp_path / "file")))
    assert len(problems) == 4
    assert "session number" in problems[0] and "consent" in problems[1]
    assert "protocol" in problems[2] and "is a file" in problems[3]
    assert output_problem("") == "choose an output folder"
    assert output_problem(str(tmp_path / "new" / "deeper")) == ""  # created at Start


@pytest.fixture(scope="module")
def demo_protocol(tmp_path_factory: pytest.TempPathFactory):
    from protocols.demo_stimuli import ensure_demo_stimuli

    folder = ensure_demo_stimuli(tmp_path_factory.mktemp("demo")).parent
    return load_protocol("demo", folder), folder


def test_protocol_check_and_planned_length(tmp_path: Path, demo_protocol) -> None:
    protocol, folder = demo_protocol
    loaded, items = check_protocol(good_setup(tmp_path, stimuli=str(folder)))
    assert loaded is not None and [i.level for i in items] == [OK]
    assert "1 practice + 3 main trials" in items[0].detail
    session_s, video_s = protocol_seconds(protocol)
    # 3 s practice + 3 x 4 s clips, each + 15 s report + 3 s neutral + 10 s overhead, + 60 s
    assert session_s == pytest.approx(15 + 4 * 28 + 60)
    assert video_s == pytest.approx(15 + 4 * 3.0)  # clips + grace (segment = stimulus)
    missing, items = check_protocol(good_setup(tmp_path, protocol=str(tmp_path / "no.toml")))
    assert missing is None and items and all(i.level == ERROR for i in items)


def test_disk_check_uses_the_recorders_plan(tmp_path: Path) -> None:
    from app.console.setup import check_disk

    class Stream:
        info = StreamInfo("s", "EEG", "s1", ("a",), ("",), 1000.0)

    class Camera:
        info = CameraInfo("m", "1", 2048, 1088, "bayer_rg8", 150.0)

    planner = Recorder(tmp_path, SessionMetadata("P"), streams={"eeg": Stream()},  # type: ignore
                       camera=Camera())  # type: ignore[arg-type]
    assert check_disk(planner, 60.0, 10.0).level == OK
    huge = check_disk(planner, 60.0, 1e9)  # ~3e17 bytes of video cannot fit
    assert huge.level == ERROR and "does NOT fit" in huge.detail


def test_free_space_text() -> None:
    assert free_space_text(2 * 1024**3, 3725.0) == "2.0 GiB free, 1 h 02 min of recording left"
    assert free_space_text(1024**3, 95.0) == "1.0 GiB free, 1 min 35 s of recording left"
    assert free_space_text(10, float("inf")) == "10 B free"


# --- device panel and warnings ----------------------------------------------------------


def status(elapsed: float = 5.0, **changes: Any) -> RecorderStatus:
    streams = changes.pop("streams", [
        StreamLiveStatus("eeg", 5000, 1000.0, 0.012, True, 0),
        StreamLiveStatus("physio", 5000, 998.0, 0.011, True, 0)])
    values = {"elapsed": elapsed, "streams": streams, "frames": 750, "camera_fps": 150.0,
              "dropped_frames": 0, "lost_frames": 0, "queue_fill": 0.01,
              "disk_free": 10**12, "recording_time_left": 1e6, **changes}
    return RecorderStatus(**values)


NAMES = {"eeg": "SynAmps", "physio": "MP160", "camera": "cam", "trigger": "box"}
NOMINAL = {"eeg": 1000.0, "physio": 1000.0}


def test_recording_rows_show_state_rate_age_dropped_and_queue() -> None:
    rows = recording_rows(status(), NAMES, NOMINAL, 150.0, trigger=True)
    assert [r.role for r in rows] == ["eeg", "physio", "camera", "trigger"]
    eeg, _, camera, trigger = rows
    assert (eeg.name, eeg.state, eeg.rate, eeg.last_sample, eeg.dropped, eeg.queue) == (
        "SynAmps", "recording", "1000 / 1000 Hz", "12 ms", "0", "1%")
    assert camera.rate == "150 / 150 fps" and camera.dropped == "0 dropped, 0 lost"
    assert trigger.state == "sync pulses running"
    assert {r.level for r in rows} == {OK}


def test_rows_flag_outages_slow_streams_drops_and_a_full_queue() -> None:
    slow = status(streams=[StreamLiveStatus("eeg", 10, 500.0, float("nan"), False, 0),
                           StreamLiveStatus("physio", 10, 500.0, 0.01, True, 0)],
                  dropped_frames=3, camera_fps=149.0)
    eeg, physio, camera = recording_rows(slow, NAMES, NOMINAL, 150.0, trigger=False)
    assert eeg.level == ERROR and "no data" in eeg.state and eeg.last_sample == "-"
    assert physio.level == WARN and camera.level == ERROR
    early = recording_rows(status(elapsed=1.0, streams=slow.streams[1:]), NAMES, NOMINAL,
                           None, False)
    assert early[0].level == OK  # rates mean nothing in the first seconds
    full = recording_rows(status(queue_fill=0.8), NAMES, NOMINAL, 150.0, False)
    assert {r.level for r in full} == {WARN}


def test_connection_rows() -> None:
    rows = connection_rows({"eeg": "SynAmps", "camera": "cam", "trigger": "box"},
                           {"eeg": (True, "connected"), "camera": (False, "no camera found")})
    assert [(r.state, r.level) for r in rows] == [
        ("connected", OK), ("missing: no camera found", ERROR), ("not connected", "idle")]
    assert age_text(None) == "-" and age_text(12.5) == "12 s"


def test_warnings_stay_until_acknowledged_even_when_the_cause_is_gone() -> None:
    board = WarningBoard()
    watcher = StatusWatcher(board, planned_s=3600.0)
    watcher.update(status())
    assert board.active == []
    out = [StreamLiveStatus("eeg", 10, 0.0, 2.0, False, 0),
           StreamLiveStatus("physio", 10, 1000.0, 0.01, True, 0)]
    watcher.update(status(streams=out, dropped_frames=2, messages=["camera: hiccup"],
                          recording_time_left=600.0))
    assert [w.key for w in board.active] == ["camera-dropped", "out-eeg", "disk",
                                             "message-camera: hiccup"]
    watcher.update(status(dropped_frames=5, messages=["camera: hiccup"]))  # eeg is back
    dropped = board.active[0]
    assert dropped.count == 2 and "5 so far" in dropped.text
    assert len(board.active) == 4  # the outage warning stays although the stream is back
    board.acknowledge(dropped.id)
    assert "camera-dropped" not in [w.key for w in board.active]
    watcher.update(status(dropped_frames=6, messages=["camera: hiccup"]))
    assert board.active[-1].key == "camera-dropped" and board.active[-1].id != dropped.id
    board.acknowledge_all()
    assert board.active == []


def test_losses_and_queue_fill_raise_warnings() -> None:
    board = WarningBoard()
    watcher = StatusWatcher(board)
    lossy = [StreamLiveStatus("eeg", 10, 1000.0, 0.01, True, 40)]
    watcher.update(status(streams=lossy, lost_frames=7, queue_fill=0.6))
    assert sorted(w.key for w in board.active) == ["camera-lost", "lost-eeg", "queue"]


# --- protocol progress ------------------------------------------------------------------


def test_countdown_text() -> None:
    assert countdown_text(None) == ""
    assert countdown_text(24.2) == "0:25" and countdown_text(25.0) == "0:25"
    assert countdown_text(61) == "1:01" and countdown_text(-3) == "0:00"


def test_tracker_follows_trials_phases_countdowns_reports_and_reminders(demo_protocol) -> None:
    protocol, _ = demo_protocol
    clock = ManualClock(100.0)
    sink = ObservingSink(MemorySink(clock))
    tracker = ProtocolTracker()
    sink.event_listeners.append(tracker.on_event)
    engine = ProtocolEngine(protocol, sink, SilentPresenter(), seed=4, clock=clock)
    assert tracker.view(None, clock()).phase == "not started"
    engine.start()
    view = tracker.view(engine, clock())
    assert view.phase.startswith("instructions") and view.trial == "-" and view.can_pause
    engine.key("space")  # -> practice text
    engine.key("space")  # -> practice trial ready
    view = tracker.view(engine, clock())
    assert (view.trial, view.overall) == ("Practice 1 of 1", "session trial 1 of 4")
    engine.key("space")
    engine.clip_started(clock())
    clock.now += 1.2
    view = tracker.view(engine, clock())
    assert view.phase == "emotional clip" and view.countdown == "0:02"  # 3 s clip
    assert view.countdown_label == "clip ends in"
    engine.reminder()
    engine.reminder()
    engine.pause()
    view = tracker.view(engine, clock())
    assert view.reminders == 2 and view.phase.endswith("(pause after this trial)")
    assert view.can_resume and not view.can_pause
    engine.resume()  # take the pause back
    engine.clip_finished(clock())
    clock.now += 5.5
    view = tracker.view(engine, clock())
    assert view.phase == "self-report" and view.countdown == "0:10"  # 15 s form
    engine.answer("fear", 2, 8)
    assert tracker.last_report.startswith("trial 1: fear, valence 2, arousal 8 (5.5 s)")
    engine.clip_started(clock())
    clock.now += 1.0
    assert tracker.view(engine, clock()).countdown == "0:02"  # 3 s neutral
    engine.clip_finished(clock())
    engine.key("space")  # main block text
    engine.key("space")  # main trial 1
    view = tracker.view(engine, clock())
    assert (view.trial, view.overall, view.reminders, view.reminders_total) == (
        "Trial 1 of 3", "session trial 2 of 4", 0, 2)
    engine.abort("test")
    view = tracker.view(engine, clock())
    assert view.phase == "aborted" and not view.running and view.overall == "1 of 4 trials done"
    reminder = next(line for line in tracker.log if " reminder " in line)
    assert "trial  1" in reminder and "[60]" in reminder


def test_format_event() -> None:
    event = Event(12.5, "answer", 3, 31, {"emotion": "fear", "valence": 2, "rt": 1.23456})
    assert format_event(event, 10.0) == (
        "   2.500 s  trial  3  answer [31]  emotion=fear valence=2 rt=1.235")
    assert format_event(Event(10.0, "recording_start"), 10.0).endswith("recording_start")


def test_a_failing_listener_does_not_break_the_sink() -> None:
    inner = MemorySink(ManualClock(100.0))
    sink = ObservingSink(inner)
    seen: list[str] = []
    sink.event_listeners += [lambda e: 1 / 0, lambda e: seen.append(e.kind)]
    sink.event("reminder", code=60, trial=2)
    assert inner.kinds() == ["reminder"] and seen == ["reminder"]


def test_autopilot_keys() -> None:
    assert participant_keys(Phase.READY, 1) == ["space"]
    keys = participant_keys(Phase.SELF_REPORT, 3)
    assert keys[-1] == "enter" and 1 <= int(keys[0]) <= 7
    assert all(1 <= int(k) <= 9 for k in keys[1:3])
    assert participant_keys(Phase.STIMULUS, 1) == []


# --- taps and preview -------------------------------------------------------------------


def frame(number: int, image: np.ndarray | None = None) -> Frame:
    image = image if image is not None else np.zeros((4, 4), np.uint8)
    return Frame(image, number, number / 150, number / 150, 0)


def test_latest_frame_keeps_only_the_newest_reference() -> None:
    tap = LatestFrame()
    assert tap.take() is None
    first, second = frame(1), frame(2)
    tap.put(first)
    tap.put(second)
    taken = tap.take()
    assert taken is second and tap.take() is None and tap.count == 2


def test_chunk_tap_is_bounded_and_drains_in_order() -> None:
    tap = ChunkTap(["eeg"], backlog=3)
    chunks = [Chunk(np.zeros((1, 2), np.float32), np.array([i]), np.array([i]))
              for i in range(5)]
    for chunk in chunks:
        tap.put("eeg", chunk)
    tap.put("unknown", chunks[0])  # streams nobody plots are ignored
    assert tap.drain("eeg") == chunks[2:] and tap.drain("eeg") == []


def test_stream_ring_keeps_the_last_seconds_and_thins_for_display() -> None:
    ring = StreamRing(channels=3, rate=100.0, seconds=10.0)
    assert ring.capacity == 1200
    times = np.arange(3000) / 100.0  # 30 s at 100 Hz, in uneven chunks
    data = np.column_stack([times, -times, times * 2]).astype(np.float32)
    for start in range(0, 3000, 37):
        ring.extend(data[start:start + 37], times[start:start + 37])
    t, values = ring.window([0, 2], now=times[-1], max_points=500)
    assert t[0] >= -10.0 and t[-1] == pytest.approx(0.0, abs=0.05)
    assert 400 <= len(t) <= 1001
    np.testing.assert_allclose(values[:, 0], t + times[-1], atol=1e-3)
    np.testing.assert_allclose(values[:, 1], 2 * values[:, 0], rtol=1e-5)


def test_preview_is_debayered_and_small_at_any_sensor_size() -> None:
    bgr = np.zeros((1088, 2048, 3), np.uint8)
    bgr[:, :, 2] = 200  # red
    raw = mosaic(bgr, "bayer_rg8")
    rgb = preview_rgb(raw, "bayer_rg8")
    assert preview_step(2048) == 5 and rgb.shape == (216, 408, 3)
    centre = rgb[100, 200]
    assert centre[0] > 150 and centre[1] < 50 and centre[2] < 50  # red stays red
    # Its cost per frame is benchmarks/bench_console.py's figure.
    mono = preview_rgb(np.full((480, 640), 90, np.uint8), "mono8")
    assert mono.shape == (240, 320, 3) and mono[0, 0].tolist() == [90, 90, 90]


def test_recorder_taps_see_every_frame_and_chunk(tmp_path: Path) -> None:
    """The recorder hands its taps references to what it writes (no copies)."""

    class Camera:
        info = CameraInfo("fake", "1", 8, 6, "mono8", 200.0)
        dropped_frames = 0

        def __init__(self) -> None:
            self.n = 0

        def open(self) -> None: ...
        def start(self) -> None: ...
        def stop(self) -> None: ...
        def close(self) -> None: ...
        def losses(self) -> CameraLosses: return CameraLosses()

        def read(self, timeout: float) -> Frame | None:
            time.sleep(0.005)
            self.n += 1
            return frame(self.n, np.full((6, 8), self.n % 256, np.uint8))

    class Stream:
        info = StreamInfo("S", "EEG", "s1", ("a", "b"), ("", ""), 100.0)

        def __init__(self) -> None:
            self.n = 0

        def open(self, timeout: float) -> None: ...
        def close(self) -> None: ...
        def clock_offsets(self) -> list: return []
        def gaps(self) -> list: return []

        def read(self) -> Chunk | None:
            self.n += 1
            return Chunk(np.full((2, 2), self.n, np.float32), np.array([self.n, self.n + .5]),
                         np.array([self.n, self.n + .5]))

    frames: list[Frame] = []
    chunks: list[tuple[str, Chunk]] = []
    recorder = Recorder(tmp_path / "s", SessionMetadata("P01"), streams={"eeg": Stream()},
                        camera=Camera(), on_frame=frames.append,  # type: ignore[arg-type]
                        on_chunk=lambda role, c: chunks.append((role, c)))
    recorder.start(first_segment=("seg", 1))
    deadline = time.monotonic() + 30  # only against a hang
    while len(frames) <= 10 or len(chunks) < 10:
        assert time.monotonic() < deadline, (len(frames), len(chunks))
        time.sleep(0.01)
    recorder.stop()
    assert len(frames) == recorder._frames > 10
    assert {role for role, _ in chunks} == {"eeg"} and len(chunks) >= 10
    from recordings.store.reader import open_session

    with open_session(tmp_path / "s") as session:
        # the preview also sees frames outside segments (here: after the segment closed)
        stored = session.segment("seg").column("frame_number")
        assert 10 < len(stored) <= len(frames)
        assert stored.tolist() == [f.frame_number for f in frames[:len(stored)]]
        assert len(session.streams["S"]) == 2 * len(chunks)


@pytest.mark.slow
def test_a_full_disk_stops_the_console_recording_and_says_so(tmp_path: Path, tmpfs, sim_rigs,
                                                              demo_protocol) -> None:
    from app.console.recording import ConsoleRecording

    protocol, _ = demo_protocol
    out = tmpfs("80m")  # the 64 MiB space reserve + ~16 MiB: full in ~1.5 s at 320x240
    rig = sim_rigs(seed=2, width=320, height=240)(60.0)
    connect_all(rig)
    recording = ConsoleRecording(rig, good_setup(tmp_path, output=str(out)), protocol)
    recording.start()
    recording.recorder.start_segment("trial001", trial=1)
    deadline = time.monotonic() + 60  # only against a hang
    while recording.failure is None:
        assert time.monotonic() < deadline, "the disk never filled"
        time.sleep(0.05)
    finished = recording.finish()
    assert any("recording stopped: disk full" in p for p in finished.problems)
    assert finished.summary["stop_reason"] == "disk full"
    assert "stopped: disk full" in finished.summary_text
    assert finished.sync_text.startswith("synchronization skipped")
    assert not (recording.folder / ".melab-reserve").exists()


# --- analysis ---------------------------------------------------------------------------


def test_results_are_the_summary_and_the_files_the_analysis_wrote(tmp_path: Path) -> None:
    (tmp_path / "recognition_3class.png").write_bytes(b"png")
    (tmp_path / "report.html").write_text("<html/>")
    (tmp_path / "spotting.csv").write_text("subject,type\nS01,micro\nS02,macro\n")
    result = read_result({"sessions": 1, "spotting": {"micro_f1": 0.5}}, tmp_path)
    assert result.summary == {"sessions": 1, "spotting": {"micro_f1": 0.5}}
    assert result.tables == {"spotting": [{"subject": "S01", "type": "micro"},
                                          {"subject": "S02", "type": "macro"}]}
    assert result.plots == [tmp_path / "recognition_3class.png"]
    assert result.report == tmp_path / "report.html"
    assert table_columns(result.tables["spotting"]) == ["subject", "type"]
    assert summary_lines(result.summary) == ["sessions: 1", "spotting:", "  micro_f1: 0.5"]
    assert read_result({}, tmp_path / "empty").report is None


def test_run_analysis_passes_progress_and_cancel(tmp_path: Path) -> None:
    seen: list[tuple[float, str]] = []
    calls: list[Any] = []

    def analyze(paths, out_dir, *, progress, cancel):  # analysis.pipeline.analyze's shape
        calls.append((paths, out_dir))
        progress(0.5, "half")
        return {"n": len(paths)}

    cancel = threading.Event()
    out = default_out_dir(tmp_path / "sessions" / "P07_s01")
    result = run_analysis([tmp_path], out, lambda f, m: seen.append((f, m)), cancel, analyze)
    assert out == tmp_path / "sessions" / "analysis" / "P07_s01" and out.is_dir()
    assert calls == [([tmp_path], out)] and result.summary == {"n": 1}
    assert seen == [(0.5, "half")]
    cancel.set()
    with pytest.raises(AnalysisCancelled):
        run_analysis([tmp_path], out, lambda f, m: None, cancel, analyze)


def test_cancelling_the_real_pipeline_is_a_cancel_not_a_failure(tmp_path: Path) -> None:
    session = tmp_path / "sessions" / "P07_s01"
    session.mkdir(parents=True)
    (session / "session.h5").write_bytes(b"")  # never opened: cancel is checked first
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(AnalysisCancelled, match="cancelled"):
        run_analysis([session], default_out_dir(session), lambda f, m: None, cancel)


def test_display_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.console import app as console_app

    monkeypatch.setattr(console_app.sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert not console_app.has_display()
    monkeypatch.setenv("DISPLAY", ":0")
    assert console_app.has_display()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # chosen explicitly: nobody sees it
    assert not console_app.has_display()
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert console_app.has_display()


def test_cli_knows_gui_and_demo() -> None:
    from app.cli.main import build_parser

    args = build_parser().parse_args(["gui", "--simulate", "--protocol", "demo"])
    assert args.simulate and args.protocol == "demo" and args.func.__name__ == "_cmd_gui"
    args = build_parser().parse_args(["demo", "--out", "x", "--autopilot"])
    assert (args.out, args.autopilot, args.func.__name__) == (Path("x"), True, "_cmd_demo")


def test_gui_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main as cli
    from app.console import app as console_app

    calls: list[tuple[Any, SessionSetup]] = []
    monkeypatch.setattr(console_app, "has_display", lambda: True)
    def run_console(make_rig: Any, setup: SessionSetup,
                    resume: Path | None = None) -> console_app.ConsoleRun:
        assert resume is None  # no --resume given
        calls.append((make_rig, setup))
        return console_app.ConsoleRun()

    monkeypatch.setattr(console_app, "run_console", run_console)
    assert cli.main(["gui", "--simulate", "--protocol", "demo", "--participant", "P09",
                     "--out", str(tmp_path)]) == 0
    (make_rig, setup), = calls
    assert callable(make_rig)
    assert (setup.participant, setup.protocol, setup.output) == ("P09", "demo", str(tmp_path))
    assert cli.main(["gui"]) == 2  # neither devices nor --simulate
    assert "nothing to record" in capsys.readouterr().err
    monkeypatch.setattr(console_app, "has_display", lambda: False)
    assert cli.main(["gui", "--simulate"]) == 2
    assert "no display" in capsys.readouterr().err


class _Described:
    """A stream that only describes itself: all the preflight's role check needs."""

    def __init__(self, info: StreamInfo) -> None:
        self.info = info


def test_preflight_table_shows_each_streams_roles_guesses_and_problems():
    from app.console.preflight import stream_role_items
    from app.console.setup import ERROR, OK
    from app.rig import RIGS_DIR, Rig
    from recordings.rigs.profile import load_profile

    labels = ("EKG", "GSR", "D1", "D2")
    bridge = StreamInfo("Biopac Data", "PsychoPhys", "x1", labels, ("microvolts",) * 4, 0.0)
    rig = Rig({"physio": _Described(bridge)})
    items = stream_role_items(rig, {"physio"})
    problems = [i.detail for i in items if i.level == ERROR]
    assert any("no sampling rate" in p for p in problems)
    assert any("GSR (eda, microvolts)" in p for p in problems)
    assert any(i.level == OK and "guess: trigger: lines D1, D2" in i.detail for i in items)
    assert stream_role_items(rig, set()) == []  # a stream that did not connect: nothing to say
    # The bridge's profile states rate, units and lines: nothing left to refuse.
    rig.profile = load_profile(RIGS_DIR / "acqknowledge-ndt-bridge.toml")
    described = StreamInfo("Biopac Data", "PsychoPhys", "x2",
                           ("EKG", "GSR", "RSP", "SKT", "CH9", *(f"D{k}" for k in range(1, 9))),
                           ("microvolts",) * 13, 0.0)
    rig.streams = {"physio": _Described(described)}
    assert [i.detail for i in stream_role_items(rig, {"physio"}) if i.level == ERROR] == []
