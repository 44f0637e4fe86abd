"""Where the participant-side windows go (Qt-free): full screen never on the console's screen."""

from __future__ import annotations

from app.console.displays import (
    WINDOWED,
    Rect,
    display_checks,
    full_screen_offered,
    plan_displays,
    windowed,
)
from app.console.setup import OK, WARNING, SessionSetup

ONE = [Rect(0, 0, 1920, 1080)]
TWO = [Rect(0, 0, 1920, 1080), Rect(1920, 0, 1280, 1024)]


def test_one_screen_never_gets_a_full_screen_window() -> None:
    assert not full_screen_offered(1, console_screen=0)
    setup = SessionSetup(participant_screen=0, reminder_screen=0, full_screen=True)
    placements = plan_displays(setup, ONE, console_screen=0)
    assert [(p.what, p.screen, p.full_screen) for p in placements] == [
        ("participant", 0, False), ("reminder", 0, False)]
    x, y, width, height = WINDOWED["participant"]
    assert placements[0].geometry == Rect(x, y, width, height)


def test_full_screen_goes_only_to_screens_other_than_the_consoles() -> None:
    assert full_screen_offered(2, console_screen=0) and full_screen_offered(2, console_screen=1)
    setup = SessionSetup(participant_screen=1, reminder_screen=0, full_screen=True)
    placements = plan_displays(setup, TWO, console_screen=0)
    assert [(p.screen, p.full_screen) for p in placements] == [(1, True), (0, False)]
    # the console moved to screen 2: now the reminder's screen 1 may be full screen
    placements = plan_displays(setup, TWO, console_screen=1)
    assert [(p.screen, p.full_screen) for p in placements] == [(1, False), (0, True)]
    # windowed windows keep the demo's layout on their own screen
    x, y, width, height = WINDOWED["participant"]
    assert placements[0].geometry == Rect(1920 + x, y, width, height)


def test_normal_windows_fit_inside_a_small_screen() -> None:
    small = Rect(100, 0, 800, 600)
    for what in WINDOWED:
        area = windowed(what, small)
        assert small.x <= area.x and area.x + area.width <= small.x + small.width, what
        assert small.y <= area.y and area.y + area.height <= small.y + small.height, what
        assert area.width < small.width and area.height < small.height, what


def test_a_screen_that_does_not_exist_falls_back_to_the_first() -> None:
    setup = SessionSetup(participant_screen=3, reminder_screen=0, full_screen=True)
    (participant, _) = plan_displays(setup, ONE, console_screen=0)
    assert (participant.screen, participant.full_screen) == (0, False)
    checks = display_checks(setup, 1, console_screen=0)
    assert (checks[0].name, checks[0].level) == ("participant", WARNING)
    assert "screen 4 does not exist" in checks[0].detail


def test_preflight_says_what_opens_where() -> None:
    (one,) = display_checks(SessionSetup(full_screen=False), 1, console_screen=0)
    assert (one.name, one.level) == ("one screen", OK) and "normal windows" in one.detail
    (asked,) = display_checks(SessionSetup(full_screen=True), 1, console_screen=0)
    assert asked.level == WARNING  # full screen was asked for and cannot be given
    setup = SessionSetup(participant_screen=1, reminder_screen=0, full_screen=True)
    lines = {(c.name, c.level, c.detail) for c in display_checks(setup, 2, console_screen=0)}
    assert lines == {("participant", OK, "full screen on screen 2"),
                     ("reminder", WARNING, "a normal window on screen 1, the console's screen")}
    shared = display_checks(SessionSetup(participant_screen=1, reminder_screen=1), 2, 0)
    assert shared[0].name == "shared screen"
