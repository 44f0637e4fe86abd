"""Live views: camera preview and scrolling plots, fed from the recorder's taps on GUI timers.

The views read the taps (app/console/taps.py) on their own timers and never touch the data
path: a slow repaint only skips preview frames or thins a plot.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt, QTimer
from PyQt6.QtGui import QImage, QPainter, QPaintEvent
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.console.channel_flags import FLAG_WINDOW_S, RULE, channel_flags
from app.console.eeg_view import EegView
from app.console.preview import preview_rgb
from app.console.taps import ChunkTap, LatestFrame, StreamRing
from core.trigger_channel import is_trigger_label

PREVIEW_MS = 25  # up to 40 preview frames a second; the camera always has a new one
PLOT_MS = 100  # plots at 10 Hz
PLOT_SECONDS = 10.0
COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#4e342e")
pg.setConfigOptions(antialias=False, background="w", foreground="k")


class CameraPreview(QWidget):
    """Paints the newest preview image scaled to fit; counts what it showed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.image: QImage | None = None
        self.frames_shown = 0
        self._times: deque[float] = deque(maxlen=60)
        self.first_shown: float | None = None
        self.last_shown: float | None = None

    def show_rgb(self, rgb: np.ndarray) -> None:
        """Show an RGB uint8 (h, w, 3) image."""
        height, width, _ = rgb.shape
        # QImage only borrows the buffer: keep the array alive with the image.
        self._buffer = rgb
        self.image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        now = time.monotonic()
        self._times.append(now)
        self.first_shown = self.first_shown or now
        self.last_shown = now
        self.frames_shown += 1
        self.update()

    @property
    def fps(self) -> float:
        """Preview frames shown per second over the last ~60."""
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(1e-6, self._times[-1] - self._times[0])

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        if self.image is not None:
            size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            x = (self.width() - size.width()) / 2
            y = (self.height() - size.height()) / 2
            painter.drawImage(QRectF(x, y, size.width(), size.height()), self.image)
        else:
            painter.setPen(Qt.GlobalColor.gray)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "no camera image")
        painter.end()


class LivePlots(pg.GraphicsLayoutWidget):
    """The last 10 s of the peripheral channels, one plot each with its unit on the axis;
    a flagged channel (app/console/channel_flags.py) gets its flag in red in its title."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip(RULE)
        self.curves: dict[str, list[pg.PlotDataItem]] = {}
        self.channels: dict[str, list[int]] = {}
        self.units: dict[str, list[str]] = {}
        self.titles: dict[str, list[pg.PlotItem]] = {}
        self.flags: dict[str, list[str]] = {}

    def configure(self, labels: dict[str, list[str]], units: dict[str, list[str]]) -> None:
        """Build one plot per non-trigger channel of every stream but the EEG."""
        self.clear()
        self.curves, self.channels, self.units, self.titles, self.flags = {}, {}, {}, {}, {}
        for role, names in labels.items():
            if role == "eeg":
                continue
            usable = [i for i, n in enumerate(names) if not is_trigger_label(n)]
            unit = units.get(role) or [""] * len(names)
            self.channels[role] = usable
            self.units[role] = [unit[i] for i in usable]
            self.curves[role], self.titles[role] = [], []
            for k, index in enumerate(usable):
                plot = self._plot(names[index], unit[index])
                self.titles[role].append(plot)
                self.curves[role].append(plot.plot(pen=pg.mkPen(COLOURS[k % len(COLOURS)])))
            self.flags[role] = [""] * len(usable)

    def _plot(self, title: str, unit: str) -> pg.PlotItem:
        plot = self.addPlot(row=self.ci.layout.rowCount(), col=0)
        plot.setLabel("left", title, units=None if not unit else f"{unit}")
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.setXRange(-PLOT_SECONDS, 0, padding=0)
        plot.setMouseEnabled(x=False, y=True)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        return plot

    def draw(self, rings: dict[str, StreamRing], now: float) -> None:
        """Redraw every curve from the rings' last 10 s; flag channels on the last 5 s."""
        for role, curves in self.curves.items():
            ring = rings.get(role)
            if ring is None or not curves:
                continue
            t, data = ring.window(self.channels[role], now)
            if len(t):
                flags = channel_flags(data[t >= -FLAG_WINDOW_S], self.units[role])
                if flags != self.flags[role]:
                    self._show_flags(role, flags)
            for k, curve in enumerate(curves):
                curve.setData(t, data[:, k] if len(t) else t)

    def _show_flags(self, role: str, flags: list[str]) -> None:
        self.flags[role] = flags
        for plot, flag in zip(self.titles[role], flags, strict=True):
            plot.setTitle(f"<span style='color:#c62828'>{flag}</span>" if flag else None,
                          size="8pt")


