"""Writer throughput vs the raw sequential speed of the same disk, measured in one run.

Full 2040x1088 uint8 frames with face-like content and sensor noise go through melab's
session writer (direct-chunk HDF5, background thread, bounded queue); in the same run,
numpy tofile + fsync writes the same bytes. Also: LZ4, and a producer pacing 150 fps.
The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.devices import CameraInfo, Frame
from recordings.store.layout import segment_filename
from recordings.store.metadata import SessionMetadata
from recordings.store.session_writer import SessionWriter

WIDTH, HEIGHT = 2040, 1088


def face_like_frames(count: int, seed: int = 0) -> list[np.ndarray]:
    """Distinct frames: a shaded face on a backdrop, each with its own sensor noise."""
    rng = np.random.default_rng(seed)
    base = np.full((HEIGHT, WIDTH), 90, np.uint8)
    cx, cy = WIDTH // 2, HEIGHT // 2
    cv2.ellipse(base, (cx, cy), (300, 400), 0, 0, 360, 170, -1)
    for dx in (-120, 120):
        cv2.ellipse(base, (cx + dx, cy - 90), (55, 25), 0, 0, 360, 60, -1)
        cv2.line(base, (cx + dx - 70, cy - 170), (cx + dx + 70, cy - 170), 50, 14)
    cv2.ellipse(base, (cx, cy + 200), (120, 35), 0, 0, 180, 80, 10)
    base = cv2.GaussianBlur(base, (0, 0), 6)
    texture = rng.normal(0, 6, base.shape)
    frames = []
    for _ in range(count):
        noisy = base + texture + rng.normal(0, 2.5, base.shape)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return frames


def raw_write_mbps(folder: Path, frames: list[np.ndarray], n: int) -> float:
    """Sequential numpy tofile + fsync of the same bytes, in MB/s."""
    path = folder / "raw.bin"
    start = time.perf_counter()
    with path.open("wb") as fh:
        for i in range(n):
            frames[i % len(frames)].tofile(fh)
        fh.flush()
        os.fsync(fh.fileno())
    seconds = time.perf_counter() - start
    path.unlink()
    return n * frames[0].nbytes / seconds / 1e6


def writer_run(
    folder: Path, frames: list[np.ndarray], n: int, compression: str | None, pace: float = 0.0
) -> dict[str, float]:
    """Push n frames through a session writer; time includes close() and fsync."""
    camera = CameraInfo("bench", "0", WIDTH, HEIGHT, "bayer_rg8", 150.0)
    session = folder / f"session-{compression or 'raw'}-{pace:g}"
    writer = SessionWriter(session, SessionMetadata("bench"), [])
    segment = writer.start_segment("trial001", camera, compression=compression)
    start = time.perf_counter()
    max_fill = 0.0
    for i in range(n):
        if pace:
            due = start + i / pace
            while (now := time.perf_counter()) < due:
                time.sleep(min(0.002, due - now))
        image = frames[i % len(frames)].copy()  # a camera hands over a new buffer per frame
        frame = Frame(image, i, i / 150.0, time.perf_counter(), 0)
        # Throughput runs wait for queue space; paced runs never wait (a camera cannot).
        segment.push_frame(frame, timeout=0.0 if pace else 10.0)
        if i % 50 == 0:
            max_fill = max(max_fill, segment.stats().queue_fill)
    stats = writer.stop_segment("trial001")
    writer.close()
    seconds = time.perf_counter() - start
    size = (session / segment_filename("trial001")).stat().st_size
    shutil.rmtree(session)
    return {
        "frames": n,
        "seconds": seconds,
        "fps": stats.frames_written / seconds,
        "MBps": stats.frames_written * WIDTH * HEIGHT / seconds / 1e6,
        "lost": stats.lost_frames,
        "written": stats.frames_written,
        "compression_ratio": stats.frames_written * WIDTH * HEIGHT / size,
        "max_queue_fill": max_fill,
    }


def main() -> None:
    """Run the benchmark and print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="folder on the disk to test")
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--paced-seconds", type=float, default=60.0)
    parser.add_argument("--lz4-frames", type=int, default=1500)
    args = parser.parse_args()
    base_dir = args.dir or Path(__file__).resolve().parent / "out"
    base_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench_writer_", dir=base_dir))
    frames = face_like_frames(32)
    try:
        raw_before = raw_write_mbps(folder, frames, args.frames)
        plain = writer_run(folder, frames, args.frames, None)
        raw_after = raw_write_mbps(folder, frames, args.frames)
        lz4 = writer_run(folder, frames, args.lz4_frames, "lz4")
        paced_n = int(args.paced_seconds * 150)
        paced = writer_run(folder, frames, paced_n, None, pace=150.0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    raw = (raw_before + raw_after) / 2
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'run':<24}{'frames':>8}{'fps':>9}{'MB/s':>9}{'lost':>6}{'ratio':>8}")
    print(f"{'raw tofile+fsync':<24}{args.frames:>8}{'':>9}{raw:>9.0f}")
    for name, r in (("melab uncompressed", plain), ("melab LZ4", lz4), ("paced 150 fps", paced)):
        print(f"{name:<24}{r['frames']:>8}{r['fps']:>9.1f}{r['MBps']:>9.0f}{r['lost']:>6}"
              f"{r['MBps'] / raw:>8.2f}")
    print(f"LZ4 compression ratio {lz4['compression_ratio']:.2f}; paced run max queue fill "
          f"{paced['max_queue_fill']:.2f}; raw before/after {raw_before:.0f}/{raw_after:.0f} MB/s")
    print(json.dumps({
        "writer_fps": round(plain["fps"], 1),
        "writer_MBps": round(plain["MBps"], 1),
        "raw_MBps": round(raw, 1),
        "ratio": round(plain["MBps"] / raw, 3),
        "dropped": int(paced["lost"] + plain["lost"]),
        "paced_fps": 150.0,
        "paced_frames": int(paced["written"]),
        "paced_lost": int(paced["lost"]),
        "lz4_fps": round(lz4["fps"], 1),
        "lz4_compression_ratio": round(lz4["compression_ratio"], 3),
        "peak_rss_MB": round(peak_rss, 1),
    }))


if __name__ == "__main__":
    main()
