"""Micro- and macro-expression spotting in long clips (MMME 4.3).

Training-free, in the MEGC-baseline family, with optical flow as the feature:

1. Crops are averaged in groups to ~30 fps for the micro scale and ~15 fps for the macro
   scale (150 fps sensor noise drops by sqrt(5-10); an ME still spans 6-15 frames), and the
   eye openings are filled with a constant so a blink gives no flow (a blink lasts ~150 ms,
   like an ME, and moves ~10x more).
2. For each frame i and scale k: the face's displacement at i against the mean of frames
   i-k and i+k, i.e. (flow(i-k -> i) - flow(i -> i+k)) / 2. It is largest at an apex whose
   expression fits between i-k and i+k (k = half the typical interval: 0.2 s micro,
   0.65 s macro), and slow head drift cancels. Vectors are averaged per region of interest
   (the landmark-placed ROIs of analysis/face.py on the aligned crops), the similarity
   motion (shift, rotation, zoom) that best explains the regions' vectors, refitted without
   the regions it explains worst, is subtracted (rigid motion the alignment left: its lag,
   landmark jitter), each region's magnitude is put in units of its own noise (minus its clip
   median, over its MAD), and the curve is, per frame, the largest of the mean of the top 1,
   top 2 and top-N regions, each in units of its own noise (an AU moves one to four regions).
3. Peaks above max(mean + p*(max - mean), median + z*MAD) of the clip's curve are
   candidates: the MEGC rule, with a noise floor so that a clip without expressions does
   not call its noise maximum an expression, and a small p so that one macro-expression
   does not hide the micro ones. On request, micro peaks down to a lower floor form a
   sensitive tier (confident=False) that the Candidate Clip Filter may confirm
   (analysis/ccf.py).
4. Each candidate's onset and offset come from the displacement relative to its apex frame:
   walking away from the apex, it rises to a plateau (the neutral face); the boundary is
   where it first reaches (1 - q) of what follows, and the plateau must hold for as far
   again (a bump that comes back is an earlier or later expression, not the neutral face).
   A true apex differs from the neutral face on both sides alike; one flat side means a side
   lobe or a posture step, not an expression - unless the apex starts a plateau: the face
   rose from neutral and is held, then the offset is where it comes back near the neutral
   face, or the end of the clip (the run of frames with a face) when it never does, as in a
   clip cut mid-expression. Micro vs macro is by length (<= 0.5 s: MMME 3.4); micro
   candidates inside a macro interval are its rise or fall and are dropped.

Measured before the landmark tracker (fixed frame-0 crop, 6x6 grid of blocks), on
simulated clips (drivers.sim.face, 20 s at 150 fps, expressions drawn like the
dataset generator's: ME 0.04-0.5 s, 1-3 AUs, 2.4-5.6 px at a 600 px face, i.e. ~0.5-1.2 px
on the crop; blinks 10/min; head motion on), pooled micro F1 (IoU >= 0.5): 0.90 at 640x480
(12 clips), 0.90 at 320x240 (8), 0.92 at 2040x1088 (4), 0.84 mono (4), 0.84 at half the
micro intensity; no false positive in 4 clips without expressions. The misses are MEs made
only of AU5 (its motion is inside the masked eye opening), AU7 or AU9 (they barely change
the simulated image). Farneback beat DIS here: median ratio of ME peak to the clip's noise
maximum 2.9 (DIS ultrafast), 1.5 (fast), 2.3 (medium), 7-10 (Farneback).
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from analysis.evaluation import frame_iou
from analysis.face import FaceLayout
from analysis.flow import FlowEngine
from analysis.regions import RegionPool, grid_boxes, valid_mask
from core.expressions import MICRO_MAX_DURATION_S


@dataclass(frozen=True)
class SpotParams:
    """Spotting settings; times in seconds, sizes in crop pixels."""

    analysis_fps: float = 30.0  # micro scale: frames are averaged in groups to about this rate
    macro_fps: float = 15.0  # macro scale: slower motion, so half the rate (and the flows)
    micro_interval: float = 0.4  # typical ME length: its half is the micro scale k
    macro_interval: float = 1.3  # typical macro-expression length: its half is the macro k
    max_micro: float = MICRO_MAX_DURATION_S  # longer intervals are macro-expressions
    block: int = 21  # block side of the grid used for crops without a layout (ROIs)
    top_n: int = 4  # regions averaged into the curve (an AU moves 1-4 of them)
    p: float = 0.02  # MEGC threshold: mean + p * (max - mean)
    z: float = 6.0  # noise floor of the threshold: median + z * MAD
    # Sensitive tier: peaks between this floor and the threshold are reported as unconfirmed
    # candidates, which the Candidate Clip Filter may confirm from the heart rate.
    z_sensitive: float = 4.5
    boundary: float = 0.1  # onset/offset where displacement reaches (1 - boundary) of plateau
    search: float = 1.5  # boundary search window, in intervals of the candidate's scale
    lookahead: float = 0.1  # s: shortest look-ahead confirming that a rise has ended
    symmetry: float = 0.5  # an apex differs from both sides' neutral face by >= this ratio
    normalise: bool = True  # blocks in units of their own noise (MAD) before ranking
    flow: str = "farneback"
    mask_eyes: bool = True
    head_motion: bool = True  # subtract the median flow (rigid head motion)


@dataclass(frozen=True)
class SpottedInterval:
    """A spotted expression: frame indices within the clip, score, micro or macro."""

    onset: int
    apex: int
    offset: int
    score: float  # peak height in noise units (MADs above the curve's median)
    kind: str  # "micro" | "macro"
    confident: bool = True  # above the threshold; False: sensitive tier, needs confirmation

    def seconds(self, fps: float) -> tuple[float, float, float]:
        """(onset, apex, offset) in seconds from the clip's first frame."""
        return self.onset / fps, self.apex / fps, self.offset / fps


