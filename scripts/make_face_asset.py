"""Build the simulated face camera's photo asset: 68 landmarks and a person matte of a real face.

Run once when the photo changes (needs dlib-bin and face-recognition-models, which pyproject
installs); the renderer (drivers.sim.face) then needs neither dlib nor this script:

    python scripts/make_face_asset.py /path/to/single_face.jpg

It copies the photo unchanged to drivers/sim/assets/face.jpg and writes next to it
face_landmarks.json (dlib's 68-point iBUG layout, photo pixels) and face_mask.png (the person,
hair and shirt included, found with OpenCV's GrabCut seeded from the landmarks), so the
renderer can put the person in front of a lab wall of its own.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import dlib
import face_recognition_models
import numpy as np

ASSETS = Path(__file__).resolve().parents[1] / "drivers" / "sim" / "assets"


def landmarks(bgr: np.ndarray) -> np.ndarray:
    """(68, 2) landmarks of the one face dlib's HOG detector finds; exits if not exactly one."""
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    faces = dlib.get_frontal_face_detector()(rgb, 1)
    if len(faces) != 1:
        sys.exit(f"error: need a photo with exactly one face, dlib found {len(faces)}")
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    shape = predictor(rgb, faces[0])
    return np.array([(p.x, p.y) for p in shape.parts()], float)


def person_mask(bgr: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """uint8 mask (255 person) by GrabCut: the face hull and the shirt below it are sure person."""
    h, w = bgr.shape[:2]
    mask = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    fw, fh = x1 - x0, y1 - y0
    # Probably the person: a head-sized box over the face and everything below the chin; surely
    # the person: the face hull and a shirt trapezoid widening from the neck to the shoulders.
    cv2.rectangle(mask, (int(x0 - 0.25 * fw), int(y0 - 0.9 * fh)), (w, h), cv2.GC_PR_FGD, -1)
    mask[int(y1 + 0.4 * fh) :] = cv2.GC_PR_FGD
    cv2.fillConvexPoly(mask, cv2.convexHull(pts.astype(np.int32)), cv2.GC_FGD)
    shirt = [(x0 + 0.1 * fw, y1 + 0.15 * fh), (x1 - 0.1 * fw, y1 + 0.15 * fh),
             (x1 + 0.6 * fw, y1 + 0.6 * fh), (x1 + 0.6 * fw, h), (x0 - 0.6 * fw, h),
             (x0 - 0.6 * fw, y1 + 0.6 * fh)]
    cv2.fillPoly(mask, [np.array(shirt, np.int32)], cv2.GC_FGD)
    cv2.rectangle(mask, (0, 0), (w - 1, int(y0 - 1.0 * fh)), cv2.GC_BGD, -1)  # above the hair
    bg, fg = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(bgr, mask, None, bg, fg, 8, cv2.GC_INIT_WITH_MASK)
    person = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8) * 255
    # Keep the largest blob only (stray background bits), close small holes.
    _, labels, stats, _ = cv2.connectedComponentsWithStats(person)
    person = np.where(labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA]), 255, 0).astype(np.uint8)
    return cv2.morphologyEx(person, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))


def main() -> None:
    """Write face.jpg, face_landmarks.json and face_mask.png into drivers/sim/assets/."""
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/make_face_asset.py PHOTO.jpg")
    src = Path(sys.argv[1])
    bgr = cv2.imread(str(src))
    if bgr is None:
        sys.exit(f"error: cannot read {src} as an image")
    pts = landmarks(bgr)
    ASSETS.mkdir(exist_ok=True)
    shutil.copyfile(src, ASSETS / "face.jpg")
    doc = {"source": src.name, "size": [bgr.shape[1], bgr.shape[0]],
           "layout": "dlib 68-point iBUG (0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes, "
                     "48-67 mouth); x, y in photo pixels",
           "points": pts.astype(int).tolist()}
    (ASSETS / "face_landmarks.json").write_text(json.dumps(doc) + "\n")
    cv2.imwrite(str(ASSETS / "face_mask.png"), person_mask(bgr, pts))
    print(f"wrote {ASSETS}: 68 landmarks, person mask")


if __name__ == "__main__":
    main()
