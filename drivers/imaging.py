"""Raw camera frames to viewable images: debayering and grey conversion for every stored format."""

from __future__ import annotations

import cv2
import numpy as np

# OpenCV names a Bayer pattern after the 2x2 block starting at row 1, column 1, not at the
# origin: a sensor whose first row reads R G R G... (RGGB) is OpenCV's "BG", and the
# MQ022CG-CM's G B / R G (GBRG, bayer_gb8, as xiAPI's get_cfa() reports it) is OpenCV's "GR".
_TO_BGR = {
    "bayer_rg8": cv2.COLOR_BayerBG2BGR,
    "bayer_gr8": cv2.COLOR_BayerGB2BGR,
    "bayer_gb8": cv2.COLOR_BayerGR2BGR,
    "bayer_bg8": cv2.COLOR_BayerRG2BGR,
}
_TO_GRAY = {
    "bayer_rg8": cv2.COLOR_BayerBG2GRAY,
    "bayer_gr8": cv2.COLOR_BayerGB2GRAY,
    "bayer_gb8": cv2.COLOR_BayerGR2GRAY,
    "bayer_bg8": cv2.COLOR_BayerRG2GRAY,
}


def _check(raw: np.ndarray, pixel_format: str) -> None:
    if raw.dtype != np.uint8 or raw.ndim != 2:
        raise ValueError(f"expected a uint8 (height, width) raw frame, got {raw.dtype} {raw.shape}")
    if pixel_format != "mono8" and pixel_format not in _TO_BGR:
        raise ValueError(f"unknown pixel format {pixel_format!r}")


def debayer(raw: np.ndarray, pixel_format: str) -> np.ndarray:
    """Raw Bayer or mono frame -> BGR uint8 (height, width, 3), bilinear demosaicing."""
    _check(raw, pixel_format)
    if pixel_format == "mono8":
        return cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(raw, _TO_BGR[pixel_format])


def to_gray(raw: np.ndarray, pixel_format: str) -> np.ndarray:
    """Raw Bayer or mono frame -> grey uint8 (height, width)."""
    _check(raw, pixel_format)
    if pixel_format == "mono8":
        return raw
    return cv2.cvtColor(raw, _TO_GRAY[pixel_format])


def mosaic(bgr: np.ndarray, pixel_format: str) -> np.ndarray:
    """BGR uint8 image -> the raw frame a sensor with this colour filter array would deliver."""
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"expected a (height, width, 3) BGR image, got {bgr.shape}")
    if pixel_format == "mono8":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if pixel_format not in _TO_BGR:
        raise ValueError(f"unknown pixel format {pixel_format!r}")
    # Channel index (B=0, G=1, R=2) sampled at (even row, even col), (even, odd), (odd, even),
    # (odd, odd), read off the pattern name: bayer_rg8 = R G / G B.
    layout = {"rg": (2, 1, 1, 0), "gr": (1, 2, 0, 1), "gb": (1, 0, 2, 1), "bg": (0, 1, 1, 2)}
    c00, c01, c10, c11 = layout[pixel_format[6:8]]
    out = np.empty(bgr.shape[:2], np.uint8)
    out[0::2, 0::2] = bgr[0::2, 0::2, c00]
    out[0::2, 1::2] = bgr[0::2, 1::2, c01]
    out[1::2, 0::2] = bgr[1::2, 0::2, c10]
    out[1::2, 1::2] = bgr[1::2, 1::2, c11]
    return out
