"""Where the participant and reminder windows go, Qt-free: screens, full screen, preflight.

Full screen is only for a screen the console is not on: a full-screen window on the
console's own screen would cover it, and the experimenter would see only black. On a single
screen both windows therefore open as normal windows beside the console (the demo's layout).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.console.setup import OK, WARNING, CheckItem, SessionSetup

# The demo's layout of normal windows, from the top-left of their screen (a smaller screen
# gets them smaller and moved in, MARGIN from its edges).
WINDOWED = {"participant": (40, 40, 960, 600), "reminder": (1020, 40, 480, 240)}
MARGIN = 40


@dataclass(frozen=True)
class Rect:
    """A screen's (or window's) geometry in desktop pixels."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Placement:
    """One participant-side window: its screen, full screen or not, and (if not) where."""

    what: str  # participant | reminder
    screen: int
    full_screen: bool
    geometry: Rect


def full_screen_offered(screens: int, console_screen: int) -> bool:
    """Whether any screen other than the console's exists (full screen goes only there)."""
    return any(index != console_screen for index in range(screens))


def plan_displays(setup: SessionSetup, screens: list[Rect],
                  console_screen: int) -> list[Placement]:
    """The participant's and the reminder's window: on their chosen screen (the first one
    if it does not exist), full screen only if asked and not the console's screen."""
    placements = []
    for what, index in (("participant", setup.participant_screen),
                        ("reminder", setup.reminder_screen)):
        screen = index if 0 <= index < len(screens) else 0
        placements.append(Placement(what, screen, setup.full_screen and screen != console_screen,
                                    windowed(what, screens[screen])))
    return placements


def windowed(what: str, area: Rect) -> Rect:
    """Where a normal window goes on a screen: the demo's layout, fitted inside it."""
    x, y, width, height = WINDOWED[what]
    width = max(1, min(width, area.width - 2 * MARGIN))
    height = max(1, min(height, area.height - 2 * MARGIN))
    x = max(0, min(x, area.width - width - MARGIN))
    y = max(0, min(y, area.height - height - MARGIN))
    return Rect(area.x + x, area.y + y, width, height)


def display_checks(setup: SessionSetup, screens: int, console_screen: int) -> list[CheckItem]:
    """The preflight's lines about the displays: what will open where, and what is doubtful."""
    items = []
    for what, index in (("participant", setup.participant_screen),
                        ("reminder", setup.reminder_screen)):
        if not 0 <= index < screens:
            items.append(CheckItem("displays", what, WARNING,
                                   f"screen {index + 1} does not exist: screen 1 is used"))
    if screens == 1:
        items.append(CheckItem(
            "displays", "one screen", WARNING if setup.full_screen else OK,
            "the participant and reminder windows open as normal windows beside the console "
            "(full screen needs a screen of their own)"))
        return items
    if setup.participant_screen == setup.reminder_screen:
        items.append(CheckItem("displays", "shared screen", WARNING,
                               "participant and reminder displays share one screen"))
    for placement in plan_displays(setup, [Rect(0, 0, 0, 0)] * screens, console_screen):
        where = f"screen {placement.screen + 1}"
        if placement.full_screen:
            items.append(CheckItem("displays", placement.what, OK, f"full screen on {where}"))
        elif setup.full_screen:  # asked for, but that is the console's screen
            items.append(CheckItem("displays", placement.what, WARNING,
                                   f"a normal window on {where}, the console's screen"))
        else:
            items.append(CheckItem("displays", placement.what, OK, f"a normal window on {where}"))
    return items
