"""Micro- and macro-expression spotting in long clips (MMME 4.3), plus the Candidate Clip Filter.

Training-free, in the MEGC-baseline family, with optical flow as the feature:

1. Frames are averaged in groups to ~30 fps (150 fps sensor noise drops by sqrt(5); an ME
   still spans 6-15 frames), and the eye openings are filled with a constant so a blink
   gives no flow (blinks last ~150 ms, exactly like an ME, and move ~10x more).
2. For each frame i and scale k: the face's displacement at i against the mean of frames
   i-k and i+k, i.e. (flow(i-k -> i) - flow(i -> i+k)) / 2. It is largest at an apex whose
   expression fits between i-k and i+k (k = half the typical interval: 0.2 s micro,
   0.65 s macro), and slow head drift cancels. The median vector (rigid head motion) is
   subtracted, vectors are averaged per facial block (6x6 grid), each block's magnitude has
   its clip median removed (the noise floor), and the mean of the top-N blocks is the curve.
3. Peaks above max(mean + p*(max - mean), median + z*MAD) of the clip's curve are
   candidates (the MEGC rule, with a noise floor so that a clip without expressions does
   not call its noise maximum an expression, and a small p so that one macro-expression
   does not hide the micro ones).
4. Each candidate's onset and offset come from the displacement relative to its apex frame:
   walking away from the apex, it rises to a plateau (the neutral face); the boundary is
   where it reaches (1 - q) of the plateau. Micro vs macro is by length (<= 0.5 s: MMME 3.4);
   micro candidates inside a macro interval are its rise or fall and are dropped.

Farneback beat DIS on these crops: on simulated 640x480 clips (micro intensity 2.4-5.6 px
at a 600 px face, ~0.5-1.2 px on the crop) the median ratio of ME peak to the noise maximum
was 2.9 (DIS ultrafast), 1.5 (DIS fast), 2.3 (DIS medium) and 7-10 (Farneback).
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
from scipy.signal import find_peaks

from analysis.face import _EYE_PRIOR, _EYE_PRIOR_SIZE, _EYE_SPAN, FaceCrop
from analysis.flow import FlowEngine

KINDS = ("micro", "macro")
MICRO_MAX_SECONDS = 0.5  # MMME 3.4: an ME lasts <= 500 ms onset -> offset


@dataclass(frozen=True)
class SpotParams:
    """Spotting settings; times in seconds, sizes in crop pixels."""

    analysis_fps: float = 30.0  # frames are averaged in groups down to about this rate
    micro_interval: float = 0.4  # typical ME length: its half is the micro scale k
    macro_interval: float = 1.3  # typical macro-expression length: its half is the macro k
    max_micro: float = MICRO_MAX_SECONDS  # longer intervals are macro-expressions
    block: int = 21  # facial block side (21 px on 128: a 6x6 grid)
    top_n: int = 4  # blocks averaged into the curve (an AU moves 1-4 blocks)
    p: float = 0.05  # MEGC threshold: mean + p * (max - mean)
    z: float = 8.0  # noise floor of the threshold: median + z * MAD
    boundary: float = 0.2  # onset/offset where displacement reaches (1 - boundary) of plateau
    search: float = 1.5  # boundary search window, in intervals of the candidate's scale
    symmetry: float = 0.5  # an apex differs from both sides' neutral face by >= this ratio
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

    def seconds(self, fps: float) -> tuple[float, float, float]:
        """(onset, apex, offset) in seconds from the clip's first frame."""
        return self.onset / fps, self.apex / fps, self.offset / fps


@dataclass
class _Candidate:
    apex: int  # analysis-frame index
    scale: str
    score: float
    blocks: np.ndarray  # indices of the blocks that moved most at the apex
    onset: int = 0
    offset: int = 0


