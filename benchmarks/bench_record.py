"""The simulated lab at full resolution through the recorder: frames, losses, CPU, memory.

2040x1088 at 150 fps plus a 65-channel EEG and a 6-channel physiology stream at 1000 Hz over
real LSL (loopback), the trigger box over a pty pair, for 60 s; with --segment-length the
camera's frames go into segments of that many seconds, each taking over from the one before.
Last line JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.clock import configure_lsl
from drivers.sim.lab import SimLabConfig, SimulatedLab
from recordings.recorder import Recorder
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session


def parse_args() -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="2040x1088")
    parser.add_argument("--fps", type=float, default=150.0)
    parser.add_argument("--segment-length", type=float, default=0.0,
                        help="seconds of frames per segment file (default: one segment)")
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent / "out")
    return parser.parse_args()


def main() -> None:
    """Record the simulated lab and print the figures."""
    args = parse_args()
    configure_lsl()
    width, height = (int(v) for v in args.size.split("x"))
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_record_", dir=args.dir))
    lab = SimulatedLab(SimLabConfig(seed=5, duration=args.seconds + 10, width=width,
                                    height=height, fps=args.fps, name_prefix="bench"))
    lab.start()
    process = psutil.Process()
    try:
        recorder = Recorder(work / "session", SessionMetadata("bench", simulated=True),
                            streams={"eeg": lab.eeg_stream(), "physio": lab.physio_stream()},
                            camera=lab.camera(), trigger=lab.trigger_box())
        recorder.connect()
        recorder.start()
        recorder.start_segment("trial001", trial=1)
        cpu0, wall0 = process.cpu_times(), time.perf_counter()
        max_fill = 0.0
        segments = 1
        while (elapsed := time.perf_counter() - wall0) < args.seconds:
            time.sleep(0.5)
            max_fill = max(max_fill, recorder.status().queue_fill)
            if args.segment_length > 0 and elapsed >= segments * args.segment_length:
                segments += 1
                recorder.start_segment(f"trial{segments:03d}", trial=segments)
        recorder.stop_segment()
        stats = recorder.stop()
        cpu1, wall1 = process.cpu_times(), time.perf_counter()
    finally:
        lab.stop()
    cpu_percent = 100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (wall1 - wall0)
    with open_session(work / "session") as s:
        recorded = [s.segment(name) for name in s.segment_names()]
        frames = sum(seg.n_frames for seg in recorded)
        dropped = sum(seg.dropped_frames for seg in recorded)
        lost = sum(seg.lost_frames for seg in recorded)
        # Across every segment: the frames between two segments are part of the count.
        numbers = np.concatenate([seg.column("frame_number") for seg in recorded])
        gaps = int(((numbers[1:] - numbers[:-1]) - 1).sum())
        samples = {name: len(st) for name, st in s.streams.items()}
    shutil.rmtree(work, ignore_errors=True)
    samples_lost = sum(stats.samples_lost.values())
    print(f"{args.seconds:g} s at {width}x{height}, {args.fps:g} fps, {segments} segment(s): "
          f"{frames} frames ({frames / args.seconds:.1f} fps), dropped {dropped}, lost in queue "
          f"{lost}, gaps in frame numbers {gaps}")
    print(f"samples: {samples}, lost {samples_lost}; CPU {cpu_percent:.0f}% of one core; "
          f"max queue fill {max_fill:.2f}")
    print(json.dumps({
        "seconds": args.seconds,
        "width": width,
        "height": height,
        "segments": segments,
        "frames": frames,
        "expected_frames": int(args.seconds * args.fps),
        # Frames the camera dropped or the queue lost; both also show as gaps in the frame
        # numbers, reported apart as a cross-check (not added again).
        "dropped_frames": dropped + lost,
        "frame_number_gaps": gaps,
        "samples_lost": samples_lost,
        "samples": samples,
        "cpu_percent": round(cpu_percent, 1),
        "max_queue_fill": round(max_fill, 3),
        "peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
