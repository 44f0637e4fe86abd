"""Face tracking through a clip: sparse detection, landmarks, aligned crops, face-lost frames.

Per frame the tracker cuts a region around the face it follows, turns it grey (Bayer at
half resolution), fits the 68 landmarks about 30 times a second (every frame below 30 fps)
and maps the region to a 128x128 crop by the similarity that takes the stable landmarks
(eye corners, nose) onto where they were in the run's first frame. The HOG detector checks
every `detect_every` seconds, near the tracked face, that a face is still there; when it
finds none the face is lost and, until a full-frame detection finds one again, frames have
no crop. Each stretch of frames with a face (a run) has its own reference frame and layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.face import (
    CROP_SIZE,
    FaceLayout,
    binning,
    face_layout,
    gray_region,
    template_eyes,
    warp_crop,
)
from analysis.landmarks import (
    DETECT_FACE_PX,
    STABLE,
    Detection,
    OneEuro,
    apply,
    detect_faces,
    eye_centres,
    landmarks,
    similarity,
)

_FULL_FRAME_DETECT_PX = 480  # a lost face is searched in the frame scaled to this height
# Raw frame rows are read around the face box with this margin (box sizes above and below):
# room for the face to move during one block of frames (0.2 s at 150 fps).
_READ_MARGIN = 1.5


@dataclass(frozen=True)
class _Region:
    """The grey image of the part of a frame around the face."""

    image: np.ndarray
    origin: np.ndarray  # its first pixel in grey pixels of the whole frame

    def warp(self, m: np.ndarray, size: int) -> np.ndarray:
        """The crop through m (grey pixels of the whole frame -> crop pixels)."""
        local = m.copy()
        local[:, 2] += m[:, :2] @ self.origin
        return warp_crop(self.image, local, size)


@dataclass(frozen=True)
class TrackParams:
    """Tracker settings; times in seconds."""

    detect_every: float = 0.25  # the detector confirms the face this often
    landmark_rate: float = 30.0  # landmarks per second (every frame of slower clips)
    smooth: float = 0.5  # weight of the new landmarks (exponential smoothing of jitter)
    margin: float = 0.6  # region read around the face box, in box widths on each side
    # The alignment follows the stable landmarks through a One Euro filter. Landmarks are
    # whole pixels and jitter by about one from fit to fit; an alignment following them fit
    # by fit turns that jitter into flow as large as a micro-expression's. While the head
    # holds still the filter averages over ~1/(2 pi align_cutoff) s; moving, it follows
    # with a lag of about 1/(2 pi align_beta) face spreads (what lags is mostly a shift,
    # which spotting removes as the regions' median motion).
    align_cutoff: float = 0.05  # Hz
    align_beta: float = 1.0  # per (face spread / s)


@dataclass(frozen=True)
class TrackPoint:
    """One frame of a track: face box in raw frame pixels and the detector's score."""

    frame: int  # index in the clip
    found: bool
    box: tuple[int, int, int, int] | None  # x, y, w, h
    quality: float  # HOG score of the latest detection (> 0: a face); NaN when not found


@dataclass
class Tracked:
    """A frame's track point and, when its face was found, its aligned crop."""

    point: TrackPoint
    crop: np.ndarray | None
    layout: FaceLayout | None = None  # set on a run's first frame: its reference layout