def bin_frames(crops: np.ndarray, group: int) -> np.ndarray:
    """Average consecutive groups of frames (n, h, w) uint8 -> (n // group, h, w) uint8."""
    if group <= 1:
        return np.ascontiguousarray(crops)
    m = len(crops) // group
    out = np.empty((m, *crops.shape[1:]), np.uint8)
    for j in range(m):  # per group: no float copy of the whole clip
        out[j] = np.rint(crops[j * group : (j + 1) * group].mean(axis=0, dtype=np.float32))
    return out


def default_eye_boxes(size: int) -> tuple[tuple[int, int, int, int], ...]:
    """Eye boxes for a crop made from a Haar face box when no FaceCrop is at hand."""
    side = _EYE_PRIOR_SIZE * size
    out = []
    for cx, cy in _EYE_PRIOR:
        hw, hh = _EYE_SPAN[0] * side / 2, _EYE_SPAN[1] * side / 2
        x0, y0 = int(cx * size - hw), int(cy * size - hh)
        out.append((x0, y0, int(2 * hw) + 1, int(2 * hh) + 1))
    return tuple(out)


class _Blocks:
    """Block pooling of flow fields over the valid (face, not eye) pixels."""

    def __init__(self, valid: np.ndarray, block: int) -> None:
        h, w = valid.shape
        self.valid = valid
        self.block = block
        ny, nx = h // block, w // block
        oy, ox = (h - ny * block) // 2, (w - nx * block) // 2  # centre the grid
        self.window = (slice(oy, oy + ny * block), slice(ox, ox + nx * block))
        self.shape = (ny, block, nx, block)
        counts = valid[self.window].reshape(self.shape).sum(axis=(1, 3)).reshape(-1)
        self.counts = np.maximum(counts, 1).astype(np.float32)
        # Blocks mostly outside the face (backdrop, eyes) carry no usable flow.
        self.usable = counts >= 0.3 * block * block

    def vectors(self, flow: np.ndarray, head_motion: bool) -> np.ndarray:
        """Mean flow vector per block (nblocks, 2) after removing the median (head) motion."""
        f = flow
        if head_motion:
            f = flow - np.median(flow[self.valid], axis=0)
        f = np.where(self.valid[..., None], f, 0.0)
        ny, b, nx, _ = self.shape
        sums = f[self.window].reshape(ny, b, nx, b, 2).sum(axis=(1, 3)).reshape(-1, 2)
        return sums / self.counts[:, None]


def _valid_mask(size: int, face: FaceCrop | None, mask_eyes: bool) -> tuple[np.ndarray, tuple]:
    valid = np.ones((size, size), bool)
    if face is not None and face.foreground is not None:
        valid &= face.foreground
    eyes = (face.eyes if face is not None else default_eye_boxes(size)) if mask_eyes else ()
    for x, y, w, h in eyes:
        valid[max(0, y) : y + h, max(0, x) : x + w] = False
    return valid, eyes


def _fill_eyes(frames: np.ndarray, eyes: Sequence[tuple[int, int, int, int]]) -> None:
    """Paint the eye boxes a constant grey in place: no texture there, so no blink flow."""
    for x, y, w, h in eyes:
        sl = (slice(None), slice(max(0, y), y + h), slice(max(0, x), x + w))
        frames[sl] = np.uint8(np.median(frames[0][sl[1:]]))


def contrast_curve(
    frames: np.ndarray, k: int, blocks: _Blocks, engine: FlowEngine, head_motion: bool
) -> np.ndarray:
    """Per-block displacement magnitude at i against frames i-k and i+k -> (m, nblocks)."""
    m = len(frames)
    out = np.zeros((m, blocks.counts.size), np.float32)
    ring: collections.deque[np.ndarray] = collections.deque(maxlen=k + 1)
    for j in range(m - k):
        ring.append(blocks.vectors(engine(frames[j], frames[j + k]), head_motion))
        if j >= k:  # ring[0] is flow(j-k -> j), ring[-1] is flow(j -> j+k)
            out[j] = np.hypot(*((ring[0] - ring[-1]) / 2).T)
    return out


