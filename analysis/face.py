"""Face video preprocessing (MMME 4.2.1): backdrop segmentation, face detection, fixed crop.

The face is found once, on the first frame of a clip, and that box is kept for the whole clip:
micro-expressions are tiny movements, and a box re-detected per frame would jitter by more
than they move. Crops are grey 128x128, the size the paper's flow and spotting work on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from drivers.imaging import debayer, to_gray

log = logging.getLogger(__name__)

CROP_SIZE = 128
# Green backdrop in OpenCV HSV (H 0-180): hue around 60, clearly saturated, not dark. Skin,
# hair and clothes fall outside (skin hue ~5-25, hair and grey clothes have low saturation).
BACKDROP_HSV_LOW = (35, 70, 40)
BACKDROP_HSV_HIGH = (90, 255, 255)
_DETECT_HEIGHT = 400  # frames are shrunk to about this height for the Haar cascades (speed)
# Where eyes sit in a Haar frontal-face box when the eye cascade finds none (centres as
# fractions of the box; measured on the cascade's boxes of the simulated faces).
_EYE_PRIOR = ((0.31, 0.39), (0.69, 0.39))
_EYE_PRIOR_SIZE = 0.185  # side of the eye cascade's (square) box as a fraction of the face box
# The eye cascade's square box is centred on the eye but much taller than the eye opening;
# what a blink moves (lids and lashes) fills about this fraction of its width and height.
_EYE_SPAN = (1.0, 0.7)

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True, eq=False)
class FaceCrop:
    """A clip's face box in full-frame pixels plus what lies where inside the crop."""

    x: int  # box in full-frame pixels; x, y, w, h even, so Bayer 2x2 cells stay whole
    y: int
    w: int
    h: int
    detected: bool  # True: Haar face detection; False: backdrop-segmentation fallback
    size: int = CROP_SIZE  # crops are size x size pixels
    eyes: tuple[Box, ...] = ()  # eye openings (lids, lashes) in crop pixels: blinks
    foreground: np.ndarray | None = field(default=None, repr=False)  # (size, size) not-backdrop

    def eye_mask(self) -> np.ndarray:
        """(size, size) bool mask, True on the eye boxes."""
        m = np.zeros((self.size, self.size), bool)
        for x, y, w, h in self.eyes:
            m[max(0, y) : y + h, max(0, x) : x + w] = True
        return m