class LiveViews(QWidget):
    """Camera preview and plots for one recording; start() with its taps, stop() after."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview = CameraPreview()
        self.preview_info = QLabel("preview: -")
        self.plots = LivePlots()
        self.eeg = EegView()
        left = QVBoxLayout()
        left.addWidget(self.preview, 1)
        left.addWidget(self.preview_info)
        left.addWidget(self.plots, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addWidget(self.eeg, 3)
        self._frames: LatestFrame | None = None
        self._chunks: ChunkTap | None = None
        self._pixel_format = ""
        self._labels: dict[str, list[str]] = {}
        self._units: dict[str, list[str]] = {}
        self.eeg_picked: list[str] = []  # EEG channels shown at the start ([]: all)
        self.rings: dict[str, StreamRing] = {}
        self._clock: Callable[[], float] = time.monotonic
        self._preview_timer = QTimer(self)
        self._preview_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._preview_timer.setInterval(PREVIEW_MS)
        self._preview_timer.timeout.connect(self.update_preview)
        self._plot_timer = QTimer(self)
        self._plot_timer.setInterval(PLOT_MS)
        self._plot_timer.timeout.connect(self.update_plots)

    def start(self, frames: LatestFrame | None, chunks: ChunkTap, pixel_format: str,
              labels: dict[str, list[str]], rates: dict[str, float],
              clock: Callable[[], float], units: dict[str, list[str]] | None = None) -> None:
        """Begin showing a recording's taps (clock: the session clock of the chunks' times)."""
        self._frames, self._chunks, self._pixel_format = frames, chunks, pixel_format
        self._labels = labels
        self._units = units or {}
        self._clock = clock
        self.rings = {role: StreamRing(len(names), rates.get(role, 0.0), PLOT_SECONDS)
                      for role, names in labels.items()}
        self._configure()
        if frames is not None:
            self._preview_timer.start()
        self._plot_timer.start()

    def stop(self) -> None:
        """Stop the timers (the last image and plots stay)."""
        self._preview_timer.stop()
        self._plot_timer.stop()

    def _configure(self) -> None:
        self.plots.configure(self._labels, self._units)
        names = self._labels.get("eeg", [])
        units = self._units.get("eeg") or [""] * len(names)
        columns = [i for i, n in enumerate(names) if not is_trigger_label(n)]
        self.eeg.configure([names[i] for i in columns], columns, [units[i] for i in columns],
                           self.eeg_picked)

    def update_preview(self) -> None:
        """Show the camera's newest frame, if a new one came."""
        frame = self._frames.take() if self._frames is not None else None
        if frame is None:
            return
        self.preview.show_rgb(preview_rgb(frame.image, self._pixel_format))
        height, width = frame.image.shape
        self.preview_info.setText(f"frame {frame.frame_number}  {width}x{height} "
                                  f"{self._pixel_format}  preview {self.preview.fps:.0f} fps")

    def update_plots(self) -> None:
        """Move new chunks into the rings and redraw."""
        if self._chunks is None:
            return
        for role, ring in self.rings.items():
            for chunk in self._chunks.drain(role):
                ring.add(chunk)
        now = self._clock()
        self.plots.draw(self.rings, now)
        self.eeg.draw(self.rings.get("eeg"), now)