def _curve(block_values: np.ndarray, k: int, usable: np.ndarray, top_n: int) -> np.ndarray:
    m = len(block_values)
    inner = block_values[k : m - k] if m > 2 * k else block_values
    v = block_values - np.median(inner, axis=0)  # each block's own noise floor
    v[:, ~usable] = -np.inf
    n = min(top_n, int(usable.sum()))
    curve = np.sort(v, axis=1)[:, -n:].mean(axis=1)
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


def _displacement_profile(
    frames: np.ndarray,
    apex: int,
    lo: int,
    hi: int,
    blocks: _Blocks,
    chosen: np.ndarray,
    engine: FlowEngine,
    head_motion: bool,
) -> np.ndarray:
    """Mean |displacement| of the chosen blocks between the apex frame and each frame lo..hi."""
    out = np.zeros(hi - lo + 1, np.float32)
    for j in range(lo, hi + 1):
        if j != apex:
            vec = blocks.vectors(engine(frames[apex], frames[j]), head_motion)[chosen]
            out[j - lo] = float(np.hypot(vec[:, 0], vec[:, 1]).mean())
    return out


def _boundary(profile: np.ndarray, q: float, lookahead: int) -> tuple[int, float]:
    """Steps from the apex (profile[0]) to the plateau, and the plateau's level.

    The plateau starts at the first step whose displacement is (1 - q) of the largest one
    within the next `lookahead` steps: the rise has ended there. A global maximum would be
    pulled away by the next expression or by slow drift.
    """
    n = profile.size
    if n < 2:
        return max(0, n - 1), 0.0
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    smooth[0] = profile[0]
    ahead = np.array([smooth[s : s + lookahead + 1].max() for s in range(n)])
    # Near the apex both are ~0: demand a real displacement (a third of the window's
    # largest within reach) before calling anything a plateau.
    floor = smooth[: min(n, 2 * lookahead + 1)].max() / 3
    ok = (smooth >= (1.0 - q) * ahead) & (smooth >= floor)
    ok[0] = False
    s = int(np.argmax(ok)) if ok.any() else n - 1
    return s, float(smooth[s])


def _estimate_interval(
    frames: np.ndarray,
    cand: _Candidate,
    window: int,
    lookahead: int,
    blocks: _Blocks,
    engine: FlowEngine,
    params: SpotParams,
) -> bool:
    """Set the candidate's onset and offset; False when it is not an apex at all."""
    m = len(frames)
    lo, hi = max(0, cand.apex - window), min(m - 1, cand.apex + window)
    prof = _displacement_profile(
        frames, cand.apex, lo, hi, blocks, cand.blocks, engine, params.head_motion
    )
    a = cand.apex - lo
    back, level_before = _boundary(prof[a::-1], params.boundary, lookahead)
    ahead, level_after = _boundary(prof[a:], params.boundary, lookahead)
    cand.onset, cand.offset = cand.apex - back, cand.apex + ahead
    # At an apex the face differs from the neutral face on both sides by about the same.
    # The magnitude contrast also peaks one scale before and after a short expression
    # (there frame i is neutral and i+k or i-k is the apex): then one side stays flat.
    return min(level_before, level_after) >= params.symmetry * max(level_before, level_after)


def _overlaps(a: _Candidate, b: _Candidate) -> bool:
    return a.onset <= b.offset and b.onset <= a.offset


def _resolve(cands: list[_Candidate], max_micro_frames: float) -> list[tuple[_Candidate, str]]:
    """Classify by length; drop duplicates and micro candidates inside macro intervals."""
    macro = [c for c in cands if c.offset - c.onset > max_micro_frames]
    micro = [c for c in cands if c.offset - c.onset <= max_micro_frames]
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


