"""Aligned face crops and the facial regions (ROIs) spotting pools its flow over.

Each frame's face is mapped to a 128x128 grey crop by a similarity transform from its
landmarks (analysis/face_track.py), so head motion and zoom do not become optical flow.
The regions of interest follow the MDMO idea (Liu et al. 2015, the seeds' reference [38]):
rectangles placed from the landmarks on the facial-action areas, here brows (AU1/2/4),
around the eyes (AU6/7), the nose wings (AU9/10), the mouth corners (AU12/14/15), the upper
lip and the chin (AU17/23/24). The eye openings themselves are masked: a blink moves ~10x
more than a micro-expression.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from analysis.landmarks import EYE_L, EYE_R, eye_centres

CROP_SIZE = 128
# Where the eye centres sit in a crop (fractions of its side): brows to chin fit inside.
TEMPLATE_EYES = ((0.32, 0.36), (0.68, 0.36))
_EYE_OPENING = (1.4, 2.6)  # eye mask: landmark bounding box grown by this (width, height)
_ROI_SIDE = 0.42  # ROI side as a fraction of the distance between the eye centres

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True, eq=False)
class FaceLayout:
    """What lies where in a clip's aligned crops: eye openings and ROIs in crop pixels."""

    size: int
    eyes: tuple[Box, ...]
    rois: tuple[Box, ...]
    roi_names: tuple[str, ...]

    def eye_mask(self) -> np.ndarray:
        """(size, size) bool mask, True on the eye openings."""
        m = np.zeros((self.size, self.size), bool)
        for x, y, w, h in self.eyes:
            m[max(0, y) : y + h, max(0, x) : x + w] = True
        return m


def template_eyes(size: int = CROP_SIZE) -> np.ndarray:
    """(2, 2) crop positions of the image-left and image-right eye centres."""
    return np.array(TEMPLATE_EYES) * size


def _box_around(centre: np.ndarray, w: float, h: float, size: int) -> Box:
    x0, y0 = round(centre[0] - w / 2), round(centre[1] - h / 2)
    x1, y1 = round(centre[0] + w / 2), round(centre[1] + h / 2)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(size, x1), min(size, y1)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def _eye_box(points: np.ndarray, size: int) -> Box:
    lo, hi = points.min(axis=0), points.max(axis=0)
    w, h = (hi - lo) * _EYE_OPENING
    return _box_around((lo + hi) / 2, w, h, size)


def face_layout(points: np.ndarray, size: int = CROP_SIZE) -> FaceLayout:
    """The layout of a crop from its (68, 2) landmarks in crop pixels."""
    left, right = eye_centres(points)
    iod = float(np.linalg.norm(right - left))
    side = _ROI_SIDE * iod
    up = np.array([0.0, -0.12 * iod])  # brow ROIs sit on and just above the brow line
    out = np.array([0.18 * iod, 0.0])
    below = np.array([0.0, 0.28 * iod])
    p = points
    centres = {
        "brow_l_outer": p[[17, 18]].mean(axis=0) + up,
        "brow_l_inner": p[[20, 21]].mean(axis=0) + up,
        "brow_r_inner": p[[22, 23]].mean(axis=0) + up,
        "brow_r_outer": p[[25, 26]].mean(axis=0) + up,
        "glabella": (p[21] + p[22]) / 2 + up,
        "eye_l_outer": p[36] - out,
        "eye_r_outer": p[45] + out,
        "cheek_l": p[list(EYE_L)].mean(axis=0) + below,
        "cheek_r": p[list(EYE_R)].mean(axis=0) + below,
        "nose_l": p[31] + np.array([-0.1 * iod, -0.1 * iod]),
        "nose_r": p[35] + np.array([0.1 * iod, -0.1 * iod]),
        "mouth_l": p[48],
        "mouth_r": p[54],
        "upper_lip": (p[33] + p[51]) / 2,
        "chin": (p[57] + p[8]) / 2,
    }
    rois = [(n, _box_around(c, side, side, size)) for n, c in centres.items()]
    rois = [(n, b) for n, b in rois if b[2] * b[3] >= 0.5 * side * side]  # mostly inside
    eyes = (_eye_box(p[list(EYE_L)], size), _eye_box(p[list(EYE_R)], size))
    return FaceLayout(size, eyes, tuple(b for _, b in rois), tuple(n for n, _ in rois))


def gray_region(raw: np.ndarray, pixel_format: str) -> np.ndarray:
    """A raw region cut at even offsets (h, w) -> grey; Bayer at half resolution.

    Averaging each 2x2 Bayer cell (R + 2G + B) is a luminance image with no demosaicing
    artefacts (0.23 ms per full-frame face against 0.77 ms for a demosaic to grey). The
    region may be a strided view of a frame (no copy).
    """
    if raw.ndim != 2 or raw.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (h, w) raw frame, got {raw.dtype} {raw.shape}")
    if pixel_format == "mono8":
        return raw
    return _halve(raw)


def _halve(image: np.ndarray) -> np.ndarray:
    """Each 2x2 cell averaged (OpenCV's fast path of area resizing: ~7x one by 0.4)."""
    h, w = image.shape
    return cv2.resize(image[: h & ~1, : w & ~1], (w // 2, h // 2), interpolation=cv2.INTER_AREA)


def binning(pixel_format: str) -> int:
    """Raw pixels per grey pixel along each axis in gray_region's output."""
    return 1 if pixel_format == "mono8" else 2


def warp_crop(gray: np.ndarray, m: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The aligned crop (size, size) uint8 of a grey image through the 2x3 similarity m."""
    m = m.copy()
    while float(np.hypot(m[0, 0], m[1, 0])) < 0.7:
        # Bilinear sampling of a larger face aliases: halve it first (area average) until the
        # crop's scale is 0.7-1.4, then warp. The cell centres move by half a pixel.
        gray = _halve(gray)
        m[:, 2] += 0.5 * (m[:, 0] + m[:, 1])
        m[:, :2] *= 2
    return cv2.warpAffine(gray, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
