"""Optical flow and optical strain on face crops (MMME 4.2, eq. 4-5).

The paper used FlowNet 2.0; melab uses OpenCV so that nothing is downloaded. On the 128x128
crops of simulated micro-expressions (sub-pixel motion), Farneback with a wide window gave
3-7x the signal-to-noise ratio of DIS (figures in analysis/spotting.py's docstring), so it
is the default; the DIS presets are there for speed (0.1-0.3 ms against ~1.8 ms a pair).
"""

from __future__ import annotations

import cv2
import numpy as np

FLOW_METHODS = ("farneback", "dis_ultrafast", "dis_fast", "dis_medium")
FEATURES_PER_BLOCK = ("u", "v", "magnitude", "strain")
_DIS_PRESETS = {
    "dis_ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "dis_fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "dis_medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# Farneback settings for sub-pixel facial motion at 128x128: two pyramid levels are enough
# (motion is well under the coarsest level's reach) and the 21 px window averages sensor
# noise over roughly one AU-sized patch; measured ~1.8 ms per pair on one core.
_FARNEBACK = {
    "pyr_scale": 0.5,
    "levels": 2,
    "winsize": 21,
    "iterations": 2,
    "poly_n": 5,
    "poly_sigma": 1.2,
    "flags": 0,
}


_BORDER = 16  # px of mirrored margin around crops for the recognition flow


class FlowEngine:
    """Reusable optical-flow calculator (DIS objects are built once, not per frame pair)."""

    def __init__(self, method: str = "farneback") -> None:
        if method not in FLOW_METHODS:
            raise ValueError(f"unknown flow method {method!r}; use one of {FLOW_METHODS}")
        self.method = method
        self._dis = (
            cv2.DISOpticalFlow_create(_DIS_PRESETS[method]) if method != "farneback" else None
        )

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Flow (h, w, 2) float32 [u, v] such that prev(y, x) ~ nxt(y + v, x + u)."""
        if self._dis is not None:
            return self._dis.calc(prev, nxt, None)
        return cv2.calcOpticalFlowFarneback(prev, nxt, None, **_FARNEBACK)


def optical_flow(prev: np.ndarray, nxt: np.ndarray, method: str = "farneback") -> np.ndarray:
    """Dense optical flow (h, w, 2) float32 between two grey uint8 images."""
    return FlowEngine(method)(prev, nxt)


def remove_global_motion(flow: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Flow minus its median vector (over valid pixels): rigid head translation removed."""
    pixels = flow.reshape(-1, 2) if valid is None else flow[valid]
    # The median ignores the minority of pixels an expression moves; the mean would not.
    return flow - np.median(pixels, axis=0).astype(np.float32)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Optical strain magnitude (h, w) of a flow field, MMME eq. 5."""
    u, v = flow[..., 0], flow[..., 1]
    du_dy, du_dx = np.gradient(u)
    dv_dy, dv_dx = np.gradient(v)
    # Eq. 5 as printed: sqrt(ux^2 + vy^2 + (uy^2 + vx^2) / 2). The strain-tensor form
    # (Shreve et al.) has (uy + vx)^2 / 2 instead; they differ only by the cross term uy*vx.
    return np.sqrt(du_dx**2 + dv_dy**2 + 0.5 * (du_dy**2 + dv_dx**2)).astype(np.float32)


def flow_maps(
    crop_onset: np.ndarray, crop_apex: np.ndarray, method: str = "farneback"
) -> np.ndarray:
    """Onset->apex maps (h, w, 3) float32 [Vx, Vy, Vz]: flow without head motion, and strain."""
    # Farneback's estimates near the image border are unreliable (non-zero even between two
    # identical images): the crops are extended by mirroring and the margin dropped again.
    p = _BORDER
    pad = [cv2.copyMakeBorder(c, p, p, p, p, cv2.BORDER_REFLECT_101)
           for c in (crop_onset, crop_apex)]
    flow = remove_global_motion(optical_flow(*pad, method)[p:-p, p:-p])
    return np.dstack([flow, optical_strain(flow)])


def block_means(image: np.ndarray, grid: int) -> np.ndarray:
    """Means of an (h, w, c) or (h, w) array over a grid x grid block layout -> (grid, grid, c)."""
    a = image if image.ndim == 3 else image[..., None]
    h, w = a.shape[:2]
    ys = np.linspace(0, h, grid + 1).round().astype(int)
    xs = np.linspace(0, w, grid + 1).round().astype(int)
    out = np.empty((grid, grid, a.shape[2]), np.float32)
    for i in range(grid):
        for j in range(grid):
            out[i, j] = a[ys[i] : ys[i + 1], xs[j] : xs[j + 1]].mean(axis=(0, 1))
    return out


def flow_features(
    crop_onset: np.ndarray, crop_apex: np.ndarray, grid: int = 6, method: str = "farneback"
) -> np.ndarray:
    """Fixed-length ME descriptor: per facial block mean u, v, |V|, strain -> (grid*grid*4,)."""
    maps = flow_maps(crop_onset, crop_apex, method)
    magnitude = np.hypot(maps[..., 0], maps[..., 1])
    stack = np.dstack([maps[..., 0], maps[..., 1], magnitude, maps[..., 2]])
    # Block-major order: block (row r, col c) holds features 4*(r*grid + c) .. +3.
    return block_means(stack, grid).reshape(-1)


def feature_names(grid: int = 6) -> list[str]:
    """Names of flow_features' entries, e.g. 'b2_3_strain' (block row 2, column 3)."""
    return [f"b{r}_{c}_{f}" for r in range(grid) for c in range(grid) for f in FEATURES_PER_BLOCK]
