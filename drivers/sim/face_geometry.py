"""Geometry of the simulated face: the photo's landmarks placed per seed, eyes and AU fields.

The participant is a real face photograph (drivers/sim/assets, see SOURCE.md there) with its
68 dlib landmarks. A seed draws where the face sits and how big it is; every AU is a compact
displacement bump anchored at the landmarks it moves (brows, lids, cheeks, nose, lips, chin),
sized in face heights (F, forehead to chin). Boxes and bumps are in frame or canvas pixels
(the canvas is the head region that head motion and expressions re-warp).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import NamedTuple

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1
SIDES = (-1, 1)  # image left, image right (the subject's right, left)

# dlib 68-point layout, per eye in SIDES order: corners (left, right), upper and lower lid
# points between them, left to right.
EYE_POINTS = (((36, 39), (37, 38), (41, 40)), ((42, 45), (43, 44), (47, 46)))
# dlib's index of each point's mirror image (left <-> right): for mirrored photos and anchors.
_MIRROR = np.array(
    [*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
     45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, 54, 53, 52, 51, 50, 49, 48, 59, 58, 57,
     56, 55, 64, 63, 62, 61, 60, 67, 66, 65]
)
WALLS = ((196.0, 200.0, 202.0), (178.0, 196.0, 208.0), (200.0, 192.0, 184.0), (170.0, 172.0, 168.0))


@cache
def _landmark_file() -> tuple[np.ndarray, int]:
    text = resources.files("drivers.sim").joinpath("assets/face_landmarks.json").read_text()
    doc = json.loads(text)
    pts = np.array(doc["points"], np.float64)
    if pts.shape != (68, 2):
        raise ValueError("drivers/sim/assets/face_landmarks.json must hold 68 (x, y) points")
    return pts, int(doc["size"][0])


def photo_landmarks(mirrored: bool = False) -> np.ndarray:
    """(68, 2) landmarks of the shipped face photo (or of its mirror image), in photo pixels."""
    pts, width = _landmark_file()
    if not mirrored:
        return pts.copy()
    flipped = np.column_stack([width - 1 - pts[:, 0], pts[:, 1]])
    return flipped[_MIRROR]  # index i is again dlib's point i (0 at the image-left jaw)


def landmark_face_box(pts: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, w, h) of the face from landmarks: cheek to cheek, forehead (a third above) to chin."""
    x0, x1 = pts[:17, 0].min(), pts[:17, 0].max()
    brow, chin = pts[17:27, 1].min(), pts[8, 1]
    top = brow - (chin - brow) / 3
    return float(x0), float(top), float(x1 - x0), float(chin - top)


@dataclass(frozen=True)
class FaceLook:
    """Per-seed placement and appearance: face height F, centre, photo->frame map, colours."""

    F: float
    cx: float
    cy: float
    scale: tuple[float, float]  # frame px per photo px, across and down
    shift: tuple[float, float]  # frame = photo * scale + shift (photo mirrored first if mirrored)
    mirrored: bool  # the photo flipped left to right: another face, with the same landmarks
    points: np.ndarray  # (68, 2) landmarks in frame px
    gains: tuple[float, float, float]  # BGR gains on the person (skin tone, exposure)
    light: float  # left-right illumination slope per face height
    wall: tuple[float, float, float]
    door_x: float  # door frame position in frame widths (0 or 1 side of the wall)


