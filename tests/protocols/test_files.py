"""Protocol files, stimulus manifests, validation with file:line, `melab protocol check`."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from app.cli.main import main
from core.expressions import EMOTIONS
from core.toml_source import index_lines
from protocols.clipcheck import probe_clip
from protocols.demo_stimuli import DEMO_CLIPS, ensure_demo_stimuli, stimulus_cache
from protocols.loader import PACKAGE_DIR, load_protocol, read_protocol
from protocols.problems import ProtocolError, errors

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated demo clips in a temporary folder (never in the repository)."""
    return ensure_demo_stimuli(tmp_path_factory.mktemp("demo")).parent


def line_of(text: str, snippet: str, start: int = 1) -> int:
    """1-based line of the first occurrence of snippet at or after line `start`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if number >= start and snippet in line:
            return number
    raise AssertionError(f"{snippet!r} not in text")


def test_cmrr_protocol_is_the_papers_design() -> None:
    protocol = load_protocol("cmrr", check_clips=False)
    assert protocol.source == PACKAGE_DIR / "cmrr.toml"
    assert len(protocol.main) == 42 and protocol.clips_per_emotion == 6
    emotions = Counter(protocol.clips[c].emotion for c in protocol.main)
    assert emotions == dict.fromkeys(EMOTIONS, 6)
    assert protocol.practice and not set(protocol.practice) & set(protocol.main)
    assert all(protocol.clips[c].duration <= 60 for c in protocol.main)
    assert (protocol.timings.self_report_s, protocol.timings.neutral_s) == (25.0, 30.0)
    assert protocol.randomisation.max_run == 2 and protocol.randomisation.seed is None
    codes = [*protocol.codes.events.values(), *protocol.codes.onset.values()]
    assert len(set(codes)) == len(codes) and all(1 <= c <= 127 for c in codes)
    assert protocol.reminder.seconds > 0 and protocol.reminder.text
    assert all(text.strip() for text in protocol.texts.values())
    assert protocol.segment == "stimulus"
    for clip in protocol.clips.values():
        assert 1 <= clip.valence <= 9 and 1 <= clip.arousal <= 9


def test_cmrr_without_the_lab_clips_says_they_are_missing(tmp_path: Path) -> None:
    text = (PACKAGE_DIR / "cmrr.toml").read_text()
    _, problems = read_protocol("cmrr", tmp_path / "nowhere")
    assert [(p.line, p.severity) for p in problems] == [(line_of(text, "folder ="), "error")]
    assert "does not exist: none of the 45 clips" in problems[0].message

    _, problems = read_protocol("cmrr", tmp_path)  # the folder exists but holds nothing
    assert len(problems) == 45
    manifest = (PACKAGE_DIR / "cmrr_library.toml").read_text()
    first = problems[0]
    assert first.file == PACKAGE_DIR / "cmrr_library.toml"
    assert first.line == line_of(manifest, 'file = "practice/practice_01.mp4"')
    assert "clip 'practice01' is missing" in first.message
    assert str(tmp_path / "practice" / "practice_01.mp4") in first.message


def test_demo_protocol_runs_on_generated_clips(demo_folder: Path) -> None:
    protocol, problems = read_protocol("demo", demo_folder)
    assert problems == []
    assert protocol is not None and protocol.stimulus_folder == demo_folder
    assert len(protocol.practice) == 1 and len(protocol.main) == 3
    for clip_id in (*protocol.practice, *protocol.main, *protocol.neutral):
        clip = protocol.clips[clip_id]
        probe = probe_clip(clip.path)
        assert probe.ok and (probe.width, probe.height) == (320, 240)
        assert probe.duration == pytest.approx(clip.duration, abs=0.05)


def test_demo_clips_are_generated_once_into_the_cache(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MELAB_STIMULI_CACHE", str(tmp_path / "cache"))
    assert stimulus_cache() == tmp_path / "cache"
    manifest = ensure_demo_stimuli()
    assert manifest == tmp_path / "cache" / "demo" / "manifest.toml"
    assert REPO not in manifest.parents
    files = sorted(p.name for p in manifest.parent.iterdir())
    assert files == sorted([f"{c.id}.mp4" for c in DEMO_CLIPS] + ["manifest.toml"])
    emotions = {c.emotion for c in DEMO_CLIPS}
    assert emotions == {*EMOTIONS, "neutral"}
    stamp = manifest.stat().st_mtime_ns
    os.utime(manifest, ns=(stamp - 10**9, stamp - 10**9))
    assert ensure_demo_stimuli() == manifest
    assert manifest.stat().st_mtime_ns == stamp - 10**9  # second use: nothing rewritten
    (manifest.parent / "demo_fear.mp4").unlink()
    ensure_demo_stimuli()
    assert probe_clip(manifest.parent / "demo_fear.mp4").ok  # an incomplete set is remade


BROKEN_PROTOCOL = '''\
[protocol]
name = "broken"
version = 1
author = "nobody"

[stimuli]
folder = "clips"
manifest = "manifest.toml"

[practice]
clips = ["practice"]

[design]
emotions = ["happiness", "sadness", "disgust"]
clips_per_emotion = 1
clips = [
    "happy_a",
    "happy_b",
    "sad",
    "nope",
]
neutral = ["calm"]

[randomisation]
max_same_emotion_in_a_row = 2

[timings]
self_report_s = -5
neutral_s = 3.0
max_stimulus_s = 10.0

[camera]
segment = "always"

[codes]
protocol_start = 1
instructions = 2
practice_start = 3
main_start = 4
protocol_end = 5
pause = 6
resume = 7
abort = 8
trial_ready = 10
space = 11
key = 12
stimulus_offset = 19
self_report = 30
answer = 30
report_timeout = 32
neutral_onset = 40
neutral_offset = 200
trial_end = 50
reminder = 255
clip_error = 90

[codes.stimulus_onset]
practice = 20
happiness = 21
surprise = 22
sadness = 23
fear = 24
anger = 25
disgust = 26
contempt = 27

[texts]
instructions = """
Hello.
author = "not a key: inside a multi-line string"
"""
practice = "p"
main = "m"
ready = "r"
self_report = "s"
pause = "p"
resume = "r"

[reminder]
text = "Neutral face"
seconds = 0

[extras]
colour = "red"
'''

BROKEN_MANIFEST = '''\
[[clip]]
id = "practice"
file = "demo_practice.mp4"
emotion = "happiness"
valence = 6.0
arousal = 4.0
duration = 3.0

[[clip]]
id = "happy_a"
file = "demo_happiness.mp4"
emotion = "happiness"
valence = 12
arousal = 5.0
duration = 9.0

[[clip]]
id = "happy_b"
file = "gone.mp4"
emotion = "happiness"
valence = 7.0
arousal = 5.0
duration = 4.0

[[clip]]
id = "sad"
file = "broken.mp4"
emotion = "sadness"
valence = 2.0
arousal = 4.0
duration = 4.0
rating = 3

[[clip]]
id = "sad"
file = "demo_sadness.mp4"
emotion = "sadness"
valence = 2.0
arousal = 4.0
duration = 4.0

[[clip]]
id = "calm"
file = "demo_neutral.mp4"
emotion = "neutral"
valence = 5.0
arousal = 2.0
duration = 3.0
'''


@pytest.fixture
def broken(tmp_path: Path, demo_folder: Path) -> Path:
    """A protocol with one of every kind of mistake, next to its manifest and clips."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("demo_practice", "demo_happiness", "demo_sadness", "demo_neutral"):
        (clips / f"{name}.mp4").symlink_to(demo_folder / f"{name}.mp4")
    (clips / "broken.mp4").write_bytes(b"\x00\x01 this is not a video" * 100)
    (tmp_path / "manifest.toml").write_text(BROKEN_MANIFEST)
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN_PROTOCOL)
    return path