@dataclass(frozen=True)
class SpotCurve:
    """One scale's spotting curve, for plots: where it crosses `threshold` are the peaks."""

    frames: np.ndarray  # frame index within the clip of each point (middle of its group)
    values: np.ndarray  # curve in noise units (MADs above its median)
    threshold: float  # the confident threshold, in the same units


@dataclass
class _Candidate:
    apex: int  # frame index: of its track while estimated, then of the clip
    scale: str
    score: float
    blocks: np.ndarray  # indices of the blocks that moved most at the apex
    confident: bool = True
    onset: int = 0
    offset: int = 0
    held: bool = False  # still held at the clip's end: the offset is the clip's last frame
    noise: float = 0.0  # typical displacement of its blocks without an expression


class _Track:
    """One scale: crops averaged to its rate, and its contrast computed as frames arrive.

    Binned frame j completes flow(j-k -> j); once frame j-k's two flows exist, its contrast
    row is known. So a clip can be pushed in blocks while it is being read.
    """

    def __init__(
        self,
        scale: str,
        group: int,
        k: int,
        eyes: Sequence[tuple[int, int, int, int]],
        blocks: RegionPool,
        engine: FlowEngine,
        head_motion: bool,
    ) -> None:
        self.scale, self.group, self.k = scale, group, k
        self.eyes, self.blocks, self.engine, self.head_motion = eyes, blocks, engine, head_motion
        self.frames: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []  # contrast per block of frames k, k+1, ...
        self._sum: np.ndarray | None = None
        self._count = 0
        self._fill: list[int] = []
        self._ring: collections.deque[np.ndarray] = collections.deque(maxlen=k + 1)

    def push(self, crop: np.ndarray) -> None:
        """Add one crop; every `group` crops make an averaged frame."""
        if self._sum is None:
            self._sum = np.zeros(crop.shape, np.float32)
        self._sum += crop
        self._count += 1
        if self._count == self.group:
            frame = np.rint(self._sum / self.group).astype(np.uint8)
            self._sum[:] = 0.0
            self._count = 0
            self._add(frame)

    def _add(self, frame: np.ndarray) -> None:
        if not self._fill:  # the eyes' fill is the first frame's median there: no new edges
            self._fill = [int(np.median(frame[_box(b)])) for b in self.eyes]
        for box, value in zip(self.eyes, self._fill, strict=True):
            frame[_box(box)] = value
        self.frames.append(frame)
        j, k = len(self.frames) - 1, self.k
        if j >= k:
            flow = self.engine(self.frames[j - k], frame)
            self._ring.append(self.blocks.vectors(flow, self.head_motion))
            if j >= 2 * k:  # ring[0] is flow(i-k -> i), ring[-1] is flow(i -> i+k), i = j-k
                self.rows.append(np.hypot(*((self._ring[0] - self._ring[-1]) / 2).T))

    def values(self) -> np.ndarray:
        """(m, nblocks) contrast of every averaged frame; 0 within k of either end."""
        m, k = len(self.frames), self.k
        out = np.zeros((m, self.blocks.counts.size), np.float32)
        if self.rows:
            out[k : k + len(self.rows)] = self.rows
        return out