def backdrop_mask(bgr: np.ndarray) -> np.ndarray:
    """(h, w) bool mask of the green backdrop, segmented in HSV."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    mask = cv2.inRange(hsv, BACKDROP_HSV_LOW, BACKDROP_HSV_HIGH)
    # Opening then closing removes speckle from sensor noise and fills small holes.
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return mask > 0


def foreground_mask(bgr: np.ndarray) -> np.ndarray:
    """(h, w) bool mask of the participant: the largest connected non-backdrop region."""
    fg = (~backdrop_mask(bgr)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return fg > 0
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def head_box_from_foreground(fg: np.ndarray) -> Box | None:
    """Rough face box from a foreground mask: the head is the top of the silhouette."""
    rows = np.flatnonzero(fg.any(axis=1))
    if rows.size == 0:
        return None
    top = int(rows[0])
    h, w = fg.shape
    width = max(8, int(fg.any(axis=0).sum()) // 3)
    # Fixed point: the head's width measured half a head below its top (shoulders are lower).
    for _ in range(6):
        row = fg[min(h - 1, top + width // 2)]
        cols = np.flatnonzero(row)
        if cols.size == 0:
            break
        width = max(8, int(cols[-1] - cols[0] + 1))
    cols = np.flatnonzero(fg[min(h - 1, top + width // 2)])
    cx = (cols[0] + cols[-1]) / 2 if cols.size else w / 2
    # Hair covers the top of the head: the face starts about a fifth of a head width lower.
    return int(cx - width / 2), int(top + 0.2 * width), width, width


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected a (h, w) grey or (h, w, 3) BGR image, got {image.shape}")


def _cascade(name: str) -> cv2.CascadeClassifier:
    c = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if c.empty():
        raise RuntimeError(f"OpenCV's bundled cascade {name} could not be loaded")
    return c


def detect_face(gray: np.ndarray, fg: np.ndarray | None = None) -> Box | None:
    """Largest Haar frontal face (x, y, w, h) in a grey image, preferring the foreground."""
    h, w = gray.shape
    down = max(1, round(h / _DETECT_HEIGHT))
    small = cv2.resize(gray, (w // down, h // down), interpolation=cv2.INTER_AREA)
    min_side = max(24, small.shape[0] // 6)
    faces = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    best: Box | None = None
    best_score = -1.0
    for fx, fy, fw, fh in faces:
        box = (int(fx) * down, int(fy) * down, int(fw) * down, int(fh) * down)
        # A face on the backdrop is a false detection: weight size by foreground coverage.
        x, y, bw, bh = box
        cover = 1.0 if fg is None else float(fg[y : y + bh, x : x + bw].mean())
        score = bw * bh * cover
        if cover > 0.5 and score > best_score:
            best, best_score = box, score
    return best


def detect_eyes(gray_face: np.ndarray) -> list[Box]:
    """Up to two Haar eye boxes in the upper part of a face image, left to right."""
    h, w = gray_face.shape
    down = max(1, round(h / 160))  # eyes are found well at ~160 px faces and it is faster
    small = cv2.resize(gray_face, (w // down, h // down), interpolation=cv2.INTER_AREA)
    found = _cascade("haarcascade_eye.xml").detectMultiScale(
        small, scaleFactor=1.1, minNeighbors=5, minSize=(small.shape[1] // 10,) * 2
    )
    eyes = [
        (int(x) * down, int(y) * down, int(ew) * down, int(eh) * down)
        for x, y, ew, eh in found
        if (y + eh / 2) < 0.6 * small.shape[0]  # nostrils and mouth corners are not eyes
    ]
    eyes.sort(key=lambda b: b[2] * b[3], reverse=True)
    eyes = eyes[:2]
    if len(eyes) == 2 and abs(eyes[0][0] - eyes[1][0]) < 0.2 * w:
        eyes = eyes[:1]  # two boxes on the same eye
    return sorted(eyes)


def _even_box(box: Box, frame_w: int, frame_h: int) -> Box:
    x, y, w, h = box
    x0, y0 = max(0, x) & ~1, max(0, y) & ~1
    x1, y1 = min(frame_w, x + w) & ~1, min(frame_h, y + h) & ~1
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError(f"face box {box} is too small or outside the {frame_w}x{frame_h} frame")
    return x0, y0, x1 - x0, y1 - y0


def _eye_box_in_crop(eye: Box, sx: float, sy: float) -> Box:
    """A Haar eye box (face-box pixels) -> the eye opening in crop pixels."""
    ex, ey, ew, eh = eye
    cx, cy = (ex + ew / 2) * sx, (ey + eh / 2) * sy
    hw, hh = _EYE_SPAN[0] * ew * sx / 2, _EYE_SPAN[1] * eh * sy / 2
    x0, y0 = int(np.floor(cx - hw)), int(np.floor(cy - hh))
    return x0, y0, int(np.ceil(cx + hw)) - x0, int(np.ceil(cy + hh)) - y0


def default_eye_boxes(size: int = CROP_SIZE) -> tuple[Box, ...]:
    """Eye openings in a crop of a Haar face box when no eye was found (geometric prior)."""
    side = _EYE_PRIOR_SIZE * size
    prior = [(cx * size - side / 2, cy * size - side / 2, side, side) for cx, cy in _EYE_PRIOR]
    return tuple(_eye_box_in_crop(b, 1.0, 1.0) for b in prior)  # type: ignore[arg-type]


def _eye_boxes_in_crop(gray: np.ndarray, box: Box, size: int) -> tuple[Box, ...]:
    x, y, w, h = box
    eyes = detect_eyes(gray[y : y + h, x : x + w])
    if len(eyes) < 2:  # one or none found: trust the geometric prior for both eyes
        return default_eye_boxes(size)
    return tuple(_eye_box_in_crop(e, size / w, size / h) for e in eyes)


def face_crop(first_frame: np.ndarray, size: int = CROP_SIZE) -> FaceCrop:
    """Find the face in a clip's first frame (full-resolution BGR or grey) -> FaceCrop."""
    bgr = _as_bgr(first_frame)
    colour = first_frame.ndim == 3
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if colour else first_frame
    # A mono camera has no colour: then nothing is backdrop and segmentation does not help.
    fg = foreground_mask(bgr) if colour else np.ones(gray.shape, bool)
    fh, fw = gray.shape
    box = detect_face(gray, fg)
    detected = box is not None
    if box is None:
        box = head_box_from_foreground(fg)
        if box is None:
            raise ValueError("no face found and the frame has no foreground")
        log.warning("no face detected on the first frame; using the foreground's head box %s", box)
    box = _even_box(box, fw, fh)
    x, y, w, h = box
    fg_crop = cv2.resize(fg[y : y + h, x : x + w].astype(np.uint8), (size, size)) > 0
    return FaceCrop(x, y, w, h, detected, size, _eye_boxes_in_crop(gray, box, size), fg_crop)


