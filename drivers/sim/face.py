"""Synthetic face camera images: a face on a green backdrop with FACS-style micro/macro
expressions, blinks, slight head motion and sensor noise, cheap enough for 150 fps full frame.

Everything is a pure function of (seed, t, expressions): the renderer keeps caches only.
Speed comes from precomputing the scene once as a raw frame; per frame only the face parts
that move are re-warped (cv2.remap on small boxes), and noise is a view into a precomputed
noise strip at a hashed offset, added with one saturating cv2.add.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from core.expressions import EMOTION_AUS, EMOTIONS, KINDS, classify_kind
from drivers.imaging import debayer, mosaic

PIXEL_FORMATS = ("bayer_rg8", "mono8")

AU_NAMES: dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    10: "upper lip raiser",
    12: "lip corner puller",
    14: "dimpler (unilateral, subject's right)",
    15: "lip corner depressor",
    17: "chin raiser",
    20: "lip stretcher",
    23: "lip tightener",
    25: "lips part",
    26: "jaw drop",
}

# Intensities are peak displacements in pixels for a face this tall, which is the rig's face at
# 2040x1080 (16 mm lens, 1 m); a renderer scales them by its own face height.
REFERENCE_FACE_HEIGHT = 600.0
DEFAULT_INTENSITY = {"micro": 4.0, "macro": 15.0}
# MMME annotation rule 3.4: an ME lasts <= 500 ms onset->offset, or <= 250 ms onset->apex.

BLINK_CLOSE, BLINK_HOLD, BLINK_OPEN = 0.055, 0.015, 0.080  # seconds; ~150 ms in all
BLINK_DURATION = BLINK_CLOSE + BLINK_HOLD + BLINK_OPEN
_SHIFT_STEP = 0.25  # head motion is quantised to quarter pixels so warped faces can be cached
_MAX_VARIANTS = 96  # bound on cached head positions (about 0.4 MB each at full frame)
_M64 = (1 << 64) - 1
_MID_TEXTURE = 0.04  # relative amplitude of the ~F/70 skin blotches

_Box = tuple[int, int, int, int]  # x0, y0, x1, y1
_Slices = tuple[slice, slice]
_Grid = tuple[_Slices, np.ndarray, np.ndarray]
_Colour = tuple[float, float, float] | np.ndarray


@dataclass(frozen=True)
class Expression:
    """One facial expression: physical-time onset/apex/offset, emotion, FACS AUs, intensity."""

    onset: float
    apex: float
    offset: float
    kind: str  # "micro" | "macro"
    emotion: str  # one of EMOTIONS
    aus: tuple[int, ...] = ()  # empty: EMOTION_AUS[emotion]
    intensity: float | None = None  # peak px at REFERENCE_FACE_HEIGHT; None: by kind

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.emotion not in EMOTION_AUS:
            raise ValueError(f"emotion must be one of {EMOTIONS}, not {self.emotion!r}")
        if not self.onset <= self.apex <= self.offset or self.offset <= self.onset:
            raise ValueError(f"need onset <= apex <= offset, onset < offset: {self}")
        if self.kind == "micro" and classify_kind(self.onset, self.apex, self.offset) != "micro":
            raise ValueError("a micro-expression lasts <= 0.5 s, or rises to apex in <= 0.25 s")
        aus = tuple(int(a) for a in self.aus) or EMOTION_AUS[self.emotion]
        unknown = sorted(set(aus) - set(AU_NAMES))
        if unknown:
            raise ValueError(f"AUs {unknown} are not simulated; known: {sorted(AU_NAMES)}")
        object.__setattr__(self, "aus", aus)
        if self.intensity is None:
            object.__setattr__(self, "intensity", DEFAULT_INTENSITY[self.kind])
        elif not self.intensity > 0:
            raise ValueError("intensity must be > 0")


def intensity_at(expr: Expression, t: float) -> float:
    """Expression strength in [0, 1] at time t: raised-cosine rise to 1 at apex, fall to 0."""
    if t == expr.apex:
        return 1.0
    if t <= expr.onset or t >= expr.offset:
        return 0.0
    if t < expr.apex:
        return 0.5 - 0.5 * math.cos(math.pi * (t - expr.onset) / (expr.apex - expr.onset))
    return 0.5 + 0.5 * math.cos(math.pi * (t - expr.apex) / (expr.offset - expr.apex))


def _mix(*values: int) -> int:
    """SplitMix64-style hash of integers: cheap randomness keyed by (seed, time)."""
    h = 0
    for v in values:
        h = (h + (v & _M64) + 0x9E3779B97F4A7C15) & _M64
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _M64
        h ^= h >> 31
    return h


def _soft(sd: np.ndarray, width: float) -> np.ndarray:
    """Signed distance (negative inside) -> anti-aliased coverage in [0, 1]."""
    return np.clip(0.5 - sd / width, 0.0, 1.0)


@dataclass(frozen=True)
class _Bump:
    """Compact displacement bump (canvas px): weight (1 - r^2)^2 inside radius r."""

    cx: float
    cy: float
    r: float
    vx: float
    vy: float


@dataclass(frozen=True)
class _Look:
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


def _make_look(width: int, height: int, rng: np.random.Generator) -> _Look:
    u = rng.uniform
    F = 0.55 * height * u(0.96, 1.04)
    skin = (u(105, 145), u(140, 170), u(185, 220))
    irises = [(40.0, 60.0, 95.0), (120.0, 95.0, 60.0), (70.0, 105.0, 80.0), (30.0, 40.0, 60.0)]
    clothes = [(95.0, 60.0, 45.0), (60.0, 60.0, 65.0), (40.0, 45.0, 120.0), (150.0, 140.0, 135.0)]
    return _Look(
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


def _au_bumps(lk: _Look, ox: float, oy: float) -> dict[int, tuple[_Bump, ...]]:
    """Displacement bumps of every AU in canvas px (canvas origin at frame (ox, oy))."""
    F, e, my, mw = lk.F, lk.eye_dx, lk.mouth_y, lk.mouth_w

    def b(x: float, y: float, r: float, vx: float, vy: float) -> _Bump:
        return _Bump(lk.cx - ox + x * F, lk.cy - oy + y * F, r * F, vx, vy)

    def pair(x: float, y: float, r: float, vx: float, vy: float) -> tuple[_Bump, ...]:
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


class _Painter:
    """Float BGR image with soft-edged primitives evaluated only inside each shape's box."""

    def __init__(self, img: np.ndarray) -> None:
        self.img = img
        self.h, self.w = img.shape[:2]

    def grid(self, x0: float, y0: float, x1: float, y1: float) -> _Grid | None:
        """Slices and broadcastable X (1, w), Y (h, 1) pixel-centre grids of a clipped box."""
        ix0, iy0 = max(0, math.floor(x0)), max(0, math.floor(y0))
        ix1, iy1 = min(self.w, math.ceil(x1) + 1), min(self.h, math.ceil(y1) + 1)
        if ix1 <= ix0 or iy1 <= iy0:
            return None
        X = np.arange(ix0, ix1, dtype=np.float32)[None, :]
        Y = np.arange(iy0, iy1, dtype=np.float32)[:, None]
        return (slice(iy0, iy1), slice(ix0, ix1)), X, Y

    def fill(self, sl: _Slices, alpha: np.ndarray, colour: _Colour) -> None:
        """Blend a colour in with per-pixel coverage alpha."""
        sub = self.img[sl]
        sub += alpha[..., None] * (np.asarray(colour, np.float32) - sub)

    def scale(self, sl: _Slices, alpha: np.ndarray, factor: _Colour | float) -> None:
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
        colour: _Colour | None = None,
        factor: float = 1.0,
        opacity: float = 1.0,
    ) -> None:
        """Filled anti-aliased ellipse, as a colour fill or a brightness factor."""
        g = self.grid(cx - rx - aa, cy - ry - aa, cx + rx + aa, cy + ry + aa)
        if g is None:
            return
        sl, X, Y = g
        d = np.sqrt(((X - cx) / rx) ** 2 + ((Y - cy) / ry) ** 2)
        a = _soft((d - 1.0) * min(rx, ry), aa) * opacity
        if colour is not None:
            self.fill(sl, a, colour)
        else:
            self.scale(sl, a, factor)

    def blob(self, cx: float, cy: float, rx: float, ry: float, factor: _Colour | float) -> None:
        """Gaussian shading blob (sigma rx/2, ry/2): soft shadows and highlights."""
        g = self.grid(cx - 2 * rx, cy - 2 * ry, cx + 2 * rx, cy + 2 * ry)
        if g is None:
            return
        sl, X, Y = g
        self.scale(sl, np.exp(-2.0 * (((X - cx) / rx) ** 2 + ((Y - cy) / ry) ** 2)), factor)


