"""Matching a device's edges to the box's edges (docs/sync.md, "Matching edges to the box's log").

coarse_lag finds the device's delivery delay from host receipt times (clock-free), coarse_pairs
pairs edges by receipt time minus that delay, and fine_pairs pairs them by device time against
a line through the coarse pairs. A device edge and a box edge are compatible when the device
could have seen that box code (same_code, line_mask).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d

from core.codes import SYNC_CODE
from recordings.sync.edges import Edges
from recordings.sync.robust_fit import robust_scale

LAG_RANGE_S = (-0.05, 10.0)  # host receipt minus edge time: samples arrive after the edge
LAG_BIN_S = 0.002  # histogram bin of the delay votes
NO_CODE = -999  # the code given to box edges without a session time: compatible with none
NO_TIME = -1e300  # ... and their time: far from every device edge

# (device code, box codes) -> which box edges the device could have seen as that code.
CodeTest = Callable[[int, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BoxEdges:
    """The box log's edges as matching sees them: session time and code of every row."""

    times: np.ndarray  # float64 session time (NO_TIME where the box map has none)
    codes: np.ndarray  # int64 code (NO_CODE where the box map has no time)

    @classmethod
    def known(cls, session_times: np.ndarray, codes: np.ndarray) -> BoxEdges:
        """Rows without a session time (NaN) made impossible to pair."""
        valid = np.isfinite(session_times)
        return cls(np.where(valid, session_times, NO_TIME), np.where(valid, codes, NO_CODE))


@dataclass(frozen=True)
class EdgePairs:
    """Device edges paired with box edges, in device-edge order."""

    device: np.ndarray  # int64 index into the device's Edges
    box: np.ndarray  # int64 box-log row

    def select(self, mask: np.ndarray) -> EdgePairs:
        """The pairs where mask is True."""
        return EdgePairs(self.device[mask], self.box[mask])

    @classmethod
    def none(cls) -> EdgePairs:
        """No pairs."""
        empty = np.zeros(0, np.int64)
        return cls(empty, empty)


@dataclass(frozen=True)
class DeliveryLag:
    """How long after a box edge the host receives the device's sample showing it."""

    delay: float  # s, NaN when no pairing voted
    spread: float  # s, robust scale of the votes near the delay


def same_code(device_code: int, box_codes: np.ndarray) -> np.ndarray:
    """A device that reads the full code: the box edge must carry it (unknown: any edge)."""
    return box_codes == device_code if device_code >= 0 else np.ones(len(box_codes), bool)


def low_lines(count: int) -> CodeTest:
    """A device with single-line channels for box lines 1..count: the code's bits there."""
    mask = (1 << count) - 1

    def test(device_code: int, box_codes: np.ndarray) -> np.ndarray:
        seen = box_codes & mask
        return seen == device_code if device_code >= 0 else seen != 0
    return test


def line_mask(mask: int) -> CodeTest:
    """A device wired to some lines only (camera: line 8): box edges with one of them high."""
    def test(_device_code: int, box_codes: np.ndarray) -> np.ndarray:
        return (box_codes & mask) != 0
    return test


