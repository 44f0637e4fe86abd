"""What a blink paints: per eye an open and a closed patch, blended along the moving lid edge.

The open patch is the photo's eye; the closed patch is that eye with the opening filled by the
skin around it (OpenCV inpainting), a little darker (the lid is in its own shadow), and a lash
line where the lids meet. At closure c the upper lid edge sits at top + c * (bottom - top).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from drivers.sim.face_geometry import SIDES, Box, FaceLook, eye_boxes, eye_contours
from drivers.sim.face_photo import soft


@dataclass
class Eyelid:
    """One eye's blink data: box in canvas px, lid contours per column, open/closed patches."""

    box: Box
    top: np.ndarray  # (1, w) upper lid contour y (canvas px)
    bottom: np.ndarray  # (1, w) lower lid contour y: where a closed lid meets
    span: np.ndarray  # (1, w) horizontal coverage of the eye opening
    Y: np.ndarray  # (h, 1) canvas row coordinates
    lash: float  # lash line half thickness (px)
    open: np.ndarray  # (h, w, 3) float32
    closed: np.ndarray  # (h, w, 3) float32


def make_eyelids(lk: FaceLook, scene: np.ndarray, canvas: Box) -> list[Eyelid]:
    """Blink data of both eyes (SIDES order) in the coordinates of this canvas box."""
    x0, y0 = canvas[:2]
    out = []
    for s, (a, b, c, d) in zip(SIDES, eye_boxes(lk), strict=True):
        X = np.arange(a, c, dtype=np.float32)[None, :]
        Y = np.arange(b, d, dtype=np.float32)[:, None]
        u, top, bottom = eye_contours(lk, s, X)
        half = 0.5 * (X.max() - X.min())
        span = soft((np.abs(u) - 1) * half * 0.5, 1.0)
        # The eye and its dark lash line, so the fill takes its colour from the skin only.
        wide = soft((np.abs(u) - 1.15) * half * 0.5, 1.0) > 0
        opening = ((top - 0.012 * lk.F - 1 <= Y) & (bottom + 0.004 * lk.F + 1 >= Y) & wide)
        grow = 2 * round(0.005 * lk.F) + 1  # and a rim, so no dark outline is left around it
        opening = cv2.dilate(opening.astype(np.uint8), np.ones((grow, grow), np.uint8))
        patch = np.clip(np.rint(scene[b:d, a:c]), 0, 255).astype(np.uint8)
        skin = cv2.inpaint(patch, opening, max(3.0, 0.01 * lk.F), cv2.INPAINT_TELEA)
        inside = cv2.GaussianBlur(opening.astype(np.float32), (0, 0), 1.0)[..., None]
        closed = scene[b:d, a:c] + inside * (0.86 * skin - scene[b:d, a:c])
        line = soft(np.abs(Y - bottom) - 0.002 * lk.F, 1.0) * span
        closed *= 1.0 - 0.6 * line[..., None]
        out.append(
            Eyelid(
                box=(a - x0, b - y0, c - x0, d - y0),
                top=top - y0,
                bottom=bottom - y0,
                span=span,
                Y=Y - y0,
                lash=max(0.8, 0.006 * lk.F),
                open=scene[b:d, a:c].copy(),
                closed=closed,
            )
        )
    return out


def close_eyes(
    canvas: np.ndarray, eyelids: list[Eyelid], closure: float, lo: int, hi: int
) -> np.ndarray:
    """A copy of the uint8 canvas with the lids this far closed (0 open, 1 shut), in [lo, hi]."""
    out = canvas.copy()
    for e in eyelids:
        lid = e.top + closure * (e.bottom - e.top)  # lid edge per column
        cover = soft(e.Y - lid, 1.0) * e.span
        # The drawn lashes replace the photo's (filled in the closed patch) from the first frame.
        lash = np.exp(-(((e.Y - lid) / e.lash) ** 2)) * e.span * (0.75 if closure > 0 else 0.0)
        img = e.open + cover[..., None] * (e.closed - e.open)
        img *= 1.0 - lash[..., None]
        a, b, c, d = e.box
        out[b:d, a:c] = np.clip(np.rint(img), lo, hi).astype(np.uint8)
    return out
