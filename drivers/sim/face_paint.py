"""Painting the still scene of the simulated face camera once per renderer, in float BGR.

A green backdrop, shoulders, hair, ears, an egg-shaped face lit from the front, eyes, brows,
nose and mouth as soft-edged primitives, then a multiplicative skin/fabric texture. The renderer
(drivers.sim.face) quantises the result and only re-warps parts of it per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from drivers.sim.face_geometry import SIDES, FaceLook, eye_boxes, eye_contours, eye_shape

_AA = 1.0  # anti-aliasing edge width (px) of the outlines
_MID_TEXTURE = 0.04  # relative amplitude of the ~F/70 skin blotches

Slices = tuple[slice, slice]
Grid = tuple[Slices, np.ndarray, np.ndarray]
Colour = tuple[float, float, float] | np.ndarray


def soft(sd: np.ndarray, width: float) -> np.ndarray:
    """Signed distance (negative inside) -> anti-aliased coverage in [0, 1]."""
    return np.clip(0.5 - sd / width, 0.0, 1.0)


class Painter:
    """Float BGR image with soft-edged primitives evaluated only inside each shape's box."""

    def __init__(self, img: np.ndarray) -> None:
        self.img = img
        self.h, self.w = img.shape[:2]

    def grid(self, x0: float, y0: float, x1: float, y1: float) -> Grid | None:
        """Slices and broadcastable X (1, w), Y (h, 1) pixel-centre grids of a clipped box."""
        ix0, iy0 = max(0, math.floor(x0)), max(0, math.floor(y0))
        ix1, iy1 = min(self.w, math.ceil(x1) + 1), min(self.h, math.ceil(y1) + 1)
        if ix1 <= ix0 or iy1 <= iy0:
            return None
        X = np.arange(ix0, ix1, dtype=np.float32)[None, :]
        Y = np.arange(iy0, iy1, dtype=np.float32)[:, None]
        return (slice(iy0, iy1), slice(ix0, ix1)), X, Y

    def fill(self, sl: Slices, alpha: np.ndarray, colour: Colour) -> None:
        """Blend a colour in with per-pixel coverage alpha."""
        sub = self.img[sl]
        sub += alpha[..., None] * (np.asarray(colour, np.float32) - sub)

    def scale(self, sl: Slices, alpha: np.ndarray, factor: Colour | float) -> None:
        """Multiply brightness by factor where alpha is 1 (shading, highlights)."""
        sub = self.img[sl]
        sub *= 1.0 + alpha[..., None] * (np.asarray(factor, np.float32) - 1.0)

    def ellipse(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        aa: float = 1.0,
        colour: Colour | None = None,
        factor: float = 1.0,
        opacity: float = 1.0,
    ) -> None:
        """Filled anti-aliased ellipse, as a colour fill or a brightness factor."""
        g = self.grid(cx - rx - aa, cy - ry - aa, cx + rx + aa, cy + ry + aa)
        if g is None:
            return
        sl, X, Y = g
        d = np.sqrt(((X - cx) / rx) ** 2 + ((Y - cy) / ry) ** 2)
        a = soft((d - 1.0) * min(rx, ry), aa) * opacity
        if colour is not None:
            self.fill(sl, a, colour)
        else:
            self.scale(sl, a, factor)

    def blob(self, cx: float, cy: float, rx: float, ry: float, factor: Colour | float) -> None:
        """Gaussian shading blob (sigma rx/2, ry/2): soft shadows and highlights."""
        g = self.grid(cx - 2 * rx, cy - 2 * ry, cx + 2 * rx, cy + 2 * ry)
        if g is None:
            return
        sl, X, Y = g
        self.scale(sl, np.exp(-2.0 * (((X - cx) / rx) ** 2 + ((Y - cy) / ry) ** 2)), factor)


@dataclass
class PaintedScene:
    """The still frame in float BGR (textured), its texture, and the eyelid skin under each eye."""

    image: np.ndarray  # (H, W, 3) float32
    texture: np.ndarray  # (H, W) float32, multiplicative around 1
    eyelid_skin: list[np.ndarray]  # per eye_boxes() box: the face there before the eyes were drawn


