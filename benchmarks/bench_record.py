"""The simulated lab at full resolution through the recorder: frames, losses, CPU, memory.

2040x1088 at 150 fps plus a 65-channel EEG and a 6-channel physiology stream at 1000 Hz over
real LSL (loopback), the trigger box over a pty pair, for 60 s ("base" run); the "extra" run
adds 4 LSL streams as a lab with an eye tracker and a stimulus PC has: 3 x 8 channels at
500 Hz and a marker stream (4 markers a second), each sample numbered so that any sample
missing from the session shows. Every run must show 0 dropped frames and 0 lost samples.
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
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.clock import configure_lsl
from core.devices import StreamInfo
from drivers.lsl import LslInlet
from drivers.sim.counter_streams import CounterSender
from drivers.sim.lab import SimLabConfig, SimulatedLab
from recordings.recorder import Recorder
from recordings.store.metadata import SessionMetadata
from recordings.store.reader import open_session

RUNS = ("base", "extra")
# The extra run's streams: (name, type, channels, rate); rate 0 is a marker stream.
EXTRA_STREAMS = (("Eye", "Gaze", 8, 500.0), ("Amp2", "EEG", 8, 500.0),
                 ("Resp2", "Physio", 8, 500.0), ("StimPC", "Markers", 1, 0.0))
MARKER_PERIOD_S = 0.25


def parse_args() -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="2040x1088")
    parser.add_argument("--fps", type=float, default=150.0)
    parser.add_argument("--runs", default=",".join(RUNS),
                        help=f"comma-separated runs among {', '.join(RUNS)}")
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = sorted(set(args.runs) - set(RUNS))
    if unknown or not args.runs:
        parser.error(f"--runs takes {', '.join(RUNS)}, not {args.runs}")
    return args


def extra_senders() -> list[CounterSender]:
    """The extra run's senders, started (unique source_ids: no clash with other runs here)."""
    instance = uuid.uuid4().hex[:8]
    senders = []
    for name, kind, channels, rate in EXTRA_STREAMS:
        info = StreamInfo(f"bench-{name}", kind, f"bench-{name}-{instance}",
                          tuple(f"ch{i + 1}" for i in range(channels)), ("",) * channels, rate,
                          "string" if rate == 0 else "float32")
        sender = CounterSender(info, marker_period=MARKER_PERIOD_S)
        sender.start()
        senders.append(sender)
    return senders


def numbering_holes(session: Any, senders: list[CounterSender]) -> int:
    """Samples missing between the first and last recorded of each numbered stream."""
    holes = 0
    for sender in senders:
        values = session.streams[sender.info.name].samples[:, 0]
        if sender.info.channel_format == "string":
            index = np.array([int(v.split()[1]) for v in values])
        else:
            index = values.astype(np.int64)
        holes += int((np.diff(index) - 1).sum()) if len(index) > 1 else 0
    return holes


def read_run(folder: Path, senders: list[CounterSender]
             ) -> tuple[int, int, int, int, dict[str, int], int]:
    """What the recorded session holds: frames, dropped, lost in queue, gaps in the frame
    numbers, samples per stream, holes in the extra streams' numbering."""
    with open_session(folder) as s:
        seg = s.segment("trial001")
        numbers = seg.column("frame_number")
        gaps = int(((numbers[1:] - numbers[:-1]) - 1).sum())
        samples = {name: len(st) for name, st in s.streams.items()}
        return (seg.n_frames, seg.dropped_frames, seg.lost_frames, gaps, samples,
                numbering_holes(s, senders))


def record_run(args: argparse.Namespace, run: str) -> dict[str, Any]:
    """Record the lab (plus the extra streams in the extra run); returns the figures."""
    width, height = (int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix=f"bench_record_{run}_", dir=args.dir))
    lab = SimulatedLab(SimLabConfig(seed=5, duration=max(20.0, args.seconds + 10), width=width,
                                    height=height, fps=args.fps, name_prefix="bench"))
    lab.start()
    senders = extra_senders() if run == "extra" else []
    process = psutil.Process()
    try:
        streams = {"eeg": lab.eeg_stream(), "physio": lab.physio_stream()}
        streams |= {s.info.name: LslInlet(source_id=s.info.source_id) for s in senders}
        recorder = Recorder(work / "session", SessionMetadata("bench", simulated=True),
                            streams=streams, camera=lab.camera(), trigger=lab.trigger_box())
        recorder.connect()
        recorder.start()
        recorder.start_segment("trial001", trial=1)
        cpu0, wall0 = process.cpu_times(), time.perf_counter()
        max_fill = 0.0
        while time.perf_counter() - wall0 < args.seconds:
            time.sleep(0.5)
            max_fill = max(max_fill, recorder.status().queue_fill)
        recorder.stop_segment()
        stats = recorder.stop()
        cpu1, wall1 = process.cpu_times(), time.perf_counter()
    finally:
        for sender in senders:
            sender.stop()
        lab.stop()
    cpu_percent = 100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (wall1 - wall0)
    frames, dropped, lost, gaps, samples, holes = read_run(work / "session", senders)
    shutil.rmtree(work, ignore_errors=True)
    samples_lost = sum(stats.samples_lost.values())
    print(f"[{run}] {args.seconds:g} s at {width}x{height}, {args.fps:g} fps: {frames} frames "
          f"({frames / args.seconds:.1f} fps), dropped {dropped}, lost in queue {lost}, "
          f"gaps in frame numbers {gaps}")
    print(f"[{run}] samples: {samples}, lost {samples_lost}, holes in the extra streams' "
          f"numbering {holes}; CPU {cpu_percent:.0f}% of one core; max queue fill {max_fill:.2f}")
    return {
        "run": run,
        "seconds": args.seconds,
        "width": width,
        "height": height,
        "streams": len(streams),
        "frames": frames,
        "expected_frames": int(args.seconds * args.fps),
        # Frames the camera dropped or the queue lost; both also show as gaps in the frame
        # numbers, reported apart as a cross-check (not added again).
        "dropped_frames": dropped + lost,
        "frame_number_gaps": gaps,
        "samples_lost": samples_lost,
        "extra_numbering_holes": holes,
        "samples": samples,
        "cpu_percent": round(cpu_percent, 1),
        "max_queue_fill": round(max_fill, 3),
    }


def main() -> None:
    """Record the simulated lab once per run and print the figures."""
    args = parse_args()
    configure_lsl()
    args.dir.mkdir(parents=True, exist_ok=True)
    runs = [record_run(args, run) for run in args.runs]
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps({"runs": runs, "peak_rss_MB": peak}))


if __name__ == "__main__":
    main()
