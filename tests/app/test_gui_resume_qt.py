"""`melab gui --resume SESSION` (issue 16): the console opens with the continuation filled in;
an unusable --resume is refused in one line before any window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QMessageBox

from app.cli.main import main
from protocols.loader import load_protocol
from tests.app.test_console_desktop import HANG_GUARD_MS, _console, _when
from tests.app.test_console_resume_qt import crash_at_trial, write_short_demo
from tests.app.test_record_resume import refused
from tests.conftest import unique_prefix


@pytest.fixture(scope="module")
def crashed_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(protocol, session): the demo protocol's console session killed at trial 2's clip
    (the practice trial finished)."""
    clips = tmp_path_factory.mktemp("gui_resume_clips")
    protocol = write_short_demo(clips)
    yield protocol, crash_at_trial(protocol, tmp_path_factory.mktemp("gui_resume") / "out",
                                   trial=2)


@pytest.mark.slow
def test_melab_gui_resume_opens_the_console_with_the_continuation_filled_in(
        qtbot, crashed_console: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    protocol, crashed = crashed_console
    import app.console.app
    import app.rig

    # The test's Qt runs offscreen, which `melab gui` takes for "no display".
    monkeypatch.setattr(app.console.app, "has_display", lambda: True)
    simulated_rig = app.rig.simulated_rig
    monkeypatch.setattr(app.rig, "simulated_rig", lambda *args, **kwargs: simulated_rig(
        *args, **{**kwargs, "prefix": unique_prefix("guiresume")}))  # LSL names of its own
    asked: list[str] = []
    seen: dict[str, Any] = {}

    def answer_yes() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QMessageBox)
        asked.append(dialog.text())
        dialog.button(QMessageBox.StandardButton.Yes).click()

    def checked() -> bool:
        console = _console()
        return console is not None and not console._checking and console.preflight is not None

    def look_and_close() -> None:
        console = _console()
        page = console.setup_page
        seen.update(participant=page.participant.text(), session=page.session.value(),
                    output=page.output.text(), note=page.resume_note.text(),
                    can_start=console.preflight.can_start)
        console.close()

    def give_up() -> None:  # only against a hang: whatever is up is closed
        seen["hung"] = True
        for widget in QApplication.topLevelWidgets():
            widget.close()

    watches = [_when(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox),
                     answer_yes), _when(checked, look_and_close)]
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(give_up)
    guard.start(HANG_GUARD_MS)
    code = main(["gui", "--simulate", "--size", "160x120", "--protocol", str(protocol),
                 "--resume", str(crashed)])
    guard.stop()
    for watch in watches:
        watch.stop()
    assert code == 0 and "hung" not in seen, seen
    assert len(asked) == 1 and "Continue at session trial 2 of 4" in asked[0]
    assert seen["participant"] == "P11" and seen["session"] == 1
    assert seen["output"] == str(crashed.parent)
    assert seen["note"].startswith(f"Resuming: {crashed.name} (crashed): participant P11")
    assert "1 of 4 trials finished" in seen["note"]
    assert seen["can_start"]
    assert sorted(crashed.parent.iterdir()) == [crashed]  # nothing recorded, nothing written


@pytest.mark.slow
def test_an_unusable_resume_is_refused_before_any_window(
        crashed_console: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    protocol, crashed = crashed_console
    gui = ["gui", "--simulate", "--protocol", str(protocol), "--resume", str(crashed)]
    line = refused(capsys, [*gui, "--participant", "P12"])
    assert line.startswith("melab gui: error: --participant P12 disagrees with --resume")
    ran, other = (load_protocol(p, check_clips=False).name for p in (protocol, "cmrr"))
    line = refused(capsys, ["gui", "--simulate", "--protocol", "cmrr", "--resume", str(crashed)])
    assert line == f"melab gui: error: the session ran protocol {ran!r}, not {other!r}"
    # `melab record` runs no protocol: it points to `melab gui --resume`.
    line = refused(capsys, ["record", "--simulate", "--duration", "2", "--resume", str(crashed)])
    assert f"ran protocol {ran!r}: continue it with `melab gui --resume {crashed}" in line
    assert sorted(crashed.parent.iterdir()) == [crashed]