def _code_groups(edges: Edges, box: BoxEdges, compatible: CodeTest
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(device edge indices, compatible box rows) per distinct device code."""
    groups = []
    for code in np.unique(edges.code):
        device = np.flatnonzero(edges.code == code)
        rows = np.flatnonzero(compatible(int(code), box.codes))
        if len(rows):
            groups.append((device, rows))
    return groups


def coarse_lag(edges: Edges, box: BoxEdges, compatible: CodeTest) -> DeliveryLag:
    """Host-receipt delay of a device's edges after the box edges (mode of all pairings).

    Every pairing of a device edge with a compatible box edge whose time difference is in
    LAG_RANGE_S votes; true pairs pile up at the device's delivery delay. Pulses with a
    distinct code (anything but the periodic sync train) vote alone when there are enough of
    them: a periodic train also piles up at lag + k periods. Of peaks with at least half the
    top count the earliest is taken (a device seeing only the train, like the camera, must
    deliver within one sync period).
    """
    distinct_votes, ambiguous_votes, distinct_edges = [], [], 0
    for device, rows in _code_groups(edges, box, compatible):
        # The periodic train, or a device that cannot tell codes apart, votes for every period.
        ambiguous = bool(np.all(box.codes[rows] == SYNC_CODE)) or edges.code[device[0]] < 0
        distinct_edges += 0 if ambiguous else len(device)
        votes = _delay_votes(edges.host[device], np.sort(box.times[rows]))
        if len(votes):
            (ambiguous_votes if ambiguous else distinct_votes).append(votes)
    if distinct_edges >= 3 and distinct_votes:
        chosen = distinct_votes
    else:
        chosen = ambiguous_votes + distinct_votes
    if not chosen:
        return DeliveryLag(float("nan"), float("nan"))
    return _earliest_strong_peak(np.concatenate(chosen))


def _delay_votes(receipt: np.ndarray, box_times: np.ndarray) -> np.ndarray:
    """Receipt minus box time of every pairing within LAG_RANGE_S (box_times sorted)."""
    first = np.searchsorted(box_times, receipt - LAG_RANGE_S[1])
    last = np.searchsorted(box_times, receipt - LAG_RANGE_S[0], side="right")
    count = last - first
    which = np.repeat(np.arange(len(receipt)), count)
    within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return receipt[which] - box_times[first[which] + within]


def _earliest_strong_peak(votes: np.ndarray) -> DeliveryLag:
    """The earliest histogram peak of the votes with at least half the top count."""
    bins = np.arange(LAG_RANGE_S[0], LAG_RANGE_S[1] + LAG_BIN_S, LAG_BIN_S)
    hist = np.histogram(votes, bins)[0].astype(float)
    smooth = np.convolve(hist, np.ones(25), mode="same")  # 50 ms window
    local_max = smooth == maximum_filter1d(smooth, 101, mode="constant")
    strong = np.flatnonzero(local_max & (smooth >= 0.5 * smooth.max()))
    peak = bins[int(strong[0])] + LAG_BIN_S / 2
    delay = float(np.median(votes[np.abs(votes - peak) < 0.05]))
    return DeliveryLag(delay, robust_scale(votes[np.abs(votes - delay) < 0.05], 1e-3))


def nearest_pairs(device_times: np.ndarray, device_index: np.ndarray, box_times: np.ndarray,
                  box_rows: np.ndarray, tolerance: float, unique: bool = False
                  ) -> tuple[EdgePairs, np.ndarray]:
    """For each device time, the nearest box time within tolerance: the pairs and their gaps.

    unique: only device times with exactly one box time within tolerance (no second candidate
    to confuse).
    """
    if len(box_times) == 0 or len(device_times) == 0:
        return EdgePairs.none(), np.zeros(0)
    order = np.argsort(box_times)
    ordered = box_times[order]
    pos = np.searchsorted(ordered, device_times)
    left = np.clip(pos - 1, 0, len(ordered) - 1)
    right = np.clip(pos, 0, len(ordered) - 1)
    nearer_left = np.abs(ordered[left] - device_times) <= np.abs(ordered[right] - device_times)
    pick = np.where(nearer_left, left, right)
    gap = device_times - ordered[pick]
    ok = np.abs(gap) <= tolerance
    if unique:
        ok &= (np.searchsorted(ordered, device_times + tolerance, "right")
               - np.searchsorted(ordered, device_times - tolerance)) == 1
    return EdgePairs(device_index[ok], box_rows[order[pick[ok]]]), gap[ok]


def one_to_one(pairs: EdgePairs, gap: np.ndarray) -> EdgePairs:
    """Keep, for every box edge claimed more than once, the device edge with the smallest gap."""
    order = np.lexsort((np.abs(gap), pairs.box))
    device, box = pairs.device[order], pairs.box[order]
    keep = np.concatenate(([True], box[1:] != box[:-1])) if len(box) else np.zeros(0, bool)
    device, box = device[keep], box[keep]
    order = np.argsort(device)
    return EdgePairs(device[order], box[order])


def _pairs_by(device_times: np.ndarray, edges: Edges, box_times: np.ndarray, box: BoxEdges,
              compatible: CodeTest, tolerance: float, unique: bool = False) -> EdgePairs:
    """One-to-one nearest pairs of compatible codes between two timelines within tolerance."""
    found = [nearest_pairs(device_times[device], device, box_times[rows], rows, tolerance,
                           unique)
             for device, rows in _code_groups(edges, box, compatible)]
    if not found:
        return EdgePairs.none()
    return one_to_one(EdgePairs(np.concatenate([p.device for p, _ in found]),
                                np.concatenate([p.box for p, _ in found])),
                      np.concatenate([gap for _, gap in found]))


def coarse_pairs(edges: Edges, box: BoxEdges, compatible: CodeTest, delay: float,
                 tolerance: float) -> EdgePairs:
    """Pair edges by host receipt time minus the delay (clock-free, so resets do not matter).

    Host receipt is tens of ms uncertain: an edge with two compatible box edges within
    tolerance (the same code queued twice, 20 ms apart) is left to the fine pairing on device
    time, else a wrong pair here would look like a clock step and split the fit.
    """
    return _pairs_by(edges.host - delay, edges, box.times, box, compatible, tolerance,
                     unique=True)


def fine_pairs(edges: Edges, box: BoxEdges, compatible: CodeTest, intercept: float,
               slope: float, tolerance: float) -> EdgePairs:
    """Pair edges by device time against each box edge's predicted device time (a line)."""
    return _pairs_by(edges.mid, edges, intercept + slope * box.times, box, compatible,
                     tolerance)