@dataclass
class _Eye:
    """One eye's blink data: box in canvas px, lid contours per column, open/closed patches."""

    box: tuple[int, int, int, int]
    top: np.ndarray  # (1, w) upper lid contour y (canvas px)
    bottom: np.ndarray  # (1, w) lower lid contour y: where a closed lid meets
    span: np.ndarray  # (1, w) horizontal coverage of the eye opening
    Y: np.ndarray  # (h, 1) canvas row coordinates
    lash: float  # lash line half thickness (px)
    open: np.ndarray  # (h, w, 3) float32
    closed: np.ndarray  # (h, w, 3) float32


class FaceRenderer:
    """Deterministic synthetic face camera: render(t, expressions) -> raw uint8 frame.

    Not thread-safe (render updates internal caches): one renderer per camera thread.
    """

    def __init__(
        self,
        width: int,
        height: int,
        pixel_format: str = "bayer_rg8",
        seed: int = 0,
        noise_sigma: float = 2.5,
        blink_rate: float = 10.0,
        head_motion: float = 1.0,
    ) -> None:
        """Blink rate per minute (0: none); head motion amplitude in px at the reference face."""
        if pixel_format not in PIXEL_FORMATS:
            raise ValueError(f"pixel_format must be one of {PIXEL_FORMATS}")
        if width < 64 or height < 48 or width % 2 or height % 2:
            raise ValueError("width and height must be even, at least 64x48")
        if not 0 <= noise_sigma <= 10 or blink_rate < 0 or head_motion < 0:
            raise ValueError("need 0 <= noise_sigma <= 10, blink_rate >= 0, head_motion >= 0")
        self.width, self.height, self.pixel_format, self.seed = width, height, pixel_format, seed
        self.noise_sigma, self.blink_rate, self.head_motion = noise_sigma, blink_rate, head_motion
        rng = np.random.default_rng([seed, 0xFACE])
        self._look = lk = _make_look(width, height, rng)
        # Sensor noise is stored with this offset so one unsigned saturating add applies it.
        self._off = max(1, math.ceil(3.5 * noise_sigma)) if noise_sigma > 0 else 0
        F = lk.F
        x0 = max(0, int(lk.cx - 0.5 * F) & ~1)
        y0 = max(0, int(lk.cy - 0.62 * F) & ~1)
        x1 = min(width, (int(lk.cx + 0.5 * F) + 2) & ~1)
        y1 = min(height, (int(lk.cy + 0.70 * F) + 2) & ~1)
        self._roi = (x0, y0, x1, y1)
        self._scale = F / REFERENCE_FACE_HEIGHT
        self._paint_scene(rng)
        self._bumps = _au_bumps(lk, x0, y0)
        self._init_motion(rng)
        self._init_noise(rng)
        h, w = y1 - y0, x1 - x0
        self._gx = np.arange(w, dtype=np.float32)[None, :]
        self._gy = np.arange(h, dtype=np.float32)[:, None]
        self._variants: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._work = self._base.copy()  # base frame with the current head position pasted in
        self._work_key: tuple[int, int] | None = None
        self._dirty: list[tuple[int, int, int, int]] = []  # canvas boxes holding moved parts

    # -- public geometry (ground truth for tests and datasets) --------------------------------
    @property
    def face_box(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the face (forehead to chin, cheek to cheek) in frame pixels."""
        lk = self._look
        x, y = lk.cx - lk.face_rx * lk.F, lk.cy - 0.5 * lk.F
        return round(x), round(y), round(2 * lk.face_rx * lk.F), round(lk.F)

    @property
    def face_height(self) -> float:
        """Face height in frame pixels (scales expression intensities)."""
        return self._look.F

    def au_box(self, au: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) frame-pixel box enclosing the region an AU moves."""
        x0, y0 = self._roi[:2]
        bs = self._bumps[au]
        return (
            math.floor(min(b.cx - b.r for b in bs)) + x0,
            math.floor(min(b.cy - b.r for b in bs)) + y0,
            math.ceil(max(b.cx + b.r for b in bs)) + x0 + 1,
            math.ceil(max(b.cy + b.r for b in bs)) + y0 + 1,
        )

    @property
    def eye_boxes(self) -> tuple[tuple[int, int, int, int], ...]:
        """(x0, y0, x1, y1) frame-pixel boxes of the eyes (what a blink changes)."""
        x0, y0 = self._roi[:2]
        return tuple((a + x0, b + y0, c + x0, d + y0) for a, b, c, d in (e.box for e in self._eyes))

    # -- time functions --------------------------------------------------------------------------
    def blink_closure(self, t: float) -> float:
        """Eyelid closure in [0, 1] at time t (0 open, 1 closed)."""
        for start in self._blink_starts_near(t):
            s = t - start
            if 0.0 < s < BLINK_DURATION:
                if s < BLINK_CLOSE:
                    return 0.5 - 0.5 * math.cos(math.pi * s / BLINK_CLOSE)
                if s <= BLINK_CLOSE + BLINK_HOLD:
                    return 1.0
                s -= BLINK_CLOSE + BLINK_HOLD
                return 0.5 + 0.5 * math.cos(math.pi * s / BLINK_OPEN)
        return 0.0

    def blinks(self, t0: float, t1: float) -> list[float]:
        """Start times of the blinks beginning in [t0, t1)."""
        if self.blink_rate <= 0:
            return []
        period = 60.0 / self.blink_rate
        out = []
        for k in range(math.floor(t0 / period), math.floor(t1 / period) + 1):
            s = self._blink_start(k, period)
            if t0 <= s < t1:
                out.append(s)
        return out

    def head_offset(self, t: float) -> tuple[float, float]:
        """Head displacement (dx, dy) in frame pixels at time t (before quantisation)."""
        a = self.head_motion * self._scale
        if a == 0:
            return 0.0, 0.0
        (f1, f2, f3, f4), (p1, p2, p3, p4) = self._motion
        tau = 2 * math.pi * t
        dx = a * (0.65 * math.sin(f1 * tau + p1) + 0.35 * math.sin(f2 * tau + p2))
        dy = 0.6 * a * (0.6 * math.sin(f3 * tau + p3) + 0.4 * math.sin(f4 * tau + p4))
        return dx, dy

    # -- rendering -------------------------------------------------------------------------------
    def render(self, t: float, expressions: Sequence[Expression] = ()) -> np.ndarray:
        """Raw uint8 (height, width) frame at physical time t with these expressions."""
        dx, dy = self.head_offset(t)
        key = (round(dx / _SHIFT_STEP), round(dy / _SHIFT_STEP))
        variant = self._variant(key)
        x0, y0, x1, y1 = self._roi
        work = self._work
        if key != self._work_key:
            work[y0:y1, x0:x1] = variant
            self._work_key = key
        else:
            for a, b, c, d in self._dirty:
                work[y0 + b : y0 + d, x0 + a : x0 + c] = variant[b:d, a:c]
        self._dirty = []
        bumps = self._active_bumps(t, expressions)
        closure = self.blink_closure(t)
        if bumps or closure > 0:
            self._render_moving(key, bumps, closure)
        return self._add_noise(t)

    def render_bgr(self, t: float, expressions: Sequence[Expression] = ()) -> np.ndarray:
        """The rendered frame demosaiced to BGR uint8 (what the analysis and preview see)."""
        return debayer(self.render(t, expressions), self.pixel_format)

    # -- internals: motion, blinks, noise -------------------------------------------------------
    def _init_motion(self, rng: np.random.Generator) -> None:
        freqs = (rng.uniform(0.03, 0.07), rng.uniform(0.15, 0.3))
        freqs += (rng.uniform(0.03, 0.07), rng.uniform(0.2, 0.35))
        self._motion = (freqs, tuple(rng.uniform(0, 2 * math.pi, 4)))

    def _blink_start(self, k: int, period: float) -> float:
        # One blink per period-long slot at a hashed position: intervals 0.15 s .. 2 periods.
        u = _mix(self.seed, 0xB11, k) / 2.0**64
        return k * period + u * (period - BLINK_DURATION)

    def _blink_starts_near(self, t: float) -> tuple[float, ...]:
        if self.blink_rate <= 0:
            return ()
        period = 60.0 / self.blink_rate
        k = math.floor(t / period)
        return (self._blink_start(k, period), self._blink_start(k - 1, period))

    def _init_noise(self, rng: np.random.Generator) -> None:
        H, W = self.height, self.width
        self._noise_pad = (max(64, H // 2), 64)  # spare rows, columns for random offsets
        if self.noise_sigma == 0:
            self._noise = None
            return
        rows, cols = H + self._noise_pad[0], W + self._noise_pad[1]
        n = rng.standard_normal((rows, cols), dtype=np.float32)
        n *= self.noise_sigma
        n += self._off
        np.clip(np.rint(n, out=n), 0, 2 * self._off, out=n)
        self._noise = n.astype(np.uint8)

    def _add_noise(self, t: float) -> np.ndarray:
        if self._noise is None:
            return self._work.copy()
        # A hashed (row, col) offset per frame: consecutive frames see unrelated noise, and a
        # shifted copy of the same noise (which optical flow could read as motion) is rare.
        h = _mix(self.seed, 0x5E, round(t * 1e6))
        r = h % (self._noise_pad[0] + 1)
        c = (h >> 32) % (self._noise_pad[1] + 1)
        return cv2.add(self._work, self._noise[r : r + self.height, c : c + self.width])

    # -- internals: expression warps -----------------------------------------------------------
    def _active_bumps(
        self, t: float, expressions: Sequence[Expression]
    ) -> list[tuple[_Bump, float]]:
        out = []
        for e in expressions:
            k = intensity_at(e, t)
            if k <= 0.0:
                continue
            amp = float(e.intensity or 0.0) * self._scale * k
            if amp < 0.005:  # below 1/200 px nothing visible changes
                continue
            out.extend((b, amp) for au in e.aus for b in self._bumps[au])
        return out

    def _maps(
        self,
        box: _Box,
        key: tuple[int, int],
        dx: np.ndarray | None = None,
        dy: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Backward maps of a canvas box for head shift key plus a displacement field."""
        a, b, c, d = box
        wt = self._shift_weight[b:d, a:c]
        mx = self._gx[:, a:c] - (key[0] * _SHIFT_STEP) * wt
        my = self._gy[b:d] - (key[1] * _SHIFT_STEP) * wt
        if dx is not None:
            mx -= dx
            my -= dy
        return mx, my

    def _variant(self, key: tuple[int, int]) -> np.ndarray:
        """Raw (offset-subtracted) face region for one quantised head position, cached."""
        v = self._variants.get(key)
        if v is not None:
            self._variants.move_to_end(key)
            return v
        if key == (0, 0):
            patch = self._canvas
        else:
            h, w = self._canvas.shape[:2]
            mx, my = self._maps((0, 0, w, h), key)
            patch = cv2.remap(
                self._canvas, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        v = self._to_raw(patch)
        self._variants[key] = v
        if len(self._variants) > _MAX_VARIANTS:
            self._variants.popitem(last=False)
        return v

    def _to_raw(self, bgr: np.ndarray) -> np.ndarray:
        raw = mosaic(bgr, self.pixel_format)
        if self._off:
            raw -= np.uint8(self._off)  # the canvas is clamped to >= off: no wrap-around
        return raw

    def _render_moving(
        self, key: tuple[int, int], bumps: list[tuple[_Bump, float]], closure: float
    ) -> None:
        """Re-warp the boxes that expressions or a blink change; paste them into the work frame."""
        h, w = self._canvas.shape[:2]
        boxes = [(b.cx - b.r - 1, b.cy - b.r - 1, b.cx + b.r + 2, b.cy + b.r + 2) for b, _ in bumps]
        if closure > 0:
            m = 2 + abs(key[0]) * _SHIFT_STEP + abs(key[1]) * _SHIFT_STEP
            boxes += [(a - m, b - m, c + m, d + m) for a, b, c, d in (e.box for e in self._eyes)]
        src = self._canvas if closure == 0 else self._blinked_canvas(closure)
        x0, y0 = self._roi[:2]
        for box in _merge_boxes(boxes, w, h):
            a, b, c, d = box
            dx = np.zeros((d - b, c - a), np.float32)
            dy = np.zeros_like(dx)
            for bump, amp in bumps:
                _add_bump(dx, dy, a, b, bump, amp)
            mx, my = self._maps(box, key, dx, dy)
            patch = cv2.remap(src, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            self._work[y0 + b : y0 + d, x0 + a : x0 + c] = self._to_raw(patch)
            self._dirty.append(box)

    def _blinked_canvas(self, closure: float) -> np.ndarray:
        src = self._canvas.copy()
        lo, hi = self._off, 255 - self._off
        for e in self._eyes:
            lid = e.top + closure * (e.bottom - e.top)  # lid edge per column
            cover = _soft(e.Y - lid, 1.0) * e.span
            lash = np.exp(-(((e.Y - lid) / e.lash) ** 2)) * e.span * (0.75 * min(1.0, 4 * closure))
            img = e.open + cover[..., None] * (e.closed - e.open)
            img *= 1.0 - lash[..., None]
            a, b, c, d = e.box
            src[b:d, a:c] = np.clip(np.rint(img), lo, hi).astype(np.uint8)
        return src

    # -- internals: painting the static scene ---------------------------------------------------
    def _paint_scene(self, rng: np.random.Generator) -> None:
        lk, W, H = self._look, self.width, self.height
        F, cx, cy = lk.F, lk.cx, lk.cy
        aa = 1.0
        # Green backdrop with a broad illumination falloff, made at low resolution for speed.
        sy, sx = np.mgrid[0:24, 0:32].astype(np.float32)
        fall = 1.0 - 0.18 * (((sx - 15.5) / 16) ** 2 + ((sy - 11.5) / 12) ** 2)
        img = np.empty((H, W, 3), np.float32)
        img[:] = cv2.resize(fall, (W, H), interpolation=cv2.INTER_LINEAR)[..., None]
        img *= np.array((70.0, 150.0, 55.0), np.float32)
        p = _Painter(img)
        skin = np.array(lk.skin, np.float32)
        hair = np.array(lk.hair, np.float32)
        # Neck (shadowed skin) and shoulders in clothes.
        g = p.grid(cx - 0.17 * F, cy + 0.2 * F, cx + 0.17 * F, H)
        if g is not None:
            sl, X, Y = g
            a = _soft(np.abs(X - cx) - 0.15 * F, aa) * _soft(cy + 0.25 * F - Y, aa)
            p.fill(sl, a, skin * 0.8)
        p.ellipse(cx, cy + 1.22 * F, 0.95 * F, 0.55 * F, aa, colour=lk.clothes)
        p.blob(cx, cy + 0.52 * F, 0.2 * F, 0.06 * F, 0.7)  # shadow under the chin
        # Hair behind the head, stopping at ear level.
        g = p.grid(cx - 0.45 * F, cy - 0.62 * F, cx + 0.45 * F, cy + 0.05 * F)
        if g is not None:
            sl, X, Y = g
            rx, ry, hy = (lk.face_rx + 0.045) * F, 0.52 * F, cy - 0.08 * F
            d = np.sqrt(((X - cx) / rx) ** 2 + ((Y - hy) / ry) ** 2)
            p.fill(sl, _soft((d - 1) * rx, aa) * _soft(Y - (cy - 0.02 * F), 0.02 * F), hair)
        for s in (-1, 1):  # ears
            p.ellipse(
                cx + s * (lk.face_rx - 0.005) * F,
                cy - 0.03 * F,
                0.045 * F,
                0.085 * F,
                aa,
                colour=skin * 0.9,
            )
        # Face: an egg (narrower jaw), lit from the front, with the hair fringe on the forehead.
        g = p.grid(cx - lk.face_rx * F, cy - 0.5 * F, cx + lk.face_rx * F, cy + 0.5 * F)
        assert g is not None
        sl, X, Y = g
        v = (Y - cy) / (0.5 * F)
        rx = lk.face_rx * F * (1.0 - 0.16 * np.clip(v, 0, 1) ** 2)
        d = np.sqrt(((X - cx) / rx) ** 2 + v**2)
        face = _soft((d - 1.0) * rx, aa)
        p.fill(sl, face, skin)
        shade = 0.78 + 0.22 * np.sqrt(np.clip(1.0 - d**2, 0, 1))
        p.scale(sl, face, shade[..., None] * np.ones(3, np.float32))
        hairline = cy + lk.hairline * F + 0.12 * F * ((X - cx) / (lk.face_rx * F)) ** 2
        # The fringe reaches a little past the face outline so no skin rim shows through.
        fringe = _soft((d - 1.0) * rx - 2.0, aa) * _soft(Y - hairline, 0.01 * F)
        p.fill(sl, fringe, hair)
        e, ey = lk.eye_dx * F, cy + lk.eye_y * F
        for s in (-1, 1):
            p.blob(cx + s * e, ey - 0.005 * F, 0.11 * F, 0.065 * F, 0.8)  # eye sockets
            p.blob(cx + s * (e + 0.03 * F), cy + 0.06 * F, 0.08 * F, 0.05 * F, (0.98, 0.97, 1.04))
        self._paint_nose(p)
        self._paint_mouth(p, skin)
        self._paint_brows(p, hair)
        for s in (-1, 1):  # lid creases (stay put during a blink)
            ex, ew = cx + s * e, lk.eye_w * F
            g = p.grid(ex - ew, ey - 0.07 * F, ex + ew, ey)
            if g is not None:
                sl, X, Y = g
                u = np.clip((X - ex) / ew, -1, 1)
                crease = ey - 0.05 * F * np.sqrt(1 - u**2)
                a = _soft(np.abs(Y - crease) - 0.003 * F, 0.004 * F) * _soft(np.abs(u) - 0.9, 0.1)
                p.scale(sl, a * 0.6, 0.85)
        lid_patches = self._eye_patches(img)  # the face before the eyes are drawn: eyelid skin
        self._paint_eyes(p)
        tex = _texture(rng, W, H, F)
        img *= tex[..., None]
        lo, hi = self._off, 255 - self._off
        full = np.clip(np.rint(img), lo, hi).astype(np.uint8)
        self._base = mosaic(full, self.pixel_format)
        if self._off:
            self._base -= np.uint8(self._off)
        x0, y0, x1, y1 = self._roi
        self._canvas = np.ascontiguousarray(full[y0:y1, x0:x1])
        self._init_eyes(img, tex, lid_patches)
        self._init_shift_weight()

    def _paint_nose(self, p: _Painter) -> None:
        lk = self._look
        F, cx, cy = lk.F, lk.cx, lk.cy
        g = p.grid(cx - 0.08 * F, cy + lk.eye_y * F, cx + 0.08 * F, cy + 0.12 * F)
        if g is not None:
            sl, X, Y = g
            along = _soft(np.abs(Y - (cy + 0.02 * F)) - 0.07 * F, 0.03 * F)
            p.scale(sl, np.exp(-(((X - cx) / (0.025 * F)) ** 2)) * along, 1.1)
            sides = np.exp(-(((np.abs(X - cx) - 0.05 * F) / (0.015 * F)) ** 2)) * along
            p.scale(sl, sides, 0.88)
        p.blob(cx, cy + 0.085 * F, 0.04 * F, 0.028 * F, 1.07)
        p.blob(cx, cy + 0.14 * F, 0.055 * F, 0.012 * F, 0.82)
        for s in (-1, 1):
            p.ellipse(
                cx + s * 0.032 * F,
                cy + 0.118 * F,
                0.018 * F,
                0.009 * F,
                1.0,
                colour=(35, 35, 55),
                opacity=0.85,
            )
            p.blob(cx + s * 0.05 * F, cy + 0.105 * F, 0.015 * F, 0.02 * F, 0.9)  # nose wings

    def _paint_mouth(self, p: _Painter, skin: np.ndarray) -> None:
        lk = self._look
        F, cx = lk.F, lk.cx
        my, mw = lk.cy + lk.mouth_y * F, lk.mouth_w * F
        g = p.grid(cx - mw - 2, my - 0.04 * F, cx + mw + 2, my + 0.05 * F)
        if g is not None:
            sl, X, Y = g
            u = np.clip((X - cx) / mw, -1, 1)
            core = np.clip(1 - u**2, 0, 1) ** 0.6
            top = my - 0.024 * F * core + 0.004 * F * np.exp(-((u / 0.12) ** 2))
            bottom = my + 0.034 * F * core
            span = _soft((np.abs(X - cx) - mw), 1.0)
            lips = _soft(top - Y, 1.0) * _soft(Y - bottom, 1.0) * span
            p.fill(sl, lips, skin * np.array((0.72, 0.62, 0.86), np.float32))
            line = my + 0.003 * F * u**2
            dark = _soft(np.abs(Y - line) - 0.0035 * F, 1.0) * _soft(
                np.abs(X - cx) - 1.03 * mw, 1.0
            )
            p.fill(sl, dark * 0.9, (40, 35, 65))
        p.blob(cx, my + 0.018 * F, 0.04 * F, 0.008 * F, 1.1)  # lower-lip highlight
        p.blob(cx, my + 0.052 * F, 0.05 * F, 0.012 * F, 0.85)  # shadow under the lower lip
        for s in (-1, 1):
            p.blob(cx + s * mw, my, 0.012 * F, 0.01 * F, 0.8)  # mouth corners

    def _paint_brows(self, p: _Painter, hair: np.ndarray) -> None:
        lk = self._look
        F = lk.F
        by, half = lk.cy + lk.brow_y * F, 0.085 * F
        for s in (-1, 1):
            bx = lk.cx + s * (lk.eye_dx + 0.01) * F
            g = p.grid(bx - half - 2, by - 0.035 * F, bx + half + 2, by + 0.03 * F)
            if g is None:
                continue
            sl, X, Y = g
            u = s * (X - bx) / half  # -1 at the inner end, +1 at the outer end
            mid = by - 0.012 * F * (1 - u**2) + 0.008 * F * u
            half_t = 0.013 * F * (1 - 0.35 * (np.clip(u, -1, 1) + 1) / 2)
            a = _soft(np.abs(Y - mid) - half_t, 1.0) * _soft((np.abs(u) - 1) * half, 1.5)
            p.fill(sl, a * 0.9, hair * 1.1)

    def _eye_geometry(self, s: int) -> tuple[float, float, float, float, float]:
        lk = self._look
        F = lk.F
        return lk.cx + s * lk.eye_dx * F, lk.cy + lk.eye_y * F, lk.eye_w * F, 0.034 * F, 0.022 * F

    def _eye_frame_boxes(self) -> list[tuple[int, int, int, int]]:
        out = []
        m = 0.015 * self._look.F + 2
        for s in (-1, 1):
            ex, ey, ew, ht, hb = self._eye_geometry(s)
            x0, y0 = int(ex - ew - m) & ~1, int(ey - ht - m) & ~1
            x1, y1 = (math.ceil(ex + ew + m) + 1) & ~1, (math.ceil(ey + hb + m) + 1) & ~1
            out.append((x0, y0, x1, y1))
        return out

    def _eye_patches(self, img: np.ndarray) -> list[np.ndarray]:
        return [img[b:d, a:c].copy() for a, b, c, d in self._eye_frame_boxes()]

    def _eye_contours(self, s: int, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ex, ey, ew, ht, hb = self._eye_geometry(s)
        u = (X - ex) / ew
        core = np.sqrt(np.clip(1 - u**2, 0, 1))
        tilt = 0.006 * self._look.F * s * (X - ex) / ew  # outer corners a little higher
        return u, ey - ht * core**0.8 - tilt, ey + hb * core - tilt

    def _paint_eyes(self, p: _Painter) -> None:
        lk = self._look
        F = lk.F
        for s, (a, b, c, d) in zip((-1, 1), self._eye_frame_boxes(), strict=True):
            g = p.grid(a, b, c - 1, d - 1)
            if g is None:
                continue
            sl, X, Y = g
            ex, ey, ew, _, _ = self._eye_geometry(s)
            u, top, bottom = self._eye_contours(s, X)
            inside = _soft(top - Y, 1.0) * _soft(Y - bottom, 1.0) * _soft((np.abs(u) - 1) * ew, 1.0)
            p.fill(sl, inside, (190, 196, 206))
            ir, iy = 0.029 * F, ey + 0.003 * F
            r = np.sqrt((X - ex) ** 2 + (Y - iy) ** 2)
            p.fill(sl, inside * _soft(r - ir, 1.0), lk.iris)
            p.fill(sl, inside * _soft(r - 0.012 * F, 1.0), (15, 15, 18))
            rs = np.sqrt((X - ex - 0.01 * F) ** 2 + (Y - iy + 0.01 * F) ** 2)
            p.fill(sl, inside * _soft(rs - 0.005 * F, 1.0) * 0.8, (235, 235, 235))
            span = _soft((np.abs(u) - 1.05) * ew, 1.0)
            p.fill(sl, _soft(np.abs(Y - top) - 0.005 * F, 1.0) * span * 0.9, (25, 25, 30))
            p.scale(sl, _soft(np.abs(Y - bottom) - 0.002 * F, 1.0) * span * 0.5, 0.75)

    def _init_eyes(self, img: np.ndarray, tex: np.ndarray, lids: list[np.ndarray]) -> None:
        """Blink data: open patches (final image) and closed ones (lid skin plus a lash line)."""
        x0, y0 = self._roi[:2]
        F = self._look.F
        self._eyes: list[_Eye] = []
        for s, (a, b, c, d), lid in zip((-1, 1), self._eye_frame_boxes(), lids, strict=True):
            X = np.arange(a, c, dtype=np.float32)[None, :]
            Y = np.arange(b, d, dtype=np.float32)[:, None]
            u, top, bottom = self._eye_contours(s, X)
            ew = self._eye_geometry(s)[2]
            closed = lid * tex[b:d, a:c, None]
            # The closed lid shows its lash line where it meets the lower lid.
            line = _soft(np.abs(Y - bottom) - 0.004 * F, 1.0) * _soft((np.abs(u) - 1) * ew, 1.0)
            closed *= 1.0 - 0.7 * line[..., None]
            self._eyes.append(
                _Eye(
                    box=(a - x0, b - y0, c - x0, d - y0),
                    top=top - y0,
                    bottom=bottom - y0,
                    span=_soft((np.abs(u) - 1) * ew, 1.0),
                    Y=Y - y0,
                    lash=max(0.6, 0.005 * F),
                    open=img[b:d, a:c].copy(),
                    closed=closed,
                )
            )

    def _init_shift_weight(self) -> None:
        """How much each canvas pixel follows the head: 1 on the head, 0 at the canvas border."""
        x0, y0, x1, y1 = self._roi
        lk = self._look
        h, w = y1 - y0, x1 - x0
        ramp = max(3.0, 0.02 * lk.F)
        X = np.arange(w, dtype=np.float32)[None, :]
        Y = np.arange(h, dtype=np.float32)[:, None]
        wx = np.clip(np.minimum(X, w - 1 - X) / ramp, 0, 1)
        chin = lk.cy + 0.5 * lk.F - y0  # the neck bends: full shift at the chin, none below
        wy = np.clip(Y / ramp, 0, 1) * np.clip((h - 1 - Y) / max(1.0, h - 1 - chin), 0, 1)
        self._shift_weight = (wx * wy).astype(np.float32)


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


def _add_bump(dx: np.ndarray, dy: np.ndarray, a: int, b: int, bump: _Bump, amp: float) -> None:
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


def _merge_boxes(boxes: Sequence[tuple[float, ...]], w: int, h: int) -> list[_Box]:
    """Even-aligned, clipped, overlap-merged integer boxes (x0, y0, x1, y1)."""
    out: list[list[int]] = []
    for x0, y0, x1, y1 in boxes:
        bx = [
            max(0, math.floor(x0) & ~1),
            max(0, math.floor(y0) & ~1),
            min(w, (math.ceil(x1) + 1) & ~1),
            min(h, (math.ceil(y1) + 1) & ~1),
        ]
        if bx[2] > bx[0] and bx[3] > bx[1]:
            out.append(bx)
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                p, q = out[i], out[j]
                if p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3]:
                    out[i] = [min(p[0], q[0]), min(p[1], q[1]), max(p[2], q[2]), max(p[3], q[3])]
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return [tuple(b) for b in out]  # type: ignore[misc]
