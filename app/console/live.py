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
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from app.console.preview import preview_rgb
from app.console.taps import ChunkTap, LatestFrame, StreamRing
from core.trigger_channel import is_trigger_label

PREVIEW_MS = 25  # up to 40 preview frames a second; the camera always has a new one
PLOT_MS = 100  # plots at 10 Hz
PLOT_SECONDS = 10.0
DEFAULT_EEG = ("Fz", "Cz", "Pz", "Oz")
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
    """The last 10 s of the peripheral channels (one plot each) and chosen EEG channels."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.curves: dict[str, list[pg.PlotDataItem]] = {}
        self.channels: dict[str, list[int]] = {}
        self._eeg_spacing: float | None = None

    def configure(self, labels: dict[str, list[str]], eeg_channels: list[str]) -> list[str]:
        """Build the plots; returns the EEG labels shown (unknown ones are left out)."""
        self.clear()
        self.curves, self.channels, self._eeg_spacing = {}, {}, None
        shown: list[str] = []
        for role, names in labels.items():
            usable = [i for i, n in enumerate(names) if not is_trigger_label(n)]
            if role == "eeg":
                wanted = [n.lower() for n in eeg_channels]
                picked = [i for i in usable if names[i].lower() in wanted]
                picked.sort(key=lambda i: wanted.index(names[i].lower()))
                shown = [names[i] for i in picked]
                plot = self._plot("EEG" if shown else "EEG (no channel chosen)")
                self.ci.layout.setRowStretchFactor(self.ci.layout.rowCount() - 1, 3)
                plot.getAxis("left").setStyle(showValues=False)
                plot.addLegend(offset=(-5, 2), colCount=max(1, len(picked)), labelTextSize="8pt")
                self.channels[role] = picked
                self.curves[role] = [plot.plot(pen=pg.mkPen(COLOURS[k % len(COLOURS)]),
                                               name=shown[k]) for k in range(len(picked))]
                continue
            self.channels[role] = usable
            self.curves[role] = []
            for k, index in enumerate(usable):
                plot = self._plot(names[index])
                self.curves[role].append(plot.plot(pen=pg.mkPen(COLOURS[k % len(COLOURS)])))
        return shown

    def _plot(self, title: str) -> pg.PlotItem:
        plot = self.addPlot(row=self.ci.layout.rowCount(), col=0)
        plot.setLabel("left", title)
        plot.setXRange(-PLOT_SECONDS, 0, padding=0)
        plot.setMouseEnabled(x=False, y=True)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        return plot

    def draw(self, rings: dict[str, StreamRing], now: float) -> None:
        """Redraw every curve from the rings' last 10 s."""
        for role, curves in self.curves.items():
            ring = rings.get(role)
            if ring is None or not curves:
                continue
            t, data = ring.window(self.channels[role], now)
            if role == "eeg" and len(t):
                data = data - data.mean(axis=0)  # DC offsets would push traces apart
                if self._eeg_spacing is None and len(t) > 200:
                    self._eeg_spacing = float(max(1e-6, 6 * np.median(data.std(axis=0))))
                spacing = self._eeg_spacing or 1.0
                data = data - spacing * np.arange(data.shape[1])
            for k, curve in enumerate(curves):
                curve.setData(t, data[:, k] if len(t) else t)


class LiveViews(QWidget):
    """Camera preview and plots for one recording; start() with its taps, stop() after."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview = CameraPreview()
        self.preview_info = QLabel("preview: -")
        self.plots = LivePlots()
        self.eeg_channels = QLineEdit(", ".join(DEFAULT_EEG))
        self.eeg_channels.setToolTip("EEG channels to plot, by label (comma separated)")
        self.eeg_channels.editingFinished.connect(self._configure)
        left = QVBoxLayout()
        left.addWidget(self.preview, 1)
        left.addWidget(self.preview_info)
        right = QVBoxLayout()
        right.addWidget(self.plots, 1)
        chooser = QHBoxLayout()
        chooser.addWidget(QLabel("EEG channels"))
        chooser.addWidget(self.eeg_channels, 1)
        right.addLayout(chooser)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addLayout(right, 3)
        self._frames: LatestFrame | None = None
        self._chunks: ChunkTap | None = None
        self._pixel_format = ""
        self._labels: dict[str, list[str]] = {}
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
              clock: Callable[[], float]) -> None:
        """Begin showing a recording's taps (clock: the session clock of the chunks' times)."""
        self._frames, self._chunks, self._pixel_format = frames, chunks, pixel_format
        self._labels = labels
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
        wanted = [c.strip() for c in self.eeg_channels.text().split(",") if c.strip()]
        self.plots.configure(self._labels, wanted)

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
        self.plots.draw(self.rings, self._clock())
