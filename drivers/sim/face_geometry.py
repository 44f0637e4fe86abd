"""Geometry of the simulated face: its per-seed look, the eyes, and the AU displacement fields.

Sizes are in face heights (F) relative to the face centre; boxes and bumps are in pixels of the
frame or of the canvas (the face region that head motion and expressions re-warp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1
SIDES = (-1, 1)  # image left, image right (the subject's right, left)


@dataclass(frozen=True)
class FaceLook:
    """Per-seed appearance: sizes in face heights (F) relative to the face centre, BGR colours."""

    F: float
    cx: float
    cy: float
    face_rx: float
    eye_dx: float
    eye_y: float
    eye_w: float
    brow_y: float
    mouth_y: float
    mouth_w: float
    hairline: float
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    iris: tuple[float, float, float]
    clothes: tuple[float, float, float]


def make_look(width: int, height: int, rng: np.random.Generator) -> FaceLook:
    """Draw a participant's look for a frame of this size (face about 0.55 frame heights)."""
    u = rng.uniform
    F = 0.55 * height * u(0.96, 1.04)
    skin = (u(105, 145), u(140, 170), u(185, 220))
    irises = [(40.0, 60.0, 95.0), (120.0, 95.0, 60.0), (70.0, 105.0, 80.0), (30.0, 40.0, 60.0)]
    clothes = [(95.0, 60.0, 45.0), (60.0, 60.0, 65.0), (40.0, 45.0, 120.0), (150.0, 140.0, 135.0)]
    return FaceLook(
        F=F,
        cx=width / 2 + 0.02 * height * u(-1, 1),
        cy=0.47 * height + 0.015 * height * u(-1, 1),
        face_rx=0.365 * u(0.96, 1.04),
        eye_dx=0.155 * u(0.95, 1.05),
        eye_y=-0.07 + 0.008 * u(-1, 1),
        eye_w=0.072 * u(0.95, 1.05),
        brow_y=-0.163 + 0.006 * u(-1, 1),
        mouth_y=0.245 + 0.012 * u(-1, 1),
        mouth_w=0.115 * u(0.92, 1.08),
        hairline=-0.33 + 0.02 * u(-1, 1),
        skin=skin,
        hair=(u(20, 45), u(25, 55), u(30, 75)),
        iris=irises[int(rng.integers(len(irises)))],
        clothes=clothes[int(rng.integers(len(clothes)))],
    )


def canvas_box(lk: FaceLook, width: int, height: int) -> Box:
    """Frame box of the canvas: head, hair and chin, even-aligned for the Bayer pattern."""
    F = lk.F
    x0 = max(0, int(lk.cx - 0.5 * F) & ~1)
    y0 = max(0, int(lk.cy - 0.62 * F) & ~1)
    x1 = min(width, (int(lk.cx + 0.5 * F) + 2) & ~1)
    y1 = min(height, (int(lk.cy + 0.70 * F) + 2) & ~1)
    return x0, y0, x1, y1


def shift_weight(lk: FaceLook, canvas: Box) -> np.ndarray:
    """How much each canvas pixel follows the head: 1 on the head, 0 at the canvas border."""
    x0, y0, x1, y1 = canvas
    h, w = y1 - y0, x1 - x0
    ramp = max(3.0, 0.02 * lk.F)
    X = np.arange(w, dtype=np.float32)[None, :]
    Y = np.arange(h, dtype=np.float32)[:, None]
    wx = np.clip(np.minimum(X, w - 1 - X) / ramp, 0, 1)
    chin = lk.cy + 0.5 * lk.F - y0  # the neck bends: full shift at the chin, none below
    wy = np.clip(Y / ramp, 0, 1) * np.clip((h - 1 - Y) / max(1.0, h - 1 - chin), 0, 1)
    return (wx * wy).astype(np.float32)


# -- eyes ----------------------------------------------------------------------------------------
class EyeShape(NamedTuple):
    """One eye in frame px: centre, half width, and how far the lids reach above and below."""

    x: float
    y: float
    half_width: float
    top: float
    bottom: float


def eye_shape(lk: FaceLook, side: int) -> EyeShape:
    """The eye on this side (-1 image left, +1 image right)."""
    F = lk.F
    return EyeShape(
        lk.cx + side * lk.eye_dx * F, lk.cy + lk.eye_y * F, lk.eye_w * F, 0.034 * F, 0.022 * F
    )


