"""Simulated face camera speed: frames per second of FaceRenderer.render at camera sizes.

Scenarios: `static` (no expression; blinks 10/min and head motion on, the common case),
`typical` (an ME every 2 s and a macro-expression every 10 s on top), `busy` (a macro
expression active in every frame) and `typical_kept` (typical, with the last 256 frames kept
alive the way the recorder's queue keeps them, so fresh memory pages are touched). Each is
also given as a ratio to copying one frame (the floor any producer pays), measured in the
same process. The last line printed is JSON.
"""

from __future__ import annotations

import collections
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.expressions import EMOTIONS
from drivers.sim.expression import Expression
from drivers.sim.face import FaceRenderer

FPS = 150.0
SIZES = ((2040, 1088), (2040, 1080), (256, 192))


def timeline(seconds: float) -> list[Expression]:
    """A denser-than-real expression schedule: an ME every 2 s, a macro every 10 s."""
    out = []
    for k in range(int(seconds / 2)):
        t0 = 0.5 + 2.0 * k
        emotion = EMOTIONS[k % len(EMOTIONS)]
        if k % 5 == 4:
            out.append(Expression(t0, t0 + 0.5, t0 + 1.5, "macro", emotion))
        else:
            out.append(Expression(t0, t0 + 0.1, t0 + 0.35, "micro", emotion))
    return out


def per_frame(fn, n: int) -> float:
    """Mean seconds per call of fn(i) over n calls."""
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n


def bench_size(width: int, height: int, n: int) -> dict[str, float]:
    """Seconds per frame of each scenario at one size, plus the copy baseline and init time."""
    t0 = time.perf_counter()
    r = FaceRenderer(width, height, seed=1)
    init = time.perf_counter() - t0
    ts = np.arange(n) / FPS
    exprs = timeline(n / FPS)
    busy = [Expression(-1.0, n / FPS / 2, n / FPS + 1, "macro", "fear")]
    frame = r.render(0.0)
    sink = np.empty_like(frame)
    kept: collections.deque[np.ndarray] = collections.deque(maxlen=256)
    # Warm the head-position cache the way a long run would have, then time.
    per_frame(lambda i: r.render(ts[i], exprs), n)
    res = {
        "copy": per_frame(lambda i: np.copyto(sink, frame), n),
        "static": per_frame(lambda i: r.render(ts[i]), n),
        "typical": per_frame(lambda i: r.render(ts[i], exprs), n),
        "busy": per_frame(lambda i: r.render(ts[i], busy), n),
        "typical_kept": per_frame(lambda i: kept.append(r.render(ts[i], exprs)), n),
    }
    res["init"] = init
    return res


def main() -> None:
    """Run every size and print fps, ms per frame and ratios; JSON last."""
    cv2.setNumThreads(1)  # the figure that matters: one core, the other is the writer's
    summary: dict[str, dict[str, float]] = {}
    for w, h in SIZES:
        n = 1500 if w > 1000 else 3000
        res = bench_size(w, h, n)
        key = f"{w}x{h}"
        summary[key] = {"init_s": round(res["init"], 3)}
        print(f"{key}: init {res['init'] * 1e3:.0f} ms, copy baseline {res['copy'] * 1e3:.3f} ms")
        for name in ("static", "typical", "busy", "typical_kept"):
            s = res[name]
            ratio = s / res["copy"]
            print(f"  {name:13s} {s * 1e3:7.3f} ms  {1 / s:8.0f} fps  {ratio:6.1f}x copy")
            summary[key][f"{name}_fps"] = round(1 / s, 1)
            summary[key][f"{name}_x_copy"] = round(ratio, 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