def _box(box: tuple[int, int, int, int]) -> tuple[slice, slice]:
    x, y, w, h = box
    return slice(max(0, y), y + h), slice(max(0, x), x + w)


def _curve(
    block_values: np.ndarray, k: int, usable: np.ndarray, top_n: int, normalise: bool = True
) -> np.ndarray:
    m = len(block_values)
    inner = block_values[k : m - k] if m > 2 * k else block_values
    med = np.median(inner, axis=0)
    # Each block in units of its own noise: textureless or hair blocks are noisier and
    # would otherwise win the top-N ranking on noise alone.
    mad = np.maximum(np.median(np.abs(inner - med), axis=0), 1e-6) if normalise else 1.0
    v = (block_values - med) / mad
    v[:, ~usable] = -np.inf
    ranked = np.sort(v, axis=1)
    curve = np.full(m, -np.inf)
    for n in sorted({1, 2, min(top_n, int(usable.sum()))}):
        c = ranked[:, -n:].mean(axis=1)
        ci = c[k : m - k] if m > 2 * k else c
        cm = float(np.median(ci))
        curve = np.maximum(curve, (c - cm) / max(float(np.median(np.abs(ci - cm))), 1e-6))
    curve[:k] = 0.0
    curve[max(k, m - k) :] = 0.0
    return curve


def _threshold(curve: np.ndarray, k: int, p: float, z: float) -> tuple[float, float, float]:
    """(threshold, median, MAD) of a curve over its defined part."""
    c = curve[k : len(curve) - k]
    if c.size == 0:
        return np.inf, 0.0, 1.0
    med = float(np.median(c))
    mad = max(float(np.median(np.abs(c - med))) * 1.4826, 1e-6)
    mean, top = float(c.mean()), float(c.max())
    return max(mean + p * (top - mean), med + z * mad), med, mad


class _Profile:
    """Displacement of the chosen blocks between the apex and frames on one side, computed
    lazily: a boundary is usually found long before the search window ends."""

    def __init__(
        self,
        frames: np.ndarray,
        cand: _Candidate,
        step: int,
        steps: int,
        blocks: RegionPool,
        engine: FlowEngine,
        head_motion: bool,
    ) -> None:
        self.frames, self.cand, self.step, self.n = frames, cand, step, steps
        self.blocks, self.engine, self.head_motion = blocks, engine, head_motion
        self._raw: list[float] = [0.0]  # no displacement at the apex itself

    def raw(self, s: int) -> float:
        """|displacement| s steps from the apex (0 <= s < n)."""
        while len(self._raw) <= s:
            j = self.cand.apex + self.step * len(self._raw)
            flow = self.engine(self.frames[self.cand.apex], self.frames[j])
            vec = self.blocks.vectors(flow, self.head_motion)[self.cand.blocks]
            self._raw.append(float(np.hypot(vec[:, 0], vec[:, 1]).mean()))
        return self._raw[s]

    def smooth(self, s: int) -> float:
        """3-step moving average (fewer steps at the ends)."""
        lo, hi = max(0, s - 1), min(self.n - 1, s + 1)
        return sum(self.raw(i) for i in range(lo, hi + 1)) / (hi - lo + 1)


