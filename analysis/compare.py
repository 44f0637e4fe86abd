"""Whether two `melab analyze` output folders hold the same results (same files, same numbers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Every result `melab analyze` writes; plots are drawn from them. features.npz is compared by
# its arrays (a zip records when it was written).
TEXT_RESULTS = ("spotting.csv", "face_track.csv", "spotting_summary.json", "signals.csv",
                "recognition.json", "concordance.csv", "report.html")


def differing_results(a: Path, b: Path) -> list[str]:
    """Names of the results that differ between two output folders (or exist in one only)."""
    differ = []
    for name in TEXT_RESULTS:
        pa, pb = a / name, b / name
        if pa.is_file() != pb.is_file() or (pa.is_file() and pa.read_bytes() != pb.read_bytes()):
            differ.append(name)
    fa, fb = a / "features.npz", b / "features.npz"
    if fa.is_file() != fb.is_file():
        differ.append("features.npz")
    elif fa.is_file():
        with np.load(fa) as xa, np.load(fb) as xb:
            if set(xa.files) != set(xb.files) or not all(
                    np.array_equal(xa[k], xb[k], equal_nan=xa[k].dtype.kind == "f")
                    for k in xa.files):
                differ.append("features.npz")
    return differ
