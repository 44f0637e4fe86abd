"""Jitter removal (pyxdf's _jitter_removal): LSL timestamps made regular before edge detection.

See docs/sync.md, "Edges in each device's data".
"""

from __future__ import annotations

import itertools

import numpy as np

STAMP_STEP_S = 0.05  # dejitter: a lasting step of the stamps this large starts a new piece


def dejitter(device: np.ndarray, runs: list[tuple[int, int]], period: float,
             threshold_seconds: float = 1.0, threshold_samples: int = 500,
             force: bool = False) -> np.ndarray:
    """Timestamps made regular: pyxdf's jitter removal (least squares on the sample index).

    Within each run, pieces split where stamps jump by more than max(1 s, 500 samples) (pyxdf)
    or step away from the sample count by far more than their jitter (a restart or lost
    samples the stamps show) are replaced by their least-squares line on the sample index.
    Stamps that are already regular to 5 % of a sample (a hardware clock) are kept as they are
    unless force, so a dropped sample cannot shift the rest of a run.
    """
    out = np.array(device, dtype=np.float64, copy=True)
    limit = max(threshold_seconds, threshold_samples * period)
    for start, end in runs:
        stamps = out[start:end]  # a view: its pieces are regularized in place
        if len(stamps) < 3:
            continue
        for first, stop in itertools.pairwise(_piece_bounds(stamps, period, limit)):
            _regularize(stamps[first:stop], period, force)
    return out


def _piece_bounds(stamps: np.ndarray, period: float, limit: float) -> np.ndarray:
    """Where a run's stamps break into pieces: jumps beyond limit, and lasting steps."""
    breaks = list(np.flatnonzero(np.diff(stamps) > limit) + 1)
    # A step of the stamps against the sample count that persists (the median level of
    # the next half second differs from that of the last) is a break; jitter is not.
    level = stamps - np.arange(len(stamps)) * period
    window = max(50, round(0.5 / period))
    for step in np.flatnonzero(np.abs(np.diff(level)) > STAMP_STEP_S) + 1:
        before = np.median(level[max(0, step - window):step])
        after = np.median(level[step:step + window])
        if abs(after - before) > STAMP_STEP_S:
            breaks.append(int(step))
    return np.unique(np.concatenate(([0], breaks, [len(stamps)]))).astype(int)


def _regularize(piece: np.ndarray, period: float, force: bool) -> None:
    """Replace a piece's stamps by their line on the sample index if jittery (or if force)."""
    if len(piece) < 3:
        return
    k = np.arange(len(piece), dtype=np.float64)
    centred = k - k.mean()
    slope = float(np.dot(centred, piece - piece.mean()) / np.dot(centred, centred))
    line = piece.mean() + slope * centred
    rms = float(np.sqrt(np.mean((piece - line) ** 2)))
    if force or rms > 0.05 * period:
        piece[:] = line