def expected_problems(folder: Path) -> list[tuple[str, int, str, str]]:
    """(file name, line, severity, message fragment) of everything wrong in `broken`."""
    p, m = BROKEN_PROTOCOL, BROKEN_MANIFEST
    sad_twice = line_of(m, 'id = "sad"', line_of(m, 'id = "sad"') + 1)
    design_clips = line_of(p, "clips = [", line_of(p, "[design]"))
    return [
        ("broken.toml", line_of(p, "author ="), "error", "unknown key 'author' in [protocol]"),
        ("broken.toml", line_of(p, "[extras]"), "error", "unknown key 'extras' in [top level]"),
        ("broken.toml", line_of(p, "[texts]"), "error", "missing 'end' in [texts]"),
        ("manifest.toml", line_of(m, "rating = 3"), "error", "unknown key 'rating' in [clip]"),
        ("manifest.toml", sad_twice, "error", "duplicate clip id 'sad'"),
        ("broken.toml", line_of(p, '"nope"'), "error",
         "design.clips: clip 'nope' is not in the stimulus manifest"),
        ("broken.toml", design_clips, "error",
         "design.clips has 2 'happiness' clip(s), expected 1"),
        ("broken.toml", design_clips, "error",
         "design.clips has 0 'disgust' clip(s), expected 1"),
        ("broken.toml", line_of(p, "self_report_s"), "error",
         "timings.self_report_s = -5 s is outside 1..600 s"),
        ("broken.toml", line_of(p, "seconds = 0"), "error", "reminder.seconds = 0"),
        ("broken.toml", line_of(p, "answer = 30"), "error",
         "duplicate trigger code 30: codes.answer and codes.self_report"),
        ("broken.toml", line_of(p, "neutral_offset = 200"), "warning",
         "codes.neutral_offset = 200 sets line 8"),
        ("broken.toml", line_of(p, "reminder = 255"), "error",
         "codes.reminder = 255 is reserved for the sync train"),
        ("broken.toml", line_of(p, 'segment = "always"'), "error",
         "camera.segment 'always' is not one of stimulus, trial, none"),
        ("manifest.toml", line_of(m, "valence = 12"), "error",
         "clip 'happy_a': valence 12 is outside 1..9"),
        ("manifest.toml", line_of(m, 'file = "demo_happiness.mp4"') + 4, "error",
         "clip 'happy_a' lasts 4.00 s but the manifest says 9 s"),
        ("manifest.toml", line_of(m, 'file = "gone.mp4"'), "error",
         f"clip 'happy_b' is missing: {folder / 'clips' / 'gone.mp4'}"),
        ("manifest.toml", line_of(m, 'file = "broken.mp4"'), "error",
         "clip 'sad' is undecodable"),
    ]


