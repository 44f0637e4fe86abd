"""Synthetic face camera images: a real face photograph in front of a lab wall, warped around its
landmarks into FACS-style micro/macro expressions, blinks and slight head motion (shift and
roll), with sensor noise, cheap enough for 150 fps full frame.

Everything is a pure function of (seed, t, expressions): the renderer keeps caches only.
Speed comes from composing the scene once (drivers.sim.face_photo) and keeping it as a raw
frame; per frame only the face parts that move are re-warped (cv2.remap on small boxes, with
the landmark-anchored AU displacement fields of drivers.sim.face_geometry and the lids of
drivers.sim.face_eyelids), and noise is a view into a precomputed noise strip at a hashed
offset, added with one saturating cv2.add.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import cv2
import numpy as np

from core.devices import PIXEL_FORMATS
from drivers.imaging import debayer, mosaic
from drivers.sim.expression import REFERENCE_FACE_HEIGHT, Expression, intensity_at
from drivers.sim.face_eyelids import close_eyes, make_eyelids
from drivers.sim.face_geometry import (
    Box,
    Bump,
    add_bump,
    au_bumps,
    canvas_box,
    face_box,
    make_look,
    shift_weight,
)
from drivers.sim.face_photo import paint_scene

BLINK_CLOSE, BLINK_HOLD, BLINK_OPEN = 0.055, 0.015, 0.080  # seconds; ~150 ms in all
BLINK_DURATION = BLINK_CLOSE + BLINK_HOLD + BLINK_OPEN
_SHIFT_STEP = 0.25  # head motion is quantised to quarter pixels so warped faces can be cached
HeadKey = tuple[int, int, int]  # quantised dx, dy, roll (a roll step moves the face edge 1/4 px)
_MAX_VARIANTS = 96  # bound on cached head positions (about 0.4 MB each at full frame)
_M64 = (1 << 64) - 1


def _mix(*values: int) -> int:
    """SplitMix64-style hash of integers: cheap randomness keyed by (seed, time)."""
    h = 0
    for v in values:
        h = (h + (v & _M64) + 0x9E3779B97F4A7C15) & _M64
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _M64
        h ^= h >> 31
    return h


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
        self._look = lk = make_look(width, height, rng)
        # Sensor noise is stored with this offset so one unsigned saturating add applies it.
        self._off = max(1, math.ceil(3.5 * noise_sigma)) if noise_sigma > 0 else 0
        self._canvas_box = x0, y0, x1, y1 = canvas_box(lk, width, height)
        self._scale = lk.F / REFERENCE_FACE_HEIGHT
        self._init_scene(paint_scene(lk, width, height, rng))
        self._bumps = au_bumps(lk, x0, y0)
        self._init_motion(rng)
        self._init_noise(rng)
        h, w = y1 - y0, x1 - x0
        self._gx = np.arange(w, dtype=np.float32)[None, :]
        self._gy = np.arange(h, dtype=np.float32)[:, None]
        # Roll about the face centre, linearised (a fraction of a degree): canvas offsets.
        self._rel_x = self._gx - np.float32(lk.cx - x0)
        self._rel_y = self._gy - np.float32(lk.cy - y0)
        self._roll_step = _SHIFT_STEP / (0.5 * lk.F)  # radians moving the face's edge a step
        self._variants: OrderedDict[HeadKey, np.ndarray] = OrderedDict()
        self._work = self._base.copy()  # base frame with the current head position pasted in
        self._work_key: HeadKey | None = None
        self._dirty: list[Box] = []  # canvas boxes holding moved parts

    def _init_scene(self, scene: np.ndarray) -> None:
        """Quantise the composed scene clear of the noise offset: raw base frame, canvas, lids."""
        full = np.clip(np.rint(scene), self._off, 255 - self._off).astype(np.uint8)
        self._base = self._to_raw(full)
        x0, y0, x1, y1 = self._canvas_box
        self._canvas = np.ascontiguousarray(full[y0:y1, x0:x1])
        self._eyelids = make_eyelids(self._look, scene, self._canvas_box)
        self._shift_weight = shift_weight(self._look, self._canvas_box)

    # -- public geometry (ground truth for tests and datasets) --------------------------------
    @property
    def face_box(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the face (forehead to chin, cheek to cheek) in frame pixels."""
        x, y, w, h = face_box(self._look)
        return round(x), round(y), round(w), round(h)

    @property
    def landmarks(self) -> np.ndarray:
        """(68, 2) dlib-layout landmarks of the still, neutral face in frame pixels (a copy)."""
        return self._look.points.copy()

    @property
    def face_height(self) -> float:
        """Face height in frame pixels (scales expression intensities)."""
        return self._look.F

    def au_box(self, au: int) -> Box:
        """(x0, y0, x1, y1) frame-pixel box enclosing the region an AU moves."""
        x0, y0 = self._canvas_box[:2]
        bs = self._bumps[au]
        return (
            math.floor(min(b.cx - b.r for b in bs)) + x0,
            math.floor(min(b.cy - b.r for b in bs)) + y0,
            math.ceil(max(b.cx + b.r for b in bs)) + x0 + 1,
            math.ceil(max(b.cy + b.r for b in bs)) + y0 + 1,
        )

    @property
    def eye_boxes(self) -> tuple[Box, ...]:
        """(x0, y0, x1, y1) frame-pixel boxes of the eyes (what a blink changes)."""
        x0, y0 = self._canvas_box[:2]
        return tuple(
            (a + x0, b + y0, c + x0, d + y0) for a, b, c, d in (e.box for e in self._eyelids)
        )

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
        (f1, f2, f3, f4, _), (p1, p2, p3, p4, _) = self._motion
        tau = 2 * math.pi * t
        dx = a * (0.65 * math.sin(f1 * tau + p1) + 0.35 * math.sin(f2 * tau + p2))
        dy = 0.6 * a * (0.6 * math.sin(f3 * tau + p3) + 0.4 * math.sin(f4 * tau + p4))
        return dx, dy

    def head_roll(self, t: float) -> float:
        """Head roll in radians at time t (unquantised): moves the face edge ~head_motion px."""
        a = self.head_motion * self._scale / (0.5 * self._look.F)
        if a == 0:
            return 0.0
        f, p = self._motion[0][4], self._motion[1][4]
        return a * math.sin(2 * math.pi * f * t + p)

    # -- rendering -------------------------------------------------------------------------------
    def render(self, t: float, expressions: Sequence[Expression] = ()) -> np.ndarray:
        """Raw uint8 (height, width) frame at physical time t with these expressions."""
        dx, dy = self.head_offset(t)
        key = (
            round(dx / _SHIFT_STEP),
            round(dy / _SHIFT_STEP),
            round(self.head_roll(t) / self._roll_step),
        )
        variant = self._variant(key)
        x0, y0, x1, y1 = self._canvas_box
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
        freqs += (rng.uniform(0.03, 0.07), rng.uniform(0.2, 0.35), rng.uniform(0.04, 0.1))
        self._motion = (freqs, tuple(rng.uniform(0, 2 * math.pi, 5)))

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
    ) -> list[tuple[Bump, float]]:
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
        box: Box,
        key: HeadKey,
        dx: np.ndarray | None = None,
        dy: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Backward maps of a canvas box for head pose key plus a displacement field."""
        a, b, c, d = box
        wt = self._shift_weight[b:d, a:c]
        roll = key[2] * self._roll_step
        mx = self._gx[:, a:c] - (key[0] * _SHIFT_STEP - roll * self._rel_y[b:d]) * wt
        my = self._gy[b:d] - (key[1] * _SHIFT_STEP + roll * self._rel_x[:, a:c]) * wt
        if dx is not None:
            mx -= dx
            my -= dy
        return mx, my

    def _variant(self, key: HeadKey) -> np.ndarray:
        """Raw (offset-subtracted) face region for one quantised head position, cached."""
        v = self._variants.get(key)
        if v is not None:
            self._variants.move_to_end(key)
            return v
        if key == (0, 0, 0):
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
        self, key: HeadKey, bumps: list[tuple[Bump, float]], closure: float
    ) -> None:
        """Re-warp the boxes that expressions or a blink change; paste them into the work frame."""
        h, w = self._canvas.shape[:2]
        boxes = [(b.cx - b.r - 1, b.cy - b.r - 1, b.cx + b.r + 2, b.cy + b.r + 2) for b, _ in bumps]
        src = self._canvas
        if closure > 0:
            m = 2 + (abs(key[0]) + abs(key[1]) + abs(key[2])) * _SHIFT_STEP
            boxes += [(a - m, b - m, c + m, d + m) for a, b, c, d in (e.box for e in self._eyelids)]
            src = close_eyes(self._canvas, self._eyelids, closure, self._off, 255 - self._off)
        x0, y0 = self._canvas_box[:2]
        for box in _merge_boxes(boxes, w, h):
            a, b, c, d = box
            dx = np.zeros((d - b, c - a), np.float32)
            dy = np.zeros_like(dx)
            for bump, amp in bumps:
                add_bump(dx, dy, a, b, bump, amp)
            mx, my = self._maps(box, key, dx, dy)
            patch = cv2.remap(src, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            self._work[y0 + b : y0 + d, x0 + a : x0 + c] = self._to_raw(patch)
            self._dirty.append(box)


def _merge_boxes(boxes: Sequence[tuple[float, ...]], w: int, h: int) -> list[Box]:
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
