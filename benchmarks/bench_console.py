"""The console's display cost per camera frame, vs what a naive preview would pay, in one run.

The live preview (app/console/live.py) shows a frame every 25 ms at most: app.console.preview
.preview_rgb subsamples whole Bayer cells and demosaics only the small result, then
CameraPreview paints it (Qt offscreen here). Measured at the sensor sizes the console sees:

- preview: preview_rgb on a raw Bayer frame;
- paint: CameraPreview.show_rgb + a synchronous repaint of a 640x480 widget;
- baselines in the same run: copying the raw frame (the floor any consumer pays) and the naive
  preview, demosaicing the whole frame and resizing it to the same size.

`budget_fraction` is (preview + paint) over the 40 ms of a 25 fps display frame.
The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.console.preview import preview_rgb
from drivers.imaging import debayer

SIZES = ((2048, 1088), (2040, 1080), (640, 480))
FRAME_BUDGET_S = 0.040


def per_call(fn: Callable[[], object], n: int) -> float:
    """Median seconds per call of fn over n calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_size(width: int, height: int, n: int, widget: object) -> dict[str, float]:
    """Seconds per frame of each step at one sensor size."""
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, (height, width), dtype=np.uint8)
    sink = np.empty_like(raw)
    small = preview_rgb(raw, "bayer_rg8")

    def naive() -> np.ndarray:
        full = debayer(raw, "bayer_rg8")
        return cv2.resize(full, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)

    def paint() -> None:
        widget.show_rgb(small)  # type: ignore[attr-defined]
        widget.repaint()  # type: ignore[attr-defined]

    return {
        "copy": per_call(lambda: np.copyto(sink, raw), n),
        "naive": per_call(naive, n),
        "preview": per_call(lambda: preview_rgb(raw, "bayer_rg8"), n),
        "paint": per_call(paint, n),
        "preview_width": small.shape[1],
        "preview_height": small.shape[0],
    }


def main() -> None:
    """Time every size; print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200, help="calls timed per step")
    args = parser.parse_args()
    from PyQt6.QtWidgets import QApplication

    from app.console.live import CameraPreview
    from app.qt_platform import platform_problem

    problem = "" if QApplication.instance() is not None else platform_problem()
    if problem:  # one line instead of Qt aborting the process
        print(f"bench_console: {problem}", file=sys.stderr)
        raise SystemExit(2)
    app = QApplication.instance() or QApplication([])
    widget = CameraPreview()
    widget.resize(640, 480)
    widget.show()
    app.processEvents()
    summary: dict[str, dict[str, float]] = {}
    print(f"{'sensor':<11}{'preview':>9}{'copy':>8}{'naive':>8}{'paint':>8}  (ms per frame)")
    for width, height in SIZES:
        r = bench_size(width, height, args.frames, widget)
        key = f"{width}x{height}"
        total = r["preview"] + r["paint"]
        print(f"{key:<11}{r['preview'] * 1e3:>9.3f}{r['copy'] * 1e3:>8.3f}"
              f"{r['naive'] * 1e3:>8.3f}{r['paint'] * 1e3:>8.3f}  preview "
              f"{r['preview_width']}x{r['preview_height']}: {r['preview'] / r['copy']:.1f}x copy,"
              f" {r['preview'] / r['naive']:.3f}x naive, {total / FRAME_BUDGET_S:.3f} of 40 ms")
        summary[key] = {
            "preview_ms": round(r["preview"] * 1e3, 3),
            "paint_ms": round(r["paint"] * 1e3, 3),
            "copy_ms": round(r["copy"] * 1e3, 3),
            "naive_ms": round(r["naive"] * 1e3, 3),
            "preview_x_copy": round(r["preview"] / r["copy"], 2),
            "preview_x_naive": round(r["preview"] / r["naive"], 3),
            "budget_fraction": round(total / FRAME_BUDGET_S, 4),
        }
    widget.close()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