def _boundary(profile: _Profile, q: float, floor: float, min_lookahead: int,
              noise: float) -> tuple[int, float]:
    """Steps from the apex to the plateau of displacement, and the plateau's level.

    The plateau starts at the first step s whose displacement is (1 - q) of the largest one
    within the next max(min_lookahead, s) steps: the rise has ended there. Looking ahead as
    far as we have come makes the rule scale-free (a slow macro rise stops at the same
    relative point as a fast micro one), and a global maximum would be pulled away by the
    next expression or by slow drift. Near the apex displacement is ~0 and flat, so nothing
    below `floor` counts as a plateau. Within `noise` of the largest counts as reached too
    (a faint expression's plateau is as noisy as it is high).
    """
    n = profile.n
    for s in range(1, n):
        level = profile.smooth(s)
        if level < floor:
            continue
        ahead = max(profile.smooth(t) for t in range(s, min(n, s + max(min_lookahead, s) + 1)))
        if level >= ahead - max(q * ahead, noise):
            return s, level
    return n - 1, profile.smooth(n - 1) if n > 1 else 0.0


def _estimate_interval(
    frames: np.ndarray,
    cand: _Candidate,
    window: int,
    floor: float,
    rate: float,
    blocks: RegionPool,
    engine: FlowEngine,
    params: SpotParams,
) -> bool:
    """Set the candidate's onset and offset; False when it is not an apex at all."""
    m = len(frames)
    lookahead = max(2, round(params.lookahead * rate))
    profiles = [
        _Profile(frames, cand, step, steps, blocks, engine, params.head_motion)
        for step, steps in ((-1, min(window, cand.apex) + 1),
                            (1, min(window, m - 1 - cand.apex) + 1))
    ]
    sides = [_boundary(p, params.boundary, floor, lookahead, cand.noise) for p in profiles]
    (back, level_before), (ahead, level_after) = sides
    cand.onset, cand.offset = cand.apex - back, cand.apex + ahead
    # A boundary is where the face reaches a lasting state (the neutral face), not a bump
    # such as an earlier expression seen from its echo: the level holds for as far again.
    if not all(_holds(p, b, lv * params.symmetry) for p, (b, lv) in zip(profiles, sides,
                                                                         strict=True)):
        return False
    # At an apex the face differs from the neutral face on both sides by about the same.
    # The magnitude contrast also peaks one scale before and after a short expression
    # (there frame i is neutral and i+k or i-k is the apex): then one side stays flat.
    level = params.symmetry * max(level_before, level_after)
    if min(level_before, level_after) >= level:
        return True
    # Or the apex starts a plateau: the face rose from a neutral face and is held (a long
    # smile), possibly until the clip (or the run of frames with a face) ends, as in a clip
    # cut mid-expression.
    if level_before < floor or level_after >= level:
        return False
    cand.offset = _plateau_end(frames, cand, level, lookahead, blocks, engine, params)
    cand.held = cand.offset == m - 1
    return True


def _holds(profile: _Profile, s: int, level: float) -> bool:
    """True when the displacement stays at or above `level` from step s for as many steps
    again (within the profile's reach)."""
    return all(profile.smooth(t) >= level for t in range(s, min(2 * s + 1, profile.n)))


