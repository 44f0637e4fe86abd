"""The analysis end to end on a simulated dataset: the figures issue 7 asks of it.

Writes `melab simulate-dataset` sessions (default 6 participants x 420 s, 7 trials, 640x480
at 50 fps; recordings/simulated/dataset.py) into a temporary folder, runs `melab analyze`'s code
(analysis.pipeline.analyze, default options) on them and prints:

- spotting (MEGC rules, IoU >= 0.5, pooled): micro, macro and overall F1, micro precision
  and recall, without and with the Candidate Clip Filter;
- 3-class and 7-class leave-one-subject-out UF1 per modality and fused.

Targets: micro F1 >= 0.8; the filter never lowering micro recall; 3-class fused UF1 >= 0.8
and >= every single modality. The last line printed is JSON (`targets_met` says whether all
hold). About 13 minutes on 2 cores under load (640x480 through the face tracker).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.pipeline import analyze
from app.cli.analyze import format_results
from recordings.simulated.dataset import DatasetConfig, write_dataset


def main() -> None:
    """Simulate, analyse, print the figures and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--participants", type=int, default=6)
    parser.add_argument("--seed", type=int, default=DatasetConfig.seed)
    parser.add_argument("--dir", type=Path, default=None, help="folder for the temporary data")
    args = parser.parse_args()
    base = args.dir or Path(__file__).resolve().parent / "out"
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_dataset_", dir=base))
    try:
        t0 = time.perf_counter()
        write_dataset(tmp / "sessions", DatasetConfig(participants=args.participants,
                                                      seed=args.seed))
        t1 = time.perf_counter()
        summary = analyze([tmp / "sessions"], tmp / "results")
        t2 = time.perf_counter()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(format_results(summary))
    spot, recognition = summary["spotting"], summary["recognition"]
    result: dict[str, object] = {
        "participants": args.participants,
        "seed": args.seed,
        "simulate_seconds": round(t1 - t0, 1),
        "analysis_seconds": round(t2 - t1, 1),
        **{k: spot[k] for k in ("micro_f1", "micro_precision", "micro_recall", "macro_f1",
                                "overall_f1", "micro_f1_ccf", "micro_precision_ccf",
                                "micro_recall_ccf")},
    }
    targets = [spot["micro_f1"] >= 0.8, spot["micro_recall_ccf"] >= spot["micro_recall"]]
    for task in ("3class", "7class"):
        if task not in recognition:
            targets.append(False)  # recognition skipped: a target not shown
            continue
        uf1 = {name: s["uf1"] for name, s in recognition[task].items()}
        result[f"uf1_{task}"] = {name: round(v, 4) for name, v in uf1.items()}
        if task == "3class":
            best = max(v for name, v in uf1.items() if name != "fused")
            targets += [uf1["fused"] >= 0.8, uf1["fused"] >= best]
    result["targets_met"] = all(targets)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
