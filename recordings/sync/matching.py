"""Matching a device's edges to the box's edges (docs/sync.md, "Matching edges to the box's log").

coarse_lag finds the device's delivery delay from host receipt times (clock-free), coarse_pairs
pairs edges by receipt time minus that delay, and fine_pairs pairs them by device time against
a line through the coarse pairs. A device edge and a box edge are compatible when the device
could have seen that box code (same_code, line_mask).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import maximum_filter1d

from core.codes import SYNC_CODE
from recordings.sync.edges import Edges
from recordings.sync.robust_fit import robust_scale

LAG_RANGE_S = (-0.05, 10.0)  # host receipt minus edge time: samples arrive after the edge

CodeTest = Callable[[int, np.ndarray], np.ndarray]


def same_code(device_code: int, ref_codes: np.ndarray) -> np.ndarray:
    """A device that reads the full code: the box edge must carry it (unknown: any edge)."""
    return ref_codes == device_code if device_code >= 0 else np.ones(len(ref_codes), bool)


def line_mask(mask: int) -> CodeTest:
    """A device wired to some lines only (camera: line 8): box edges with one of them high."""
    def test(_device_code: int, ref_codes: np.ndarray) -> np.ndarray:
        return (ref_codes & mask) != 0
    return test


def _groups(edges: Edges, ref_code: np.ndarray, compatible: CodeTest
            ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(device edge indices, compatible reference indices) per distinct device code."""
    out = []
    for code in np.unique(edges.code):
        dev = np.flatnonzero(edges.code == code)
        ref = np.flatnonzero(compatible(int(code), ref_code))
        if len(ref):
            out.append((dev, ref))
    return out


def coarse_lag(edges: Edges, ref_t: np.ndarray, ref_code: np.ndarray,
               compatible: CodeTest) -> tuple[float, float]:
    """Host-receipt delay of a device's edges after the box edges (mode of all pairings).

    Returns (lag, spread): every pairing of a device edge with a compatible box edge whose
    time difference is in LAG_RANGE_S votes; true pairs pile up at the device's delivery delay.
    Pulses with a distinct code (anything but the periodic sync train) vote alone when there
    are enough of them: a periodic train also piles up at lag + k periods. Of peaks with at
    least half the top count the earliest is taken (a device seeing only the train, like the
    camera, must deliver within one sync period).
    """
    lo_lag, hi_lag = LAG_RANGE_S
    votes: dict[bool, list[np.ndarray]] = {True: [], False: []}
    distinct_edges = 0
    for dev, ref in _groups(edges, ref_code, compatible):
        order = np.argsort(ref_t[ref])
        r = ref_t[ref][order]
        periodic = bool(np.all(ref_code[ref] == SYNC_CODE))
        distinct_edges += 0 if periodic or edges.code[dev[0]] < 0 else len(dev)
        h = edges.host[dev]
        first = np.searchsorted(r, h - hi_lag)
        last = np.searchsorted(r, h - lo_lag, side="right")
        count = last - first
        if count.sum() == 0:
            continue
        which = np.repeat(np.arange(len(dev)), count)
        offs = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        votes[periodic or edges.code[dev[0]] < 0].append(h[which] - r[first[which] + offs])
    chosen = votes[False] if distinct_edges >= 3 and votes[False] else votes[True] + votes[False]
    if not chosen:
        return float("nan"), float("nan")
    d = np.concatenate(chosen)
    bins = np.arange(lo_lag, hi_lag + 0.002, 0.002)
    hist = np.histogram(d, bins)[0].astype(float)
    smooth = np.convolve(hist, np.ones(25), mode="same")  # 50 ms window
    local_max = smooth == maximum_filter1d(smooth, 101, mode="constant")
    strong = np.flatnonzero(local_max & (smooth >= 0.5 * smooth.max()))
    peak = bins[int(strong[0])] + 0.001
    near = d[np.abs(d - peak) < 0.05]
    lag = float(np.median(near))
    near = d[np.abs(d - lag) < 0.05]
    return lag, robust_scale(near, 1e-3)


def nearest_pairs(values: np.ndarray, dev_idx: np.ndarray, targets: np.ndarray,
                  ref_idx: np.ndarray, tol: float, unique: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each value, the nearest target within tol: (device index, reference index, diff).

    unique: only values with exactly one target within tol (no second candidate to confuse).
    """
    if len(targets) == 0 or len(values) == 0:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    order = np.argsort(targets)
    t = targets[order]
    pos = np.searchsorted(t, values)
    left = np.clip(pos - 1, 0, len(t) - 1)
    right = np.clip(pos, 0, len(t) - 1)
    pick = np.where(np.abs(t[left] - values) <= np.abs(t[right] - values), left, right)
    diff = values - t[pick]
    ok = np.abs(diff) <= tol
    if unique:
        ok &= np.searchsorted(t, values + tol, "right") - np.searchsorted(t, values - tol) == 1
    return dev_idx[ok], ref_idx[order[pick[ok]]], diff[ok]


def one_to_one(dev: np.ndarray, ref: np.ndarray, diff: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Keep, for every reference edge claimed more than once, the closest device edge."""
    order = np.lexsort((np.abs(diff), ref))
    dev, ref = dev[order], ref[order]
    keep = np.concatenate(([True], ref[1:] != ref[:-1])) if len(ref) else np.zeros(0, bool)
    dev, ref = dev[keep], ref[keep]
    order = np.argsort(dev)
    return dev[order], ref[order]


def _pairs_by(dev_times: np.ndarray, edges: Edges, ref_times: np.ndarray, ref_code: np.ndarray,
              compatible: CodeTest, tol: float, unique: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one nearest pairs of compatible codes between two timelines within tol."""
    devs, refs, diffs = [], [], []
    for dev, ref in _groups(edges, ref_code, compatible):
        d, r, x = nearest_pairs(dev_times[dev], dev, ref_times[ref], ref, tol, unique)
        devs.append(d)
        refs.append(r)
        diffs.append(x)
    if not devs:
        z = np.zeros(0, np.int64)
        return z, z
    return one_to_one(np.concatenate(devs), np.concatenate(refs), np.concatenate(diffs))


def coarse_pairs(edges: Edges, ref_t: np.ndarray, ref_code: np.ndarray, compatible: CodeTest,
                 lag: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Pair edges by host receipt time minus the lag (clock-free, so resets do not matter).

    Host receipt is tens of ms uncertain: an edge with two compatible box edges within tol
    (the same code queued twice, 20 ms apart) is left to the fine pairing on device time,
    else a wrong pair here would look like a clock step and split the fit.
    """
    return _pairs_by(edges.host - lag, edges, ref_t, ref_code, compatible, tol, unique=True)


def fine_pairs(edges: Edges, ref_t: np.ndarray, ref_code: np.ndarray, compatible: CodeTest,
               alpha: float, beta: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Pair edges by device time against the predicted device time of every box edge."""
    return _pairs_by(edges.mid, edges, alpha + beta * ref_t, ref_code, compatible, tol)
