"""The self-report screen: 7 emotions, 9-point SAM valence and arousal scales, a countdown.

The form's rules live in protocols/report_form.py; this module only draws it and turns
clicks and keys into calls on it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PyQt6.QtCore import QPointF, QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PyQt6.QtWidgets import QFrame, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.expressions import EMOTIONS
from protocols.report_form import ROWS, ReportForm

FOCUS = QColor("#ffd54a")
FIGURE = QColor("#e0e0e0")
CHOSEN = QColor("#3d7bd9")


def draw_manikin(painter: QPainter, box: QRectF, scale: str, value: int) -> None:
    """A Self-Assessment Manikin figure: the mouth shows valence, the burst shows arousal."""
    cx, size = box.center().x(), min(box.width(), box.height())
    head_r = size * 0.16
    head = QPointF(cx, box.top() + size * 0.26)
    painter.setPen(QPen(FIGURE, max(1.0, size * 0.025)))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    body = QRectF(cx - size * 0.22, head.y() + head_r, size * 0.44, size * 0.5)
    painter.drawRoundedRect(body, size * 0.08, size * 0.08)
    painter.drawEllipse(head, head_r, head_r)
    eye = head_r * 0.12 * (1.0 + (value - 1) / 8 if scale == "arousal" else 1.0)
    for dx in (-0.4, 0.4):
        painter.setBrush(FIGURE)
        painter.drawEllipse(QPointF(head.x() + dx * head_r, head.y() - 0.2 * head_r), eye, eye)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    mouth = QPainterPath()
    width = head_r * 0.9
    bend = (value - 5) / 4 * head_r * 0.45 if scale == "valence" else 0.0
    y = head.y() + head_r * 0.45
    mouth.moveTo(head.x() - width / 2, y)
    mouth.quadTo(QPointF(head.x(), y + bend), QPointF(head.x() + width / 2, y))
    painter.drawPath(mouth)
    if scale == "arousal":  # a burst in the chest grows from a dot (calm) to an explosion
        centre = body.center()
        outer = size * (0.03 + 0.19 * (value - 1) / 8)
        rays = 6 + value
        star = QPainterPath()
        for i in range(2 * rays + 1):
            radius = outer if i % 2 == 0 else outer * 0.45
            angle = math.pi * i / rays
            point = QPointF(centre.x() + radius * math.cos(angle),
                            centre.y() + radius * math.sin(angle))
            star.moveTo(point) if i == 0 else star.lineTo(point)
        painter.setBrush(FIGURE)
        painter.drawPath(star)


class ManikinScale(QWidget):
    """Nine clickable manikins (1..9) for valence or arousal."""

    chosen = pyqtSignal(int)

    def __init__(self, scale: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scale = scale
        self.value = 0
        self.focused = False
        self.setMinimumSize(450, 90)

    def cell(self, value: int) -> QRectF:
        """Where manikin `value` (1..9) is drawn."""
        width = self.width() / 9
        return QRectF((value - 1) * width, 0, width, self.height())

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is not None:
            value = int(event.position().x() // (self.width() / 9)) + 1
            if 1 <= value <= 9:
                self.chosen.emit(value)

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.focused:
            painter.setPen(QPen(FOCUS, 2))
            painter.drawRect(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        for value in range(1, 10):
            box = self.cell(value).adjusted(4, 4, -4, -18)
            if value == self.value:
                painter.fillRect(box, CHOSEN)
            draw_manikin(painter, box, self.scale, value)
            painter.setPen(FIGURE)
            painter.drawText(self.cell(value).adjusted(0, self.height() - 18, 0, 0),
                             Qt.AlignmentFlag.AlignCenter, str(value))
        painter.end()


class SelfReportView(QWidget):
    """The whole form; emits answered(emotion, valence, arousal) when submitted."""

    answered = pyqtSignal(str, int, int)

    def __init__(self, prompt: str = "", emotions: tuple[str, ...] = EMOTIONS,
                 clock: Callable[[], float] = time.monotonic,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = ReportForm(emotions)
        self._clock = clock
        self._deadline = 0.0
        self._open = False
        self.prompt = QLabel(prompt)
        self.prompt.setWordWrap(True)
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.countdown = QLabel("")
        self.countdown.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.countdown.setObjectName("countdown")
        self.buttons: list[QPushButton] = []
        self.emotion_row = QFrame()
        self.emotion_row.setObjectName("emotionRow")
        grid = QGridLayout(self.emotion_row)
        for index, emotion in enumerate(emotions):
            button = QPushButton(f"{index + 1}  {emotion}")
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the form, not buttons
            button.clicked.connect(lambda _=False, e=emotion: self._click("emotion", e))
            grid.addWidget(button, index // 4, index % 4)  # two rows fit small screens
            self.buttons.append(button)
        self.scales = {row: ManikinScale(row) for row in ROWS[1:]}
        for row, scale in self.scales.items():
            scale.chosen.connect(lambda value, r=row: self._click(r, value))
        self.done = QPushButton("Done (Enter)")
        self.done.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.done.clicked.connect(lambda: self.key("enter"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.countdown)
        layout.addWidget(self.prompt)
        layout.addWidget(QLabel("Emotion"))
        layout.addWidget(self.emotion_row)
        layout.addWidget(QLabel("Valence: 1 very unpleasant ... 9 very pleasant"))
        layout.addWidget(self.scales["valence"])
        layout.addWidget(QLabel("Arousal: 1 calm ... 9 very excited"))
        layout.addWidget(self.scales["arousal"])
        layout.addWidget(self.done, alignment=Qt.AlignmentFlag.AlignCenter)
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._refresh_countdown)
        self._refresh()

    def begin(self, deadline_s: float) -> None:
        """Show an empty form and count down deadline_s seconds."""
        self.form = ReportForm(self.form.emotions)
        self._deadline = self._clock() + deadline_s
        self._open = True
        self._timer.start()
        self._refresh()

    def close_form(self) -> None:
        """Stop the countdown; further keys and clicks do nothing."""
        self._open = False
        self._timer.stop()

    def remaining(self) -> float:
        """Seconds left on the countdown (never negative)."""
        return max(0.0, self._deadline - self._clock()) if self._open else 0.0

    def key(self, name: str) -> None:
        """A key press from the participant window."""
        if not self._open:
            return
        submitted = self.form.key(name)
        self._refresh()
        if submitted:
            self.close_form()
            self.answered.emit(*self.form.answer())

    def _click(self, row: str, value: str | int) -> None:
        if self._open:
            self.form.choose(row, value)
            self._refresh()

    def _refresh_countdown(self) -> None:
        self.countdown.setText(f"{math.ceil(self.remaining())} s")

    def _refresh(self) -> None:
        self._refresh_countdown()
        focus = ROWS[self.form.row]
        for button, emotion in zip(self.buttons, self.form.emotions, strict=True):
            button.setChecked(emotion == self.form.emotion)
        colour = FOCUS.name() if focus == "emotion" else "transparent"
        self.emotion_row.setStyleSheet(f"QFrame#emotionRow {{ border: 2px solid {colour}; }}")
        for row, scale in self.scales.items():
            scale.value = getattr(self.form, row)
            scale.focused = focus == row
            scale.update()
        self.done.setEnabled(self.form.complete)
