"""`melab analyze` at scale: the same simulated dataset with 1 and with 2 workers, one run.

Writes the dataset bench_dataset.py analyses (default 6 participants x 420 s, 7 trials,
320x240 at 50 fps; recordings/simulated/dataset.py) into a temporary folder, then analyses
it with analysis.pipeline.analyze (default options) twice: `--workers 1` (every task in this
process) and `--workers 2` (a dask.distributed LocalCluster of two single-threaded worker
processes). Prints the load of the machine around each run (os.getloadavg: this machine is
shared, and the speedup is only as good as the cores it was given) and, last, a JSON line:

{"workers": [1, 2], "seconds": [...], "speedup": ..., "identical": true,
 "peak_rss_MB_per_worker": ...}

identical: every result file is the same (analysis.compare). peak_rss_MB_per_worker: the
largest peak resident memory of a worker process during a task (Linux VmHWM, reset when a
task starts; recorded in OUT/per_session). Target: speedup >= 1.7 on 2 cores. ~10 minutes
on 2 idle cores.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.compare import differing_results
from analysis.pipeline import analyze
from analysis.resume import FOLDER
from analysis.scheduler import RunOptions
from recordings.simulated.dataset import DatasetConfig, write_dataset


def peak_rss(out: Path) -> float:
    """The largest peak RSS (MB) a task reported in an output folder's per-session results."""
    peaks = []
    for path in (out / FOLDER).glob("*.pkl"):
        with path.open("rb") as fh:
            result = pickle.load(fh)
        peaks += [c.peak_rss_mb for c in result.clips] + [result.signals.peak_rss_mb]
    return max(peaks)


def timed(sessions: Path, out: Path, workers: int) -> float:
    """Seconds for one analysis with this many workers (cluster start and stop included)."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    analyze([sessions], out, run=RunOptions(workers=workers), bar_file=sys.stderr)
    seconds = time.perf_counter() - start
    print(f"{workers} worker(s): {seconds:.1f} s (1-min load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after, {os.cpu_count()} cores)", file=sys.stderr)
    return seconds


def main() -> None:
    """Simulate, analyse with 1 then 2 workers, compare, print a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--participants", type=int, default=6)
    parser.add_argument("--seed", type=int, default=DatasetConfig.seed)
    parser.add_argument("--dir", type=Path, default=None, help="folder for the temporary data")
    args = parser.parse_args()
    base = args.dir or Path(__file__).resolve().parent / "out"
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_", dir=base))
    try:
        write_dataset(tmp / "sessions", DatasetConfig(participants=args.participants,
                                                      seed=args.seed))
        seconds = [timed(tmp / "sessions", tmp / f"out{w}", w) for w in (1, 2)]
        result = {
            "workers": [1, 2],
            "seconds": [round(s, 1) for s in seconds],
            "speedup": round(seconds[0] / seconds[1], 2),
            "identical": not differing_results(tmp / "out1", tmp / "out2"),
            "differing": differing_results(tmp / "out1", tmp / "out2"),
            "peak_rss_MB_per_worker": round(peak_rss(tmp / "out2"), 1),
            "peak_rss_MB_in_process": round(peak_rss(tmp / "out1"), 1),
            "load_average_after": round(os.getloadavg()[0], 2),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
