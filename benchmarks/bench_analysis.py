"""Spotting speed: one recorded full-frame clip from disk to intervals, vs reading that file.

A 60 s clip at 2040x1088, 150 fps (simulated face with micro- and macro-expressions, blinks
and head motion, raw Bayer) is written with melab's SessionWriter into a temporary session
on the disk under test. Then, in the same run, with the page cache dropped before each:

- read: a plain sequential read of the segment file (16 MiB blocks), the disk's floor;
- analysis: open the session, read the frames in blocks and track the face through them
  (analysis.face_track: sparse HOG detection, landmarks ~30 times a second, the region
  around the face as Bayer 2x2 cells to grey at half resolution, aligned 128x128 crops) on
  a reader thread, while analysis.spotting.Spotter computes the flows of the frames
  already tracked; then its candidates and intervals (onset/apex/offset): the code
  `melab analyze` runs by default (analysis.clips.read_and_spot with the sensitive tier
  that the Candidate Clip Filter may confirm);
- read again.

realtime_factor = clip seconds / analysis seconds (>= 1: spotting keeps up with recording);
read_seconds is the faster of the plain reads before and after the analysis (on this VM the
first read after a large write is often slowed by memory handed back to the host). The
spotted intervals are also scored against the rendered ground truth (MEGC rules).
The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.clips import read_and_spot
from analysis.evaluation import Interval, evaluate_spotting
from analysis.spotting import SpotParams, SpottedInterval
from core.devices import CameraInfo, Frame
from core.expressions import EMOTIONS
from drivers.sim.expression import Expression
from drivers.sim.face import FaceRenderer
from recordings.store.layout import segment_filename
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session
from recordings.store.session_writer import SessionWriter

WIDTH, HEIGHT, FPS = 2040, 1088, 150.0


def script(seconds: float, seed: int = 3) -> list[Expression]:
    """Expressions every ~4 s: three micro-expressions for each macro one, emotions cycled."""
    rng = np.random.default_rng(seed)
    out: list[Expression] = []
    t = 1.5
    k = 0
    while t < seconds - 4.0:
        emotion = EMOTIONS[k % len(EMOTIONS)]
        if k % 4 == 3:
            length = float(rng.uniform(1.0, 2.5))
            out.append(Expression(t, t + 0.35 * length, t + length, "macro", emotion))
        else:
            length = float(rng.uniform(0.2, 0.5))
            out.append(Expression(t, t + 0.4 * length, t + length, "micro", emotion))
        t = out[-1].offset + float(rng.uniform(2.0, 3.0))
        k += 1
    return out


def record(folder: Path, seconds: float, exprs: list[Expression]) -> Path:
    """Render and write the clip through a SessionWriter; returns the segment file."""
    camera = CameraInfo("bench", "0", WIDTH, HEIGHT, "bayer_rg8", FPS)
    renderer = FaceRenderer(WIDTH, HEIGHT, seed=5)
    writer = SessionWriter(folder, SessionMetadata("bench"), [])
    segment = writer.start_segment("trial001", camera)
    for i in range(round(seconds * FPS)):
        t = i / FPS
        image = renderer.render(t, exprs)
        segment.push_frame(Frame(image, i, t, t, 0), timeout=30.0)  # wait: nothing may drop
    writer.stop_segment("trial001")
    writer.close()
    return folder / segment_filename("trial001")


def drop_cache(path: Path) -> None:
    """Evict a file from the page cache so the next read comes from the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def plain_read(path: Path) -> float:
    """Seconds to read the whole file sequentially (16 MiB blocks, no HDF5)."""
    drop_cache(path)
    view = memoryview(bytearray(16 << 20))
    start = time.perf_counter()
    with path.open("rb", buffering=0) as fh:
        while fh.readinto(view):
            pass
    return time.perf_counter() - start