def make_look(width: int, height: int, rng: np.random.Generator) -> FaceLook:
    """Draw a participant's placement and look for a frame of this size (face ~0.55 heights)."""
    u = rng.uniform
    mirrored = bool(rng.integers(2))
    pts = photo_landmarks(mirrored)
    bx, by, bw, bh = landmark_face_box(pts)
    F = 0.55 * height * u(0.96, 1.04)
    cx = width / 2 + 0.02 * height * u(-1, 1)
    cy = 0.47 * height + 0.015 * height * u(-1, 1)
    s = (F / bh * u(0.94, 1.06), F / bh)  # a broader or narrower face than the photo's
    shift = (cx - s[0] * (bx + bw / 2), cy - s[1] * (by + bh / 2))
    k, warm = u(0.82, 1.12), u(-0.07, 0.07)  # exposure and skin tone
    wall = np.array(WALLS[int(rng.integers(len(WALLS)))]) * u(0.9, 1.05)
    return FaceLook(
        F=F, cx=cx, cy=cy, scale=s, shift=shift, mirrored=mirrored,
        points=pts * np.array(s) + np.array(shift),
        gains=(k * (1 - warm), k, k * (1 + 0.6 * warm)),
        light=u(-0.12, 0.12),
        wall=tuple(float(c) for c in wall),  # type: ignore[arg-type]
        door_x=float(rng.choice((u(0.05, 0.16), u(0.84, 0.95)))),
    )


def face_box(lk: FaceLook) -> tuple[float, float, float, float]:
    """(x, y, w, h) of the face in frame px."""
    return landmark_face_box(lk.points)


def canvas_box(lk: FaceLook, width: int, height: int) -> Box:
    """Frame box of the canvas: head, hair and neck, even-aligned for the Bayer pattern."""
    F = lk.F
    x0 = max(0, int(lk.cx - 0.6 * F) & ~1)
    y0 = max(0, int(lk.cy - 0.95 * F) & ~1)
    x1 = min(width, (int(lk.cx + 0.6 * F) + 2) & ~1)
    y1 = min(height, (int(lk.cy + 0.75 * F) + 2) & ~1)
    return x0, y0, x1, y1


def shift_weight(lk: FaceLook, canvas: Box) -> np.ndarray:
    """How much each canvas pixel follows the head: 1 on the head, 0 at the canvas border."""
    x0, y0, x1, y1 = canvas
    h, w = y1 - y0, x1 - x0
    ramp = max(3.0, 0.04 * lk.F)
    X = np.arange(w, dtype=np.float32)[None, :]
    Y = np.arange(h, dtype=np.float32)[:, None]
    wx = np.clip(np.minimum(X, w - 1 - X) / ramp, 0, 1)
    chin = lk.cy + 0.5 * lk.F - y0  # the neck bends: full shift at the chin, none below
    wy = np.clip(Y / ramp, 0, 1) * np.clip((h - 1 - Y) / max(1.0, h - 1 - chin), 0, 1)
    return (wx * wy).astype(np.float32)


# -- eyes ----------------------------------------------------------------------------------------
class EyeShape(NamedTuple):
    """One eye in frame px: lid polylines (x, y) left to right and a margin for the lashes."""

    upper: np.ndarray  # (4, 2) corner, two upper lid points, corner
    lower: np.ndarray  # (4, 2) corner, two lower lid points, corner
    margin: float


def eye_shape(lk: FaceLook, side: int) -> EyeShape:
    """The eye on this side (-1 image left, +1 image right), from its six landmarks."""
    (c0, c1), up, low = EYE_POINTS[SIDES.index(side)]
    p = lk.points
    return EyeShape(p[[c0, *up, c1]], p[[c0, *low, c1]], 0.006 * lk.F)


def eye_boxes(lk: FaceLook) -> list[Box]:
    """Even-aligned frame boxes around both eyes (SIDES order) with room for lids and lashes."""
    out = []
    for s in SIDES:
        e = eye_shape(lk, s)
        pts = np.vstack([e.upper, e.lower])
        m = 0.02 * lk.F + 2
        (x0, y0), (x1, y1) = pts.min(0) - m, pts.max(0) + m
        out.append((int(x0) & ~1, int(y0) & ~1, (math.ceil(x1) + 1) & ~1, (math.ceil(y1) + 1) & ~1))
    return out