def paint_scene(lk: FaceLook, width: int, height: int, rng: np.random.Generator) -> PaintedScene:
    """Paint the participant with this look in front of the backdrop (texture drawn from rng)."""
    img = _backdrop(width, height)
    p = Painter(img)
    _paint_neck_and_shoulders(p, lk)
    _paint_hair_and_ears(p, lk)
    _paint_face(p, lk)
    _paint_sockets_and_cheeks(p, lk)
    _paint_nose(p, lk)
    _paint_mouth(p, lk)
    _paint_brows(p, lk)
    _paint_lid_creases(p, lk)
    eyelid_skin = [img[b:d, a:c].copy() for a, b, c, d in eye_boxes(lk)]
    _paint_eyes(p, lk)
    tex = _texture(rng, width, height, lk.F)
    img *= tex[..., None]
    return PaintedScene(img, tex, eyelid_skin)


def _bgr(colour: tuple[float, float, float]) -> np.ndarray:
    return np.array(colour, np.float32)


def _backdrop(width: int, height: int) -> np.ndarray:
    """Green backdrop with a broad illumination falloff, made at low resolution for speed."""
    sy, sx = np.mgrid[0:24, 0:32].astype(np.float32)
    fall = 1.0 - 0.18 * (((sx - 15.5) / 16) ** 2 + ((sy - 11.5) / 12) ** 2)
    img = np.empty((height, width, 3), np.float32)
    img[:] = cv2.resize(fall, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    img *= np.array((70.0, 150.0, 55.0), np.float32)
    return img


def _paint_neck_and_shoulders(p: Painter, lk: FaceLook) -> None:
    """Neck (shadowed skin) down to the frame's bottom, shoulders in clothes, chin shadow."""
    F, cx, cy = lk.F, lk.cx, lk.cy
    g = p.grid(cx - 0.17 * F, cy + 0.2 * F, cx + 0.17 * F, p.h)
    if g is not None:
        sl, X, Y = g
        a = soft(np.abs(X - cx) - 0.15 * F, _AA) * soft(cy + 0.25 * F - Y, _AA)
        p.fill(sl, a, _bgr(lk.skin) * 0.8)
    p.ellipse(cx, cy + 1.22 * F, 0.95 * F, 0.55 * F, _AA, colour=lk.clothes)
    p.blob(cx, cy + 0.52 * F, 0.2 * F, 0.06 * F, 0.7)


def _paint_hair_and_ears(p: Painter, lk: FaceLook) -> None:
    """Hair behind the head, stopping at ear level, and the ears in front of it."""
    F, cx, cy = lk.F, lk.cx, lk.cy
    g = p.grid(cx - 0.45 * F, cy - 0.62 * F, cx + 0.45 * F, cy + 0.05 * F)
    if g is not None:
        sl, X, Y = g
        rx, ry, hy = (lk.face_rx + 0.045) * F, 0.52 * F, cy - 0.08 * F
        d = np.sqrt(((X - cx) / rx) ** 2 + ((Y - hy) / ry) ** 2)
        p.fill(sl, soft((d - 1) * rx, _AA) * soft(Y - (cy - 0.02 * F), 0.02 * F), _bgr(lk.hair))
    for s in SIDES:
        x = cx + s * (lk.face_rx - 0.005) * F
        p.ellipse(x, cy - 0.03 * F, 0.045 * F, 0.085 * F, _AA, colour=_bgr(lk.skin) * 0.9)


def _paint_face(p: Painter, lk: FaceLook) -> None:
    """An egg (narrower jaw), lit from the front, with the hair fringe on the forehead."""
    F, cx, cy = lk.F, lk.cx, lk.cy
    g = p.grid(cx - lk.face_rx * F, cy - 0.5 * F, cx + lk.face_rx * F, cy + 0.5 * F)
    assert g is not None  # the face centre is inside the frame
    sl, X, Y = g
    v = (Y - cy) / (0.5 * F)
    rx = lk.face_rx * F * (1.0 - 0.16 * np.clip(v, 0, 1) ** 2)
    d = np.sqrt(((X - cx) / rx) ** 2 + v**2)
    face = soft((d - 1.0) * rx, _AA)
    p.fill(sl, face, _bgr(lk.skin))
    shade = 0.78 + 0.22 * np.sqrt(np.clip(1.0 - d**2, 0, 1))
    p.scale(sl, face, shade[..., None] * np.ones(3, np.float32))
    hairline = cy + lk.hairline * F + 0.12 * F * ((X - cx) / (lk.face_rx * F)) ** 2
    # The fringe reaches a little past the face outline so no skin rim shows through.
    fringe = soft((d - 1.0) * rx - 2.0, _AA) * soft(Y - hairline, 0.01 * F)
    p.fill(sl, fringe, _bgr(lk.hair))


def _paint_sockets_and_cheeks(p: Painter, lk: FaceLook) -> None:
    """Shadowed eye sockets and slightly rosy cheeks."""
    F, cx, cy = lk.F, lk.cx, lk.cy
    e, ey = lk.eye_dx * F, cy + lk.eye_y * F
    for s in SIDES:
        p.blob(cx + s * e, ey - 0.005 * F, 0.11 * F, 0.065 * F, 0.8)
        p.blob(cx + s * (e + 0.03 * F), cy + 0.06 * F, 0.08 * F, 0.05 * F, (0.98, 0.97, 1.04))


def _paint_nose(p: Painter, lk: FaceLook) -> None:
    """Lit ridge with shaded sides, tip highlight, shadow below, nostrils and wings."""
    F, cx, cy = lk.F, lk.cx, lk.cy
    g = p.grid(cx - 0.08 * F, cy + lk.eye_y * F, cx + 0.08 * F, cy + 0.12 * F)
    if g is not None:
        sl, X, Y = g
        along = soft(np.abs(Y - (cy + 0.02 * F)) - 0.07 * F, 0.03 * F)
        p.scale(sl, np.exp(-(((X - cx) / (0.025 * F)) ** 2)) * along, 1.1)
        sides = np.exp(-(((np.abs(X - cx) - 0.05 * F) / (0.015 * F)) ** 2)) * along
        p.scale(sl, sides, 0.88)
    p.blob(cx, cy + 0.085 * F, 0.04 * F, 0.028 * F, 1.07)
    p.blob(cx, cy + 0.14 * F, 0.055 * F, 0.012 * F, 0.82)
    for s in SIDES:
        x = cx + s * 0.032 * F
        p.ellipse(x, cy + 0.118 * F, 0.018 * F, 0.009 * F, 1.0, colour=(35, 35, 55), opacity=0.85)
        p.blob(cx + s * 0.05 * F, cy + 0.105 * F, 0.015 * F, 0.02 * F, 0.9)


def _paint_mouth(p: Painter, lk: FaceLook) -> None:
    """Lips with a dark line between them, lower-lip highlight and shadow, mouth corners."""
    F, cx = lk.F, lk.cx
    my, mw = lk.cy + lk.mouth_y * F, lk.mouth_w * F
    g = p.grid(cx - mw - 2, my - 0.04 * F, cx + mw + 2, my + 0.05 * F)
    if g is not None:
        sl, X, Y = g
        u = np.clip((X - cx) / mw, -1, 1)
        core = np.clip(1 - u**2, 0, 1) ** 0.6
        top = my - 0.024 * F * core + 0.004 * F * np.exp(-((u / 0.12) ** 2))
        bottom = my + 0.034 * F * core
        span = soft((np.abs(X - cx) - mw), 1.0)
        lips = soft(top - Y, 1.0) * soft(Y - bottom, 1.0) * span
        p.fill(sl, lips, _bgr(lk.skin) * np.array((0.72, 0.62, 0.86), np.float32))
        line = my + 0.003 * F * u**2
        dark = soft(np.abs(Y - line) - 0.0035 * F, 1.0) * soft(np.abs(X - cx) - 1.03 * mw, 1.0)
        p.fill(sl, dark * 0.9, (40, 35, 65))
    p.blob(cx, my + 0.018 * F, 0.04 * F, 0.008 * F, 1.1)
    p.blob(cx, my + 0.052 * F, 0.05 * F, 0.012 * F, 0.85)
    for s in SIDES:
        p.blob(cx + s * mw, my, 0.012 * F, 0.01 * F, 0.8)


def _paint_brows(p: Painter, lk: FaceLook) -> None:
    """Arched brows, thinning towards the outer ends."""
    F = lk.F
    by, half = lk.cy + lk.brow_y * F, 0.085 * F
    for s in SIDES:
        bx = lk.cx + s * (lk.eye_dx + 0.01) * F
        g = p.grid(bx - half - 2, by - 0.035 * F, bx + half + 2, by + 0.03 * F)
        if g is None:
            continue
        sl, X, Y = g
        u = s * (X - bx) / half  # -1 at the inner end, +1 at the outer end
        mid = by - 0.012 * F * (1 - u**2) + 0.008 * F * u
        half_t = 0.013 * F * (1 - 0.35 * (np.clip(u, -1, 1) + 1) / 2)
        a = soft(np.abs(Y - mid) - half_t, 1.0) * soft((np.abs(u) - 1) * half, 1.5)
        p.fill(sl, a * 0.9, _bgr(lk.hair) * 1.1)


def _paint_lid_creases(p: Painter, lk: FaceLook) -> None:
    """Creases above the eyes (they stay put during a blink)."""
    F = lk.F
    e, ey = lk.eye_dx * F, lk.cy + lk.eye_y * F
    for s in SIDES:
        ex, ew = lk.cx + s * e, lk.eye_w * F
        g = p.grid(ex - ew, ey - 0.07 * F, ex + ew, ey)
        if g is not None:
            sl, X, Y = g
            u = np.clip((X - ex) / ew, -1, 1)
            crease = ey - 0.05 * F * np.sqrt(1 - u**2)
            a = soft(np.abs(Y - crease) - 0.003 * F, 0.004 * F) * soft(np.abs(u) - 0.9, 0.1)
            p.scale(sl, a * 0.6, 0.85)


def _paint_eyes(p: Painter, lk: FaceLook) -> None:
    """Open eyes: white, iris, pupil, highlight, the upper lash line and the lower lid."""
    F = lk.F
    for s, (a, b, c, d) in zip(SIDES, eye_boxes(lk), strict=True):
        g = p.grid(a, b, c - 1, d - 1)
        if g is None:
            continue
        sl, X, Y = g
        ex, ey, ew, _, _ = eye_shape(lk, s)
        u, top, bottom = eye_contours(lk, s, X)
        inside = soft(top - Y, 1.0) * soft(Y - bottom, 1.0) * soft((np.abs(u) - 1) * ew, 1.0)
        p.fill(sl, inside, (190, 196, 206))
        ir, iy = 0.029 * F, ey + 0.003 * F
        r = np.sqrt((X - ex) ** 2 + (Y - iy) ** 2)
        p.fill(sl, inside * soft(r - ir, 1.0), lk.iris)
        p.fill(sl, inside * soft(r - 0.012 * F, 1.0), (15, 15, 18))
        rs = np.sqrt((X - ex - 0.01 * F) ** 2 + (Y - iy + 0.01 * F) ** 2)
        p.fill(sl, inside * soft(rs - 0.005 * F, 1.0) * 0.8, (235, 235, 235))
        span = soft((np.abs(u) - 1.05) * ew, 1.0)
        p.fill(sl, soft(np.abs(Y - top) - 0.005 * F, 1.0) * span * 0.9, (25, 25, 30))
        p.scale(sl, soft(np.abs(Y - bottom) - 0.002 * F, 1.0) * span * 0.5, 0.75)


def _texture(rng: np.random.Generator, W: int, H: int, F: float) -> np.ndarray:
    """Multiplicative skin/fabric texture (pores, blotches, weave) around 1.0, float32 (H, W)."""
    # Fine grain plus blobs ~F/70 and ~F/25 across: the middle scale is what survives the
    # analysis' 128x128 face crop and gives its optical flow something to track.
    fine = cv2.GaussianBlur(
        rng.standard_normal((H, W), dtype=np.float32), (0, 0), max(0.6, F / 500)
    )
    tex = 1.0 + fine * (0.03 / max(float(fine.std()), 1e-6))
    for size, amp in ((F / 70, _MID_TEXTURE), (F / 25, 0.025)):
        n = max(2, round(size))
        low = rng.standard_normal((H // n + 4, W // n + 4), dtype=np.float32)
        big = cv2.resize(low, ((W // n + 4) * n, (H // n + 4) * n), interpolation=cv2.INTER_CUBIC)
        tex += amp * big[2 * n : 2 * n + H, 2 * n : 2 * n + W]
    return tex
