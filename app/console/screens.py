"""The desktop's screens for the console, and the participant-side windows put on them.

Qt glue only: what goes where is decided by app/console/displays.py.
"""

from __future__ import annotations

from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QWidget

from app.console.displays import Placement, Rect
from app.participant.reminder import ReminderWindow
from app.participant.window import ParticipantWindow


def screen_rects() -> list[Rect]:
    """Every screen's geometry, in Qt's order (screen 1 first)."""
    rects = []
    for screen in QGuiApplication.screens():
        area = screen.geometry()
        rects.append(Rect(area.x(), area.y(), area.width(), area.height()))
    return rects


def screen_of(widget: QWidget) -> int:
    """The index of the screen a window is on (0 when Qt does not say)."""
    screens = QGuiApplication.screens()
    screen = widget.screen()
    return screens.index(screen) if screen in screens else 0


def place_window(window: ParticipantWindow | ReminderWindow, placement: Placement) -> None:
    """Show a participant-side window as planned: full screen, or a normal window."""
    if placement.full_screen:
        window.place(placement.screen, full_screen=True)
        return
    window.setScreen(QGuiApplication.screens()[placement.screen])
    area = placement.geometry
    window.setGeometry(area.x, area.y, area.width, area.height)
    window.showNormal()