def eye_contours(
    lk: FaceLook, side: int, X: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At frame columns X: position across the eye (-1..1), upper and lower lid rows."""
    e = eye_shape(lk, side)
    left, right = e.upper[0, 0], e.upper[-1, 0]
    u = (X - (left + right) / 2) / ((right - left) / 2)
    bulge = e.margin * np.sqrt(np.clip(1 - u**2, 0, 1))  # lashes and lid margin beyond the points
    top = np.interp(X, e.upper[:, 0], e.upper[:, 1]) - bulge
    bottom = np.interp(X, e.lower[:, 0], e.lower[:, 1]) + 0.5 * bulge
    return u, top.astype(np.float32), bottom.astype(np.float32)


# -- AU displacement fields ----------------------------------------------------------------------
@dataclass(frozen=True)
class Bump:
    """Compact displacement bump (canvas px): weight (1 - r^2)^2 inside radius r."""

    cx: float
    cy: float
    r: float
    vx: float
    vy: float


# Per AU: (landmarks averaged per side (image left, image right) or None for one midline bump,
# offset (dx away from the midline, dy) in F, radius in F, vector (vx away from the midline,
# vy)). One-sided AUs list a single landmark group with side -1.
_PAIR, _MID, _LEFT = "pair", "mid", "left"
Anchor = tuple[str, tuple[int, ...], float, float, float, float, float]
AU_ANCHORS: dict[int, tuple[Anchor, ...]] = {
    1: ((_PAIR, (20, 21), 0.0, 0.0, 0.07, 0.0, -1.0),),
    2: ((_PAIR, (17, 18), 0.0, 0.0, 0.07, 0.0, -1.0),),
    4: ((_PAIR, (20, 21), 0.0, 0.01, 0.075, -0.45, 0.9),),
    5: ((_PAIR, (37, 38), 0.0, -0.01, 0.05, 0.0, -0.6),),
    6: ((_PAIR, (40, 41), 0.01, 0.08, 0.10, 0.0, -0.8),),
    7: ((_PAIR, (40, 41), 0.0, 0.0, 0.05, 0.0, -0.5),),
    9: ((_PAIR, (31, 29), 0.0, 0.0, 0.06, 0.0, -0.8), (_MID, (27,), 0.0, -0.03, 0.05, 0.0, 0.5)),
    10: ((_MID, (51,), 0.0, -0.01, 0.09, 0.0, -0.8),),
    12: ((_PAIR, (48,), 0.0, 0.0, 0.08, 0.8, -0.6),),
    14: ((_LEFT, (48,), 0.0, 0.0, 0.07, 0.75, -0.25),),  # subject's right = image left
    15: ((_PAIR, (48,), 0.0, 0.01, 0.07, 0.0, 0.8),),
    17: ((_MID, (57, 8), 0.0, 0.0, 0.10, 0.0, -0.7),),
    20: ((_PAIR, (48,), 0.0, 0.0, 0.09, 1.0, 0.15),),
    23: (
        (_MID, (51,), 0.0, 0.0, 0.07, 0.0, 0.35),
        (_MID, (57,), 0.0, 0.0, 0.07, 0.0, -0.35),
        (_PAIR, (48,), 0.0, 0.0, 0.05, -0.5, 0.0),
    ),
    25: ((_MID, (57, 66), 0.0, 0.0, 0.07, 0.0, 0.6),),
    26: ((_MID, (57, 8), 0.0, 0.01, 0.17, 0.0, 1.0),),
}
def au_bumps(lk: FaceLook, ox: float, oy: float) -> dict[int, tuple[Bump, ...]]:
    """Displacement bumps of every AU in canvas px (canvas origin at frame (ox, oy))."""
    F, p = lk.F, lk.points
    out = {}
    for au, anchors in AU_ANCHORS.items():
        bumps = []
        for where, idx, dx, dy, r, vx, vy in anchors:
            sides = SIDES if where == _PAIR else (-1,) if where == _LEFT else (0,)
            for s in sides:
                ids = _MIRROR[list(idx)] if s == 1 else list(idx)
                x, y = p[ids].mean(0)
                away = s if s else 1  # +1 points away from the midline on this side
                bumps.append(
                    Bump(x - ox + away * dx * F, y - oy + dy * F, r * F, away * vx, vy)
                )
        out[au] = tuple(bumps)
    return out


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
