"""The camera preview image, Qt-free: a raw frame subsampled then debayered, a few ms at most."""

from __future__ import annotations

import math

import numpy as np

from drivers.imaging import debayer

PREVIEW_WIDTH = 480


def preview_step(width: int, max_width: int = PREVIEW_WIDTH) -> int:
    """Subsampling factor that brings a frame's width to max_width or less."""
    return max(1, math.ceil(width / max_width))


def preview_rgb(raw: np.ndarray, pixel_format: str, max_width: int = PREVIEW_WIDTH
                ) -> np.ndarray:
    """RGB uint8 (h, w, 3) preview of a raw Bayer or mono frame, at most max_width wide.

    A Bayer frame keeps every k-th whole 2x2 cell, so the colour pattern survives and only the
    small result is demosaiced: the cost follows the preview's size, not the sensor's.
    """
    height, width = raw.shape
    step = preview_step(width, max_width)
    if step > 1:
        if pixel_format == "mono8":
            raw = raw[::step, ::step]
        else:
            rows = ((np.arange(height // (2 * step)) * 2 * step)[:, None] + (0, 1)).ravel()
            cols = ((np.arange(width // (2 * step)) * 2 * step)[:, None] + (0, 1)).ravel()
            raw = raw[np.ix_(rows, cols)]
    bgr = debayer(np.ascontiguousarray(raw), pixel_format)
    return np.ascontiguousarray(bgr[:, :, ::-1])