def eye_boxes(lk: FaceLook) -> list[Box]:
    """Even-aligned frame boxes around both eyes (SIDES order) with a margin for the lashes."""
    out = []
    m = 0.015 * lk.F + 2
    for s in SIDES:
        ex, ey, ew, ht, hb = eye_shape(lk, s)
        x0, y0 = int(ex - ew - m) & ~1, int(ey - ht - m) & ~1
        x1, y1 = (math.ceil(ex + ew + m) + 1) & ~1, (math.ceil(ey + hb + m) + 1) & ~1
        out.append((x0, y0, x1, y1))
    return out


def eye_contours(
    lk: FaceLook, side: int, X: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At frame columns X: position across the eye (-1..1), upper and lower lid rows."""
    ex, ey, ew, ht, hb = eye_shape(lk, side)
    u = (X - ex) / ew
    core = np.sqrt(np.clip(1 - u**2, 0, 1))
    tilt = 0.006 * lk.F * side * (X - ex) / ew  # outer corners a little higher
    return u, ey - ht * core**0.8 - tilt, ey + hb * core - tilt


# -- AU displacement fields ----------------------------------------------------------------------
@dataclass(frozen=True)
class Bump:
    """Compact displacement bump (canvas px): weight (1 - r^2)^2 inside radius r."""

    cx: float
    cy: float
    r: float
    vx: float
    vy: float


def au_bumps(lk: FaceLook, ox: float, oy: float) -> dict[int, tuple[Bump, ...]]:
    """Displacement bumps of every AU in canvas px (canvas origin at frame (ox, oy))."""
    F, e, my, mw = lk.F, lk.eye_dx, lk.mouth_y, lk.mouth_w

    def b(x: float, y: float, r: float, vx: float, vy: float) -> Bump:
        return Bump(lk.cx - ox + x * F, lk.cy - oy + y * F, r * F, vx, vy)

    def pair(x: float, y: float, r: float, vx: float, vy: float) -> tuple[Bump, ...]:
        # vx > 0 means away from the midline on both sides.
        return (b(-x, y, r, -vx, vy), b(x, y, r, vx, vy))

    by, ey = lk.brow_y, lk.eye_y
    return {
        1: pair(e - 0.06, by, 0.07, 0.0, -1.0),
        2: pair(e + 0.06, by, 0.07, 0.0, -1.0),
        4: pair(e - 0.055, by + 0.01, 0.075, -0.45, 0.9),
        5: pair(e, ey - 0.035, 0.05, 0.0, -0.6),
        6: pair(e + 0.01, ey + 0.11, 0.10, 0.0, -0.8),
        7: pair(e, ey + 0.03, 0.05, 0.0, -0.5),
        9: (*pair(0.05, 0.04, 0.06, 0.0, -0.8), b(0.0, by + 0.03, 0.05, 0.0, 0.5)),
        10: (b(0.0, my - 0.03, 0.09, 0.0, -0.8),),
        12: pair(mw, my, 0.08, 0.8, -0.6),
        # Subject's right is image left (the camera faces the participant, no mirroring).
        14: (b(-mw, my, 0.07, -0.75, -0.25),),
        15: pair(mw, my + 0.01, 0.07, 0.0, 0.8),
        17: (b(0.0, my + 0.13, 0.10, 0.0, -0.7),),
        20: pair(mw, my, 0.09, 1.0, 0.15),
        23: (
            b(0.0, my - 0.02, 0.07, 0.0, 0.35),
            b(0.0, my + 0.03, 0.07, 0.0, -0.35),
            *pair(mw, my, 0.05, -0.5, 0.0),
        ),
        25: (b(0.0, my + 0.035, 0.07, 0.0, 0.6),),
        26: (b(0.0, my + 0.12, 0.17, 0.0, 1.0),),
    }


def add_bump(dx: np.ndarray, dy: np.ndarray, a: int, b: int, bump: Bump, amp: float) -> None:
    """Add amp * bump into displacement fields that cover canvas box origin (a, b)."""
    h, w = dx.shape
    i0, i1 = max(0, math.floor(bump.cy - bump.r) - b), min(h, math.ceil(bump.cy + bump.r) + 1 - b)
    j0, j1 = max(0, math.floor(bump.cx - bump.r) - a), min(w, math.ceil(bump.cx + bump.r) + 1 - a)
    if i1 <= i0 or j1 <= j0:
        return
    X = np.arange(j0 + a, j1 + a, dtype=np.float32)[None, :]
    Y = np.arange(i0 + b, i1 + b, dtype=np.float32)[:, None]
    r2 = ((X - bump.cx) ** 2 + (Y - bump.cy) ** 2) / bump.r**2
    wgt = np.clip(1.0 - r2, 0.0, None) ** 2
    dx[i0:i1, j0:j1] += (amp * bump.vx) * wgt
    dy[i0:i1, j0:j1] += (amp * bump.vy) * wgt
