"""Clip playback for the participant display: Qt Multimedia decodes, we paint and timestamp.

Frames come from a QVideoSink and are painted by our own widget (QVideoWidget stays blank
offscreen and hides when a frame really shows). The onset time is taken right after the
first frame after play() has been painted, not when play was asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject, QRectF, QUrl, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PyQt6.QtMultimedia import QAudioOutput, QMediaPlayer, QVideoFrame, QVideoSink
from PyQt6.QtWidgets import QWidget

from core.clock import local_clock


class VideoView(QWidget):
    """Paints the latest frame, letterboxed on black."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self.setAutoFillBackground(False)

    @property
    def image(self) -> QImage | None:
        """The frame on screen (None when blank)."""
        return self._image

    def show_frame(self, image: QImage) -> None:
        """Put a frame on screen now (synchronous repaint, so the time after it is honest)."""
        self._image = image
        self.repaint()

    def clear(self) -> None:
        """Blank the view."""
        self._image = None
        self.update()

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("black"))
        image = self._image
        if image is not None and not image.isNull() and image.width() and image.height():
            scale = min(self.width() / image.width(), self.height() / image.height())
            w, h = image.width() * scale, image.height() * scale
            target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
            painter.drawImage(target, image)
        painter.end()


class ClipPlayer(QObject):
    """Plays one clip at a time; reports the first presented frame and the end of media."""

    started = pyqtSignal(float)  # session time just after the first frame was painted
    finished = pyqtSignal(float)  # session time of EndOfMedia
    failed = pyqtSignal(str)

    def __init__(self, present: Callable[[QImage], None],
                 clock: Callable[[], float] = local_clock, parent: QObject | None = None,
                 volume: float = 1.0) -> None:
        super().__init__(parent)
        self._present = present
        self._clock = clock
        self._player = QMediaPlayer(self)
        self._sink = QVideoSink(self)
        self._audio = QAudioOutput(self)
        self._audio.setVolume(volume)
        self._player.setVideoSink(self._sink)
        self._player.setAudioOutput(self._audio)
        self._sink.videoFrameChanged.connect(self._on_frame)
        self._player.mediaStatusChanged.connect(self._on_status)
        self._player.errorOccurred.connect(self._on_error)
        self._active = False
        self._waiting_first = False
        self.frames_shown = 0
        self.source: Path | None = None

    @property
    def playing(self) -> bool:
        """True from play() until the clip ended, failed or was stopped."""
        return self._active

    def play(self, path: str | Path) -> None:
        """Start a clip; started/finished (or failed) follow."""
        self.stop()
        self.source = Path(path)
        self.frames_shown = 0
        self._active = self._waiting_first = True
        if not self.source.is_file():
            self._fail(f"clip not found: {self.source}")
            return
        self._player.setSource(QUrl.fromLocalFile(str(self.source.resolve())))
        self._player.play()

    def stop(self) -> None:
        """Stop playback (no signal follows)."""
        self._active = self._waiting_first = False
        self._player.stop()

    def _on_frame(self, frame: QVideoFrame) -> None:
        if not self._active or not frame.isValid():
            return  # frames of a stopped clip and empty end-of-stream frames are not shown
        image = frame.toImage()
        if image.isNull():
            return
        self._present(image)
        self.frames_shown += 1
        if self._waiting_first:
            self._waiting_first = False
            self.started.emit(self._clock())

    def _on_status(self, status: QMediaPlayer.MediaStatus) -> None:
        if not self._active:
            return
        if status == QMediaPlayer.MediaStatus.EndOfMedia:
            self._active = False
            self.finished.emit(self._clock())
        elif status == QMediaPlayer.MediaStatus.InvalidMedia:
            self._fail(f"cannot play {self.source}: {self._player.errorString() or 'invalid'}")

    def _on_error(self, error: QMediaPlayer.Error, message: str) -> None:
        if self._active and error != QMediaPlayer.Error.NoError:
            self._fail(f"cannot play {self.source}: {message}")

    def _fail(self, message: str) -> None:
        self._active = self._waiting_first = False
        self.failed.emit(message)