def analyse(folder: Path, params: SpotParams) -> tuple[list[SpottedInterval], dict[str, float]]:
    """Session folder -> spotted intervals, with the time of each stage.

    The same code as `melab analyze` (analysis.clips.read_and_spot, sensitive tier included,
    as for the default `--ccf rescue`; the confident intervals are returned): reading and cropping
    run in a thread while the spotter computes flows on the blocks already read, so disk
    and CPU overlap.
    """
    drop_cache(folder / segment_filename("trial001"))
    t0 = time.perf_counter()
    session = open_session(folder)
    seg = session.segment("trial001")
    fmt, fps = seg.pixel_format, float(seg.attrs["frame_rate"])
    t1, cpu1 = time.perf_counter(), time.process_time()
    run = read_and_spot(seg.file["frames"], seg.n_frames, fmt, fps, params, sensitive=True)
    t2, cpu2 = time.perf_counter(), time.process_time()
    session.close()
    return [s for s in run.spotted if s.confident], {
        "open_seconds": t1 - t0,
        "read_and_spot_seconds": t2 - t1,
        "tracker_seconds": run.track_seconds,
        "reader_read_seconds": run.read_seconds,
        "face_found_frames": sum(p.found for p in run.track),
        "waiting_for_disk_seconds": run.waited_seconds,
        "cores_used": (cpu2 - cpu1) / (t2 - t1),  # CPU seconds per second: all threads
    }


def main() -> None:
    """Record, read, analyse, read; print a summary and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="folder on the disk to test")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true", help="keep the recorded session")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # the spotter's share of a busy lab PC: one core (plus the reader)
    base = args.dir or Path(__file__).resolve().parent / "out"
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_analysis_", dir=base))
    folder = tmp / "session"
    exprs = script(args.seconds)
    try:
        t0 = time.perf_counter()
        path = record(folder, args.seconds, exprs)
        record_seconds = time.perf_counter() - t0
        size = path.stat().st_size
        first_read = plain_read(path)
        spotted, stages = analyse(folder, SpotParams())
        second_read = plain_read(path)  # the disk's speed drifts: bracket the analysis
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    read_seconds = min(first_read, second_read)
    analysis_seconds = stages["open_seconds"] + stages["read_and_spot_seconds"]
    truth = [Interval(round(e.onset * FPS), round(e.offset * FPS), e.kind) for e in exprs]
    counts = evaluate_spotting(
        {"clip": [(s.onset, s.offset, s.kind) for s in spotted]}, {"clip": truth}
    )
    result = {
        "clip_seconds": args.seconds,
        "frames": round(args.seconds * FPS),
        "file_gb": size / 1e9,
        "record_seconds": record_seconds,
        "read_seconds": read_seconds,
        "read_before_seconds": first_read,
        "read_after_seconds": second_read,
        "read_gbps": size / 1e9 / read_seconds,
        "analysis_seconds": analysis_seconds,
        **stages,
        "realtime_factor": args.seconds / analysis_seconds,
        "tracker_share": stages["tracker_seconds"] / analysis_seconds,
        "analysis_to_read_ratio": analysis_seconds / read_seconds,
        "micro_truth": sum(e.kind == "micro" for e in exprs),
        "macro_truth": sum(e.kind == "macro" for e in exprs),
        "micro_f1": counts["micro"].f1,
        "macro_f1": counts["macro"].f1,
        "spotted": len(spotted),
    }
    print_summary(result)
    print(json.dumps(result))


def print_summary(r: dict) -> None:
    """The human-readable lines above the JSON line."""
    print(f"clip {r['clip_seconds']:.0f} s, {r['frames']} frames, {r['file_gb']:.1f} GB")
    print(
        f"plain read        {r['read_seconds']:6.1f} s ({r['read_gbps']:.2f} GB/s; "
        f"before the analysis {r['read_before_seconds']:.1f} s, "
        f"after {r['read_after_seconds']:.1f} s)"
    )
    print(
        f"analysis          {r['analysis_seconds']:6.1f} s = open {r['open_seconds']:.1f}"
        f" + read, track, flow and intervals {r['read_and_spot_seconds']:.1f}"
        f" (waiting for the reader {r['waiting_for_disk_seconds']:.1f})"
    )
    print(
        f"face tracker      {r['tracker_seconds']:6.1f} s on the reader thread "
        f"({100 * r['tracker_share']:.0f} % of the analysis time; face in "
        f"{r['face_found_frames']} of {r['frames']} frames)"
    )
    print(f"frames read       {r['reader_read_seconds']:6.1f} s on the reader thread")
    print(
        f"realtime factor   {r['realtime_factor']:6.2f}   "
        f"(analysis / plain read {r['analysis_to_read_ratio']:.2f})"
    )
    print(
        f"spotting F1       micro {r['micro_f1']:.2f} ({r['micro_truth']} MEs), "
        f"macro {r['macro_f1']:.2f} ({r['macro_truth']})"
    )

if __name__ == "__main__":
    main()