def spot(
    crops: np.ndarray,
    fps: float,
    params: SpotParams | None = None,
    face: FaceCrop | None = None,
) -> list[SpottedInterval]:
    """Spot micro- and macro-expressions in a clip of grey face crops (n, h, w) uint8."""
    params = params or SpotParams()
    if crops.ndim != 3 or crops.dtype != np.uint8 or crops.shape[1] != crops.shape[2]:
        raise ValueError(f"expected uint8 (n, size, size) crops, got {crops.dtype} {crops.shape}")
    group = max(1, round(fps / params.analysis_fps))
    rate = fps / group
    frames = bin_frames(crops, group)
    valid, eyes = _valid_mask(crops.shape[1], face, params.mask_eyes)
    if eyes:
        frames = frames.copy() if frames is crops else frames
        _fill_eyes(frames, eyes)
    blocks = _Blocks(valid, params.block)
    engine = FlowEngine(params.flow)
    cands: list[_Candidate] = []
    for scale, interval in (("micro", params.micro_interval), ("macro", params.macro_interval)):
        k = max(1, round(interval / 2 * rate))
        if len(frames) <= 2 * k + 2:
            continue
        values = contrast_curve(frames, k, blocks, engine, params.head_motion)
        curve = _curve(values, k, blocks.usable, params.top_n)
        thr, med, mad = _threshold(curve, k, params.p, params.z)
        peaks, _ = find_peaks(curve, height=thr, distance=max(1, k))
        window = max(2, round(params.search * interval * rate))
        for i in peaks:
            v = np.where(blocks.usable, values[i], -np.inf)
            chosen = np.argsort(v)[-params.top_n :]
            cand = _Candidate(int(i), scale, (float(curve[i]) - med) / mad, chosen)
            if _estimate_interval(frames, cand, window, k, blocks, engine, params):
                cands.append(cand)
    max_micro_frames = params.max_micro * rate
    centre = (group - 1) / 2  # an averaged frame stands for the middle of its group

    def frame(j: int) -> int:
        return min(len(crops) - 1, round(j * group + centre))

    return [
        SpottedInterval(frame(c.onset), frame(c.apex), frame(c.offset), c.score, kind)
        for c, kind in _resolve(cands, max_micro_frames)
    ]


def hr_slope_at(times: np.ndarray, hr: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Heart-rate slope (bpm/s) of the series (times, hr), interpolated at times t."""
    times, hr = np.asarray(times, float), np.asarray(hr, float)
    slope = np.gradient(hr, times)
    return np.interp(np.asarray(t, float), times, slope)


def candidate_clip_filter(
    intervals: Sequence[SpottedInterval],
    fps: float,
    hr_times: np.ndarray,
    hr: np.ndarray,
    clip_start: float = 0.0,
    clip_end: float | None = None,
    kinds: Sequence[str] = ("micro",),
) -> list[SpottedInterval]:
    """MMME eq. 12: keep a candidate only if the HR slope at its apex exceeds the clip's mean.

    hr_times are on the same clock as clip_start (the time of the clip's frame 0); the mean
    slope is over the HR samples within the clip. Kinds not listed pass unfiltered.
    """
    times, rate = np.asarray(hr_times, float), np.asarray(hr, float)
    if times.size < 2:
        raise ValueError("need at least two heart-rate samples")
    slope = np.gradient(rate, times)
    end = clip_end if clip_end is not None else times[-1]
    inside = (times >= clip_start) & (times <= end)
    mean_slope = float(slope[inside].mean()) if inside.any() else float(slope.mean())
    out = []
    for iv in intervals:
        if iv.kind not in kinds:
            out.append(iv)
            continue
        v = float(np.interp(clip_start + iv.apex / fps, times, slope))
        if v > mean_slope:
            out.append(iv)
    return out


def with_kind(intervals: Sequence[SpottedInterval], kind: str) -> list[SpottedInterval]:
    """The intervals of one kind."""
    return [replace(iv) for iv in intervals if iv.kind == kind]