def _plateau_end(frames: np.ndarray, cand: _Candidate, level: float, stride: int,
                 blocks: RegionPool, engine: FlowEngine, params: SpotParams) -> int:
    """The first frame after the apex (checked every `stride`) whose face is back within
    `level` of the neutral face at the onset; the clip's last frame when none is."""
    m = len(frames)
    for j in [*range(cand.apex + stride, m - 1, stride), m - 1]:
        flow = engine(frames[cand.onset], frames[j])
        vec = blocks.vectors(flow, params.head_motion)[cand.blocks]
        if float(np.hypot(vec[:, 0], vec[:, 1]).mean()) < level:
            return j
    return m - 1


def _overlaps(a: _Candidate, b: _Candidate) -> bool:
    return a.onset <= b.offset and b.onset <= a.offset


def _resolve(cands: list[_Candidate], max_micro_frames: float) -> list[tuple[_Candidate, str]]:
    """Classify by length; drop duplicates and micro candidates inside macro intervals."""
    macro = [c for c in cands if c.offset - c.onset > max_micro_frames]
    micro = [c for c in cands if c.offset - c.onset <= max_micro_frames]
    # A long interval that mostly coincides with a short one from the micro scale is the same
    # expression timed coarsely (an ME near 0.5 s can come out just above it at the macro
    # scale's lower rate): the micro scale's finer timing wins.
    fine = [(o.onset, o.offset) for o in micro if o.scale == "micro"]
    macro = [c for c in macro if not any(frame_iou((c.onset, c.offset), o) >= 0.5 for o in fine)]
    # The macro scale measures long intervals best, the micro scale short ones.
    macro.sort(key=lambda c: (c.scale != "macro", -c.score))
    micro.sort(key=lambda c: (c.scale != "micro", -c.score))
    kept_macro: list[_Candidate] = []
    for c in macro:
        if not any(_overlaps(c, o) for o in kept_macro):
            kept_macro.append(c)
    kept_micro: list[_Candidate] = []
    for c in micro:
        inside = any(o.onset <= c.apex <= o.offset for o in kept_macro)
        if not inside and not any(_overlaps(c, o) for o in kept_micro):
            kept_micro.append(c)
    out = [(c, "macro") for c in kept_macro] + [(c, "micro") for c in kept_micro]
    return sorted(out, key=lambda t: t[0].apex)


