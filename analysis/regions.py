"""Pooling of flow fields over facial regions for spotting, with the rigid motion removed.

The regions are the landmark-placed ROIs of analysis/face.py (or a grid of blocks for crops
without a layout); only valid pixels count (not the masked eye openings).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from analysis.face import FaceLayout


class RegionPool:
    """Pooling of flow fields over regions (the layout's ROIs, else a grid of blocks),
    counting only valid pixels (not the eye openings)."""

    def __init__(self, valid: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> None:
        self.valid = valid
        x0 = np.array([b[0] for b in boxes])
        y0 = np.array([b[1] for b in boxes])
        x1, y1 = x0 + np.array([b[2] for b in boxes]), y0 + np.array([b[3] for b in boxes])
        self.corners = (y0, x0, y1, x1)
        counts = self._sums(valid.astype(np.float64)[..., None])[:, 0]
        self.counts = np.maximum(counts, 1).astype(np.float32)
        area = np.maximum((x1 - x0) * (y1 - y0), 1)
        # Regions mostly outside the crop or over the eyes carry no usable flow.
        self.usable = counts >= 0.3 * area
        self.weight = valid[..., None].astype(np.float32)
        # Rigid motion basis at the regions' centres (x rows, then y rows): shift x, shift y,
        # zoom, rotation about the crop's centre.
        cx = (x0 + x1) / 2 - valid.shape[1] / 2
        cy = (y0 + y1) / 2 - valid.shape[0] / 2
        one, zero = np.ones_like(cx), np.zeros_like(cx)
        self.rigid_basis = np.block([[one[:, None], zero[:, None], cx[:, None], -cy[:, None]],
                                     [zero[:, None], one[:, None], cy[:, None], cx[:, None]]])

    def _sums(self, image: np.ndarray) -> np.ndarray:
        """Sum of an (h, w, c) image over each region -> (nregions, c)."""
        ii = cv2.integral(image)
        ii = ii if ii.ndim == 3 else ii[..., None]
        y0, x0, y1, x1 = self.corners
        return ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]

    def vectors(self, flow: np.ndarray, head_motion: bool) -> np.ndarray:
        """Mean flow vector per region (nregions, 2), minus the rigid (head) motion."""
        vec = (self._sums(flow * self.weight) / self.counts[:, None]).astype(np.float32)
        if head_motion:
            vec -= self._rigid(vec)
        return vec

    def _rigid(self, vec: np.ndarray) -> np.ndarray:
        """The similarity motion (shift, rotation, zoom) that best explains the regions'
        vectors, fitted again without the regions it explains worst.

        Motion the alignment left (its lag behind the head, landmark jitter) is rigid and
        moves every region; an expression moves a few of them, which the refit leaves out.
        """
        use = np.flatnonzero(self.usable)
        if use.size < 2 * _RIGID_OUTLIERS:
            return np.median(vec[use], axis=0)
        fitted = self._fit_rigid(vec, use)
        resid = np.hypot(*(vec[use] - fitted[use]).T)
        fitted = self._fit_rigid(vec, use[np.argsort(resid)[: use.size - _RIGID_OUTLIERS]])
        return fitted.astype(np.float32)

    def _fit_rigid(self, vec: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Least-squares similarity motion of the regions `keep`, evaluated at every region."""
        rows = np.concatenate([keep, keep + len(vec)])
        p = np.linalg.lstsq(self.rigid_basis[rows], np.concatenate(vec[keep].T), rcond=None)[0]
        return (self.rigid_basis @ p).reshape(2, -1).T


_RIGID_OUTLIERS = 6  # regions left out of the rigid refit: an AU moves 1-4 of them


def grid_boxes(size: int, block: int) -> list[tuple[int, int, int, int]]:
    """A centred grid of block x block boxes over a size x size crop."""
    n = size // block
    o = (size - n * block) // 2
    return [(o + c * block, o + r * block, block, block) for r in range(n) for c in range(n)]


def valid_mask(size: int, layout: FaceLayout | None, mask_eyes: bool) -> tuple[np.ndarray, tuple]:
    """(size, size) mask of the pixels flow is pooled over (not the eye openings) and the
    eye boxes."""
    valid = np.ones((size, size), bool)
    eyes = layout.eyes if layout is not None and mask_eyes else ()
    for x, y, w, h in eyes:
        valid[max(0, y) : y + h, max(0, x) : x + w] = False
    return valid, eyes
