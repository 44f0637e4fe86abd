"""The still scene of the simulated face camera: the face photo before a lab wall, in float BGR.

The person (the photo through its matte, drivers/sim/assets) is scaled and placed per seed,
given the seed's skin tone and exposure gains, and composited over a painted wall with a door
frame; one side lamp lights the whole scene a little unevenly. The renderer (drivers.sim.face)
quantises the result once and only re-warps parts of it per frame.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import cv2
import numpy as np

from drivers.sim.face_geometry import FaceLook


def soft(sd: np.ndarray, width: float) -> np.ndarray:
    """Signed distance (negative inside) -> anti-aliased coverage in [0, 1]."""
    return np.clip(0.5 - sd / width, 0.0, 1.0)


@cache
def _photo() -> tuple[np.ndarray, np.ndarray]:
    """The shipped face photo (BGR uint8) and its person matte (uint8, 255 = person)."""
    assets = resources.files("drivers.sim").joinpath("assets")
    img = cv2.imdecode(np.frombuffer(assets.joinpath("face.jpg").read_bytes(), np.uint8), 1)
    mask = cv2.imdecode(np.frombuffer(assets.joinpath("face_mask.png").read_bytes(), np.uint8), 0)
    if img is None or mask is None or img.shape[:2] != mask.shape:
        raise ValueError("drivers/sim/assets needs face.jpg and a face_mask.png of the same size")
    return img, mask


def paint_scene(lk: FaceLook, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The participant with this look in front of the lab wall: float32 (H, W, 3) BGR."""
    img, mask = _photo()
    if lk.mirrored:
        img, mask = np.ascontiguousarray(img[:, ::-1]), np.ascontiguousarray(mask[:, ::-1])
    m = np.float32([[lk.scale[0], 0, lk.shift[0]], [0, lk.scale[1], lk.shift[1]]])
    # Replicating the photo's border continues the shirt where the frame is wider than the photo.
    person = cv2.warpAffine(img, m, (width, height), flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    alpha = cv2.warpAffine(mask, m, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.7, 0.6 * lk.scale[1])) * (1 / 255)
    person *= np.array(lk.gains, np.float32)
    scene = _wall(lk, width, height, rng)
    scene += alpha[..., None] * (person - scene)
    x = np.arange(width, dtype=np.float32)
    scene *= np.clip(1 + lk.light * (x - lk.cx) / lk.F, 0.6, 1.4)[None, :, None]
    # Black level and highlight headroom, as a camera's: dark hair and white teeth keep noise.
    scene *= 0.9
    scene += 12.0
    return np.minimum(scene, 243.0, out=scene)


def _wall(lk: FaceLook, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A plain lab wall lit from above, a door frame at one side and a faint plaster texture."""
    y = np.arange(height, dtype=np.float32)[:, None]
    shade = 1.06 - 0.14 * y / height  # ceiling light: brighter at the top
    wall = np.empty((height, width, 3), np.float32)
    wall[:] = shade[..., None] * np.array(lk.wall, np.float32)
    fw = max(4, round(0.035 * width))
    x0 = round(lk.door_x * width - fw / 2)
    frame = wall[:, max(0, x0) : x0 + fw]
    frame *= 0.78  # the frame's painted wood, a little darker than the wall
    edge = max(1, fw // 8)
    wall[:, max(0, x0) : max(0, x0 + edge)] *= 0.8  # its shadowed edge
    n = max(2, round(lk.F / 40))
    low = rng.standard_normal((height // n + 2, width // n + 2), dtype=np.float32)
    size = ((width // n + 2) * n, (height // n + 2) * n)
    tex = cv2.resize(low, size, interpolation=cv2.INTER_CUBIC)
    wall *= (1 + 0.012 * tex[:height, :width])[..., None]
    return wall
