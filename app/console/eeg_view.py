"""The live EEG view: every channel stacked (or overlaid) with a scale, a picker and flags.

Stacked: one trace per picked channel, each at its own offset, its label on the left axis (no
legend over the traces), the spacing between traces in µV chosen in *scale*; the plot grows
with the channels and scrolls. Butterfly: the picked channels overlaid on one µV axis. The
picker lists every channel with its flag (app/console/channel_flags.py, the rule in its
tooltip); flagged channels are drawn red.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.console.channel_flags import FLAG_WINDOW_S, RULE, channel_flags, flags_text
from app.console.taps import StreamRing

SCALES_UV = (10, 20, 50, 100, 200, 500, 1000)  # µV between stacked traces / butterfly half-range
DEFAULT_SCALE_UV = 50
ROW_PX = 22  # stacked height per channel: 64 channels scroll, a few fill the view
TRACE_PEN = pg.mkPen("#1565c0")
FLAG_PEN = pg.mkPen("#c62828")
MAX_POINTS = 1000  # per trace: 64 traces at 10 Hz stay light


class EegView(QWidget):
    """Stacked or butterfly EEG with a channel picker, a scale and per-channel flags."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.area = QScrollArea()
        self.area.setWidget(self.plot)
        self.area.setWidgetResizable(True)
        self.mode = QComboBox()
        self.mode.addItems(["stacked", "butterfly"])
        self.scale = QComboBox()
        for uv in SCALES_UV:
            self.scale.addItem(f"{uv} µV", uv)
        self.scale.setCurrentIndex(SCALES_UV.index(DEFAULT_SCALE_UV))
        self.picker = QListWidget()
        self.picker.setToolTip(RULE)
        self.picker.setMaximumWidth(130)
        self.flags_label = QLabel("flags: -")
        self.flags_label.setWordWrap(True)
        self.flags_label.setToolTip(RULE)
        every, none = QPushButton("All"), QPushButton("None")
        every.clicked.connect(lambda: self._check_all(True))
        none.clicked.connect(lambda: self._check_all(False))
        controls = QHBoxLayout()
        for widget in (QLabel("EEG"), self.mode, QLabel("scale"), self.scale):
            controls.addWidget(widget)
        controls.addWidget(self.flags_label, 1)
        side = QVBoxLayout()
        side.addWidget(self.picker, 1)
        pick = QHBoxLayout()
        pick.addWidget(every)
        pick.addWidget(none)
        side.addLayout(pick)
        body = QHBoxLayout()
        body.addWidget(self.area, 1)
        body.addLayout(side)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(body, 1)
        self.labels: list[str] = []
        self.columns: list[int] = []  # ring columns of the EEG channels
        self.units: list[str] = []
        self.flags: list[str] = []
        self.curves: list[pg.PlotDataItem] = []
        for widget in (self.mode, self.scale):
            widget.currentIndexChanged.connect(self._layout_plot)
        self.picker.itemChanged.connect(lambda _: self._layout_plot())

    def configure(self, labels: list[str], columns: list[int], units: list[str],
                  picked: list[str]) -> None:
        """The stream's EEG channels (ring columns) and those to show first (all if none)."""
        self.labels, self.columns, self.units = labels, columns, units
        self.flags = [""] * len(labels)
        wanted = {p.lower() for p in picked}
        self.picker.blockSignals(True)
        self.picker.clear()
        for label in labels:
            item = QListWidgetItem(label)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = not wanted or label.lower() in wanted
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self.picker.addItem(item)
        self.picker.blockSignals(False)
        self._layout_plot()

    def shown(self) -> list[int]:
        """Indices (into labels) of the picked channels."""
        return [i for i in range(self.picker.count())
                if self.picker.item(i).checkState() == Qt.CheckState.Checked]

    def _check_all(self, on: bool) -> None:
        self.picker.blockSignals(True)
        for i in range(self.picker.count()):
            self.picker.item(i).setCheckState(Qt.CheckState.Checked if on
                                              else Qt.CheckState.Unchecked)
        self.picker.blockSignals(False)
        self._layout_plot()

    def _layout_plot(self) -> None:
        """Curves, axis ticks and height for the picked channels, mode and scale."""
        self.plot.clear()
        shown = self.shown()
        scale = float(self.scale.currentData() or DEFAULT_SCALE_UV)
        stacked = self.mode.currentText() == "stacked"
        self.curves = [self.plot.plot(pen=TRACE_PEN) for _ in shown]
        axis = self.plot.getAxis("left")
        self.plot.setXRange(-10.0, 0, padding=0)
        if stacked:
            ticks = [(-k * scale, self.labels[i]) for k, i in enumerate(shown)]
            axis.setTicks([ticks, []])
            self.plot.setLabel("left", "")
            self.plot.setTitle(f"{len(shown)} channels, {scale:g} µV between traces")
            self.plot.setYRange(-(len(shown) - 0.5) * scale, 0.5 * scale, padding=0)
            self.plot.setMinimumHeight(max(200, ROW_PX * len(shown)))
        else:
            axis.setTicks(None)
            self.plot.setLabel("left", "µV")
            self.plot.setTitle(f"{len(shown)} channels overlaid, ±{scale:g} µV")
            self.plot.setYRange(-scale, scale, padding=0)
            self.plot.setMinimumHeight(200)
        self._shown, self._scale, self._stacked = shown, scale, stacked

    def draw(self, ring: StreamRing | None, now: float) -> None:
        """Redraw the picked channels' last 10 s; update the flags from the last 5 s."""
        if ring is None or not self.columns:
            return
        t, data = ring.window(self.columns, now, MAX_POINTS)
        if len(t) == 0:
            return
        recent = data[t >= -FLAG_WINDOW_S]
        flags = channel_flags(recent, self.units)
        if flags != self.flags:
            self._show_flags(flags)
        centred = data - np.median(data, axis=0)  # DC offsets would push traces apart
        for k, (curve, i) in enumerate(zip(self.curves, self._shown, strict=True)):
            offset = -k * self._scale if self._stacked else 0.0
            curve.setData(t, centred[:, i] + offset)
            curve.setPen(FLAG_PEN if self.flags[i] else TRACE_PEN)

    def _show_flags(self, flags: list[str]) -> None:
        self.flags = flags
        self.flags_label.setText(f"flags: {flags_text(self.labels, flags)}")
        self.flags_label.setStyleSheet("color: #c62828;" if any(flags) else "")
        self.picker.blockSignals(True)
        for i, flag in enumerate(flags):
            item = self.picker.item(i)
            item.setText(f"{self.labels[i]}  {flag}" if flag else self.labels[i])
            item.setForeground(QColor("#c62828" if flag else "#000000"))
        self.picker.blockSignals(False)