def face_crop_raw(raw: np.ndarray, pixel_format: str, size: int = CROP_SIZE) -> FaceCrop:
    """face_crop of a raw (Bayer or mono) first frame."""
    image = raw if pixel_format == "mono8" else debayer(raw, pixel_format)
    return face_crop(image, size)


def crop_frames(raw_frames: np.ndarray, pixel_format: str, crop: FaceCrop) -> np.ndarray:
    """Raw full frames (n, H, W) -> grey face crops uint8 (n, size, size)."""
    x, y, w, h = crop.x, crop.y, crop.w, crop.h
    return crop_regions(raw_frames[:, y : y + h, x : x + w], pixel_format, crop.size)


def iter_crops(
    frames: Any, pixel_format: str, crop: FaceCrop, block: int = 150
) -> Iterator[np.ndarray]:
    """Grey face crops (b, size, size) of a frame stack, block by block.

    `frames` is anything sliced as frames[a:b, y0:y1, x0:x1], e.g. a segment's h5py
    "frames" dataset: only the face region is then copied out of each stored frame.
    """
    x, y, w, h = crop.x, crop.y, crop.w, crop.h
    for start in range(0, len(frames), block):
        region = frames[start : start + block, y : y + h, x : x + w]
        yield crop_regions(np.asarray(region), pixel_format, crop.size)


def crop_regions(raw_regions: np.ndarray, pixel_format: str, size: int = CROP_SIZE) -> np.ndarray:
    """Raw face regions already cut at even offsets (n, h, w) -> grey crops (n, size, size)."""
    if raw_regions.ndim != 3 or raw_regions.dtype != np.uint8:
        raise ValueError(f"expected uint8 (n, h, w) raw frames, got {raw_regions.dtype}")
    n, h, w = raw_regions.shape
    out = np.empty((n, size, size), np.uint8)
    bayer = pixel_format != "mono8"
    # Averaging each 2x2 Bayer cell (R + 2G + B) is a luminance image at half resolution with
    # no demosaicing artefacts: 0.23 ms per full-frame face against 0.77 ms for a demosaic
    # to grey. Used only when the half-resolution face is still larger than the crop, i.e.
    # when nothing is lost by it.
    half = bayer and h // 2 >= size and w // 2 >= size
    for i in range(n):
        region = raw_regions[i]
        if half:
            region = cv2.resize(region, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        elif bayer:
            region = to_gray(np.ascontiguousarray(region), pixel_format)
        shrink = region.shape[0] > size
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        out[i] = cv2.resize(region, (size, size), interpolation=interp)
    return out