def test_broken_protocol_reports_every_problem_with_file_and_line(broken: Path) -> None:
    protocol, problems = read_protocol(broken)
    assert protocol is not None
    found = [(p.file.name, p.line, p.severity, p.message) for p in problems]
    expected = expected_problems(broken.parent)
    for name, line, severity, fragment in expected:
        matches = [f for f in found if f[0] == name and f[1] == line and f[2] == severity
                   and fragment in f[3]]
        assert matches, f"no {severity} at {name}:{line} saying {fragment!r}; got:\n" + \
            "\n".join(map(str, found))
    assert len(found) == len(expected), "\n".join(map(str, found))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(broken)
    assert len(caught.value.problems) == len(expected)
    assert len(errors(caught.value.problems)) == len(expected) - 1


def test_melab_protocol_check_lists_every_problem_and_fails(
        broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "check", str(broken)]) == 1
    out = capsys.readouterr().out.splitlines()
    for name, line, severity, fragment in expected_problems(broken.parent):
        folder = broken.parent
        prefix = f"{folder / name}:{line}: {severity}: "
        assert any(row.startswith(prefix) and fragment in row for row in out), prefix + fragment
    assert out[-1] == f"{broken}: 17 error(s), 1 warning(s): the protocol cannot run"


def test_melab_protocol_check_passes_the_demo(demo_folder: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "check", "demo", "--stimuli", str(demo_folder)]) == 0
    out = capsys.readouterr().out
    assert "OK (0 warning(s)): 'CMRR demo', 1 practice + 3 main trials" in out


def test_toml_syntax_errors_and_missing_files_are_reported(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[protocol]\nname = "x"\nversion = = 1\n')
    _, problems = read_protocol(bad)
    assert [(p.line, p.severity) for p in problems] == [(3, "error")]
    assert "not valid TOML" in problems[0].message
    assert main(["protocol", "check", str(tmp_path / "absent.toml")]) == 2  # a bad input
    assert "absent.toml: no such protocol file" in capsys.readouterr().err


def test_line_index_knows_tables_keys_and_skips_multiline_strings() -> None:
    text = 'a = 1\n[t]\nb = """\nc = 2\n"""\nd.e = 3\n[[arr]]\nf = 1\n[[arr]]\nf = 2\n'
    lines = index_lines(text)
    assert lines[("a",)] == 1 and lines[("t",)] == 2 and lines[("t", "b")] == 3
    assert ("t", "c") not in lines  # inside the multi-line string
    assert lines[("t", "d", "e")] == 6
    assert lines[("arr", 0, "f")] == 8 and lines[("arr", 1, "f")] == 10
