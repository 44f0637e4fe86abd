"""Face detection and 68-point landmarks: dlib's HOG detector and shape predictor.

The shape predictor is the iBUG 300-W 68-point model shipped in the pip package
`face-recognition-models` (nothing is downloaded at run time). Point indices (dlib's, 0-based):
jaw 0-16, brows 17-21 and 22-26, nose 27-35, eyes 36-41 and 42-47, mouth 48-67; "left" and
"right" below are image left and right.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np

BROW_L, BROW_R = range(17, 22), range(22, 27)
EYE_L, EYE_R = range(36, 42), range(42, 48)
# Points that an expression barely moves: eye corners and the nose. Alignment uses only
# these, so a smile or a frown is not "corrected" away as head motion.
STABLE = (27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45)
DETECT_FACE_PX = 120  # faces are shrunk to about this width before HOG detection (speed)

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class Detection:
    """A detected face: box (x, y, w, h) in the searched image's pixels and HOG score."""

    box: tuple[float, float, float, float]
    score: float


def _model_path() -> Path:
    # The package's __init__ imports pkg_resources (deprecated); find its files without it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the face landmark model is missing: pip install face-recognition-models")
    folder = Path(spec.submodule_search_locations[0]) / "models"
    return folder / "shape_predictor_68_face_landmarks.dat"


@functools.cache
def _detector() -> dlib.fhog_object_detector:
    return dlib.get_frontal_face_detector()


@functools.cache
def _predictor() -> dlib.shape_predictor:
    return dlib.shape_predictor(str(_model_path()))  # ~0.5 s: loaded once per process


def detect_faces(gray: np.ndarray, scale: float = 1.0) -> list[Detection]:
    """Frontal faces in a grey uint8 image, best first; the image is scaled by `scale` first
    (< 1 for speed, > 1 to find faces below the detector's ~80 px), boxes are returned in the
    image's own pixels."""
    small = gray if scale == 1.0 else cv2.resize(
        gray, None, fx=scale, fy=scale,
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    rects, scores, _ = _detector().run(small, 0, 0.0)
    found = [
        Detection((r.left() / scale, r.top() / scale, r.width() / scale, r.height() / scale),
                  float(s))
        for r, s in zip(rects, scores, strict=True)
    ]
    return sorted(found, key=lambda d: -d.score)


def landmarks(gray: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """(68, 2) float landmarks of the face in `box` (a detector-like box) of a grey image."""
    x, y, w, h = box
    rect = dlib.rectangle(round(x), round(y), round(x + w), round(y + h))
    shape = _predictor()(gray, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the image-left and image-right eyes."""
    return points[list(EYE_L)].mean(axis=0), points[list(EYE_R)].mean(axis=0)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity (rotation, uniform scale, shift) taking src points to dst."""
    s_mean, d_mean = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - s_mean, dst - d_mean
    # Umeyama without reflection, in complex form: d ~ a * s with a = scale * e^(i angle).
    sc, dc = s[:, 0] + 1j * s[:, 1], d[:, 0] + 1j * d[:, 1]
    a = np.vdot(sc, dc) / max(np.vdot(sc, sc).real, 1e-12)
    m = np.array([[a.real, -a.imag], [a.imag, a.real]])
    return np.hstack([m, (d_mean - m @ s_mean)[:, None]])


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (n, 2) through a 2x3 affine matrix."""
    return points @ m[:, :2].T + m[:, 2]


class OneEuro:
    """One Euro filter (Casiez et al., CHI 2012) of points over time: heavy smoothing while
    they hold still (jitter), little lag while they move fast.

    The cutoff frequency is min_cutoff + beta * speed, speed being the smoothed speed of the
    points' centroid in units of their spread (so the filter does not depend on face size).
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.value: np.ndarray | None = None
        self._speed = 0.0

    @staticmethod
    def _alpha(cutoff: float, dt: float) -> float:
        return 1.0 / (1.0 + 1.0 / (2 * np.pi * cutoff * dt))

    def __call__(self, points: np.ndarray, dt: float) -> np.ndarray:
        """The filtered points given new raw points dt seconds after the previous ones."""
        if self.value is None:
            self.value = points.copy()
            return self.value
        centre = self.value.mean(axis=0)
        spread = max(float(np.sqrt(((self.value - centre) ** 2).sum(axis=1).mean())), 1e-6)
        raw_speed = float(np.linalg.norm(points.mean(axis=0) - centre)) / spread / dt
        self._speed += self._alpha(self.d_cutoff, dt) * (raw_speed - self._speed)
        a = self._alpha(self.min_cutoff + self.beta * self._speed, dt)
        self.value = self.value + a * (points - self.value)
        return self.value
