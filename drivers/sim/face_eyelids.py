"""What a blink paints: per eye an open and a closed patch, blended along the moving lid edge.

The closed patch is the eyelid skin (the face before the eyes were painted) with a lash line
where the lids meet; at closure c the upper lid edge sits at top + c * (bottom - top).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivers.sim.face_geometry import SIDES, Box, FaceLook, eye_boxes, eye_contours, eye_shape
from drivers.sim.face_paint import PaintedScene, soft


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


def make_eyelids(lk: FaceLook, scene: PaintedScene, canvas: Box) -> list[Eyelid]:
    """Blink data of both eyes (SIDES order) in the coordinates of this canvas box."""
    x0, y0 = canvas[:2]
    F = lk.F
    out = []
    for s, (a, b, c, d), skin in zip(SIDES, eye_boxes(lk), scene.eyelid_skin, strict=True):
        X = np.arange(a, c, dtype=np.float32)[None, :]
        Y = np.arange(b, d, dtype=np.float32)[:, None]
        u, top, bottom = eye_contours(lk, s, X)
        ew = eye_shape(lk, s).half_width
        closed = skin * scene.texture[b:d, a:c, None]
        # The closed lid shows its lash line where it meets the lower lid.
        line = soft(np.abs(Y - bottom) - 0.004 * F, 1.0) * soft((np.abs(u) - 1) * ew, 1.0)
        closed *= 1.0 - 0.7 * line[..., None]
        out.append(
            Eyelid(
                box=(a - x0, b - y0, c - x0, d - y0),
                top=top - y0,
                bottom=bottom - y0,
                span=soft((np.abs(u) - 1) * ew, 1.0),
                Y=Y - y0,
                lash=max(0.6, 0.005 * F),
                open=scene.image[b:d, a:c].copy(),
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
        lash = np.exp(-(((e.Y - lid) / e.lash) ** 2)) * e.span * (0.75 * min(1.0, 4 * closure))
        img = e.open + cover[..., None] * (e.closed - e.open)
        img *= 1.0 - lash[..., None]
        a, b, c, d = e.box
        out[b:d, a:c] = np.clip(np.rint(img), lo, hi).astype(np.uint8)
    return out