class Spotter:
    """Spotting fed block by block (e.g. while a clip is read), finished once at the end."""

    def __init__(
        self,
        fps: float,
        params: SpotParams | None = None,
        layout: FaceLayout | None = None,
        size: int | None = None,
    ) -> None:
        self.fps = fps
        self.params = params = params or SpotParams()
        size = size or (layout.size if layout is not None else 128)
        self.size = size
        valid, eyes = valid_mask(size, layout, params.mask_eyes)
        boxes = layout.rois if layout is not None else grid_boxes(size, params.block)
        self.blocks = RegionPool(valid, boxes)
        self.engine = FlowEngine(params.flow)
        self.n = 0
        self.tracks = []
        for scale, rate, interval in (
            ("micro", params.analysis_fps, params.micro_interval),
            ("macro", params.macro_fps, params.macro_interval),
        ):
            group = max(1, round(fps / rate))
            k = max(1, round(interval / 2 * fps / group))
            self.tracks.append(
                _Track(scale, group, k, eyes, self.blocks, self.engine, params.head_motion)
            )

    def push(self, crops: np.ndarray) -> None:
        """Add the next crops (n, size, size) uint8 of the clip, in order."""
        if crops.ndim != 3 or crops.dtype != np.uint8 or crops.shape[1:] != (self.size,) * 2:
            raise ValueError(
                f"expected uint8 (n, {self.size}, {self.size}) crops, got {crops.dtype} "
                f"{crops.shape}"
            )
        for crop in crops:
            for track in self.tracks:
                track.push(crop)
        self.n += len(crops)

    def finish(self, sensitive: bool = False) -> list[SpottedInterval]:
        """Intervals of both scales, micro vs macro, in apex order.

        sensitive=True adds the sensitive tier (confident=False): micro candidates between
        the z_sensitive floor and the threshold that overlap no confident interval.
        """
        cands: list[_Candidate] = []
        for track in self.tracks:
            cands += self._candidates(track, sensitive)
        max_frames = self.params.max_micro * self.fps
        confident = _resolve([c for c in cands if c.confident], max_frames)
        extra = [
            (c, kind)
            for c, kind in (_resolve(cands, max_frames) if sensitive else [])
            if not c.confident and kind == "micro"
            and not any(_overlaps(c, o) for o, _ in confident)
        ]
        return [
            SpottedInterval(c.onset, c.apex, c.offset, c.score, kind, c.confident)
            for c, kind in sorted(confident + extra, key=lambda t: t[0].apex)
        ]

    def curve(self, scale: str = "micro") -> SpotCurve | None:
        """The curve and threshold of one scale ("micro" or "macro"), None when too short."""
        track = next(t for t in self.tracks if t.scale == scale)
        k = track.k
        if len(track.frames) <= 2 * k + 2:
            return None
        curve = _curve(track.values(), k, self.blocks.usable, self.params.top_n,
                       self.params.normalise)
        thr, med, mad = _threshold(curve, k, self.params.p, self.params.z)
        frames = np.arange(len(curve)) * track.group + (track.group - 1) / 2
        return SpotCurve(frames, (curve - med) / mad, (thr - med) / mad)

    def _candidates(self, track: _Track, sensitive: bool) -> list[_Candidate]:
        params, k = self.params, track.k
        frames = np.asarray(track.frames)
        if len(frames) <= 2 * k + 2:
            return []
        rate = self.fps / track.group
        values = track.values()
        curve = _curve(values, k, self.blocks.usable, params.top_n, params.normalise)
        thr, med, mad = _threshold(curve, k, params.p, params.z)
        # Lower peaks never suppress higher ones (find_peaks' distance rule keeps the higher),
        # so the confident candidates are the same with or without the sensitive tier.
        low = _threshold(curve, k, params.p, min(params.z, params.z_sensitive))[0] if (
            sensitive) else thr
        peaks, _ = find_peaks(curve, height=min(thr, low), distance=max(1, k))
        interval = params.micro_interval if track.scale == "micro" else params.macro_interval
        window = max(2, round(params.search * interval * rate))
        centre = (track.group - 1) / 2  # an averaged frame stands for the middle of its group
        out = []
        for i in peaks:
            v = np.where(self.blocks.usable, values[i], -np.inf)
            chosen = np.argsort(v)[-params.top_n :]
            cand = _Candidate(
                int(i), track.scale, (float(curve[i]) - med) / mad, chosen, bool(curve[i] >= thr),
                noise=float(np.median(values[k : len(values) - k, chosen], axis=0).mean()),
            )
            # The apex's contrast (displacement against frames i-k and i+k) is about the
            # plateau height for an expression that fits in the scale: a third of it marks
            # the displacement the boundary search must at least reach.
            floor = float(values[i][chosen].mean()) / 3
            if _estimate_interval(
                frames, cand, window, floor, rate, self.blocks, self.engine, params
            ):
                for name in ("onset", "apex", "offset"):
                    j = getattr(cand, name)
                    setattr(cand, name, min(self.n - 1, round(j * track.group + centre)))
                if cand.held:
                    cand.offset = self.n - 1
                out.append(cand)
        return out


def spot(
    crops: np.ndarray,
    fps: float,
    params: SpotParams | None = None,
    layout: FaceLayout | None = None,
    sensitive: bool = False,
) -> list[SpottedInterval]:
    """Spot micro- and macro-expressions in a clip of aligned face crops (n, h, w) uint8."""
    if crops.ndim != 3 or crops.dtype != np.uint8 or crops.shape[1] != crops.shape[2]:
        raise ValueError(f"expected uint8 (n, size, size) crops, got {crops.dtype} {crops.shape}")
    spotter = Spotter(fps, params, layout, crops.shape[1])
    spotter.push(crops)
    return spotter.finish(sensitive)