class FaceTracker:
    """Follows one face through raw frames pushed in order."""

    def __init__(self, fps: float, pixel_format: str, params: TrackParams | None = None,
                 size: int = CROP_SIZE) -> None:
        self.params = params = params or TrackParams()
        self.pixel_format, self.size = pixel_format, size
        self.bin = binning(pixel_format)
        self.detect_step = max(1, round(params.detect_every * fps))
        self.landmark_step = max(1, round(fps / params.landmark_rate))
        self._fit_dt = self.landmark_step / fps
        self._align: OneEuro | None = None
        self.layout: FaceLayout | None = None
        self.n = 0
        self._box: np.ndarray | None = None  # x, y, w, h in grey (binned) pixels
        self._since_detect = 0
        self._since_landmarks = 0
        self._score = float("nan")
        self._points: np.ndarray | None = None
        self._ref: np.ndarray | None = None  # the run's reference landmarks in crop pixels
        self._m: np.ndarray | None = None  # grey pixels -> crop pixels
        self._rel: tuple[np.ndarray, float] = (np.zeros(2), 1.0)  # box vs landmarks
        self._offset = np.zeros(2)  # where the pushed part of the frame starts, grey pixels

    def window(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1) of the raw frames to read next (even offsets): the rows around the
        face with room for it to move, or the whole frame while it is lost. Whole rows: a
        stored frame (one HDF5 chunk) keeps its rows contiguous, so a band of rows is one
        read, where a window of columns would be one read per row."""
        if self._box is None:
            return 0, height, 0, width
        _, y, w, h = self._box * self.bin
        grow = _READ_MARGIN * max(w, h)
        y0 = max(0, int(y - grow)) & ~1
        return y0, min(height, int(y + h + grow) + 2), 0, width

    def push(self, raw: np.ndarray, offset: tuple[int, int] = (0, 0)) -> Tracked:
        """Track one raw frame (h, w) uint8, or the part of it at offset (x, y), even."""
        i, self.n = self.n, self.n + 1
        self._offset = np.array(offset, dtype=np.float64) / self.bin
        new_run = False
        if self._box is None:
            if i % self.detect_step == 0:
                new_run = self._search(raw)
            if self._box is None:
                return Tracked(TrackPoint(i, False, None, float("nan")), None)
        region = self._region(raw)
        self._since_detect += 1
        self._since_landmarks += 1
        if not new_run and self._since_detect >= self.detect_step and not self._confirm(
                region):
            return Tracked(TrackPoint(i, False, None, float("nan")), None)
        if new_run or self._since_landmarks >= self.landmark_step:
            self._fit(region, restart=new_run)
        crop = region.warp(self._m, self.size)
        box = tuple(round(float(v) * self.bin) for v in self._box)
        return Tracked(TrackPoint(i, True, box, self._score), crop,
                       self.layout if new_run else None)

    def _region(self, raw: np.ndarray) -> _Region:
        """Grey region around the face box."""
        x, y, w, h = self._box
        x, y = x - self._offset[0], y - self._offset[1]  # in the pushed part's grey pixels
        grow = self.params.margin * max(w, h)
        b, (fh, fw) = self.bin, raw.shape
        x0 = max(0, int((x - grow) * b)) & ~1
        y0 = max(0, int((y - grow) * b)) & ~1
        x1, y1 = min(fw, int((x + w + grow) * b) + 2), min(fh, int((y + h + grow) * b) + 2)
        image = gray_region(raw[y0:y1, x0:x1], self.pixel_format)
        return _Region(image, np.array([x0 // b, y0 // b], dtype=np.float64) + self._offset)

    def _search(self, raw: np.ndarray) -> bool:
        """Full-frame detection of a lost face; True when one was found (a new run)."""
        gray = gray_region(raw, self.pixel_format)
        # Shrunk to at most 480 rows (speed); when that finds nothing in a smaller frame,
        # enlarged to 480 rows: the HOG detector needs faces of ~80 px, so small frames are
        # searched for faces down to a sixth of their height.
        scale = _FULL_FRAME_DETECT_PX / gray.shape[0]
        found = detect_faces(gray, min(1.0, scale))
        if not found and scale > 1.0:
            found = detect_faces(gray, scale)
        if not found:
            return False
        self._take(found[0], self._offset)
        return True

    def _confirm(self, region: _Region) -> bool:
        """Re-detect near the tracked face; False (face lost) when the detector finds none."""
        self._since_detect = 0
        x, y, w, h = self._box
        # A face smaller than DETECT_FACE_PX is enlarged to it (the detector needs ~80 px).
        found = detect_faces(region.image, DETECT_FACE_PX / w)
        centre = np.array([x + w / 2, y + h / 2]) - region.origin
        near = [d for d in found
                if np.hypot(d.box[0] + d.box[2] / 2 - centre[0],
                            d.box[1] + d.box[3] / 2 - centre[1]) < 0.5 * w]
        if not near:
            self._box = None
            return False
        self._take(near[0], region.origin)
        self._since_landmarks = self.landmark_step  # fit the landmarks on the new box now
        return True

    def _take(self, det: Detection, origin: np.ndarray) -> None:
        x, y, w, h = det.box
        self._box = np.array([x + origin[0], y + origin[1], w, h])
        self._score = det.score
        self._since_detect = 0
        self._points = None  # landmarks restart from the detector's box

    def _fit(self, region: _Region, restart: bool) -> None:
        """Landmarks on the current box -> smoothed points, alignment and the box."""
        self._since_landmarks = 0
        box = self._box.copy()
        box[:2] -= region.origin
        pts = landmarks(region.image, tuple(box)) + region.origin
        fresh = self._points is None
        if not fresh:
            a = self.params.smooth
            pts = a * pts + (1 - a) * self._points
        self._points = pts
        stable = pts[list(STABLE)]
        centre = stable.mean(axis=0)
        spread = float(np.sqrt(((stable - centre) ** 2).sum(axis=1).mean()))
        if fresh:  # just detected: remember where the detector's box sits on these landmarks
            x, y, w, _ = self._box
            self._rel = ((np.array([x + w / 2, y + self._box[3] / 2]) - centre) / spread,
                         w / spread)
        else:
            offset, width = self._rel
            c = centre + offset * spread
            side = width * spread
            self._box = np.array([c[0] - side / 2, c[1] - side / 2, side, side])
        if restart or self._ref is None:
            s0 = similarity(np.array(eye_centres(pts)), template_eyes(self.size))
            self._ref = apply(s0, pts)
            self.layout = face_layout(self._ref, self.size)
            self._align = OneEuro(self.params.align_cutoff, self.params.align_beta)
        self._m = similarity(self._align(stable, self._fit_dt), self._ref[list(STABLE)])
