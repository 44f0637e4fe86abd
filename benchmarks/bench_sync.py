"""Alignment error of melab's trigger sync against ground truth, with an LSL-only baseline.

For several seeds, an offline simulated session (recordings/simulated/sync_session.py: device clock
offsets up to 1000 s, drift up to +-100 ppm, host-arrival jitter of 10 ms mean, a clock reset
of the EEG and of the camera, 2 % lost and some spurious edges, lost sync reports) is written
with the real session writer, then:

- melab: `recordings.sync.synchronize` (trigger edges, box round trips, interval fits);
- baseline, in the same run on the same files: what an LSL-only pipeline does (pyxdf):
  a robust fit of the LSL clock offsets plus dejittered timestamps for the EEG and
  peripheral streams (`recordings.sync.fallback.offsets_fallback`, melab's own fallback, after
  pyxdf-style `dejitter`); the camera has no LSL clock offsets, so its baseline is its host
  receipt times dejittered against the frame clock (`host_fallback`).

Errors are session_time minus the true time of each EEG sample, peripheral sample and camera
frame (exposure start), pooled over seeds: max, p99 and RMS of |error| in ms. The main run
stamps LSL samples on arrival at the sender (what LSL bridges do); a second run with exact
device-clock stamps shows the baseline's best case; a third has a busy host, which takes the
box's reports (SYNC frames, ACKs) in 15-25 ms late for the first 30 s. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recordings.simulated.sync_session import SyncSimConfig, SyncSimSession, simulate_session
from recordings.store.reader import open_session
from recordings.sync.clock_segments import clock_runs
from recordings.sync.dejitter import dejitter
from recordings.sync.fallback import host_fallback, offsets_fallback
from recordings.sync.synchronize import synchronize

STREAMS = (("eeg", "SynAmps"), ("physio", "MP160"), ("frame", "camera"))
# A busy host: the box's reports (SYNC frames, ACKs) reach melab 15-25 ms late for the first
# 30 s, then with their usual ~1.5 ms (what issue 12 measured under a saturated CPU).
BUSY_HOST = ((0.0, 30.0, 0.015, 0.025),)


def melab_times(folder: Path) -> tuple[dict[str, np.ndarray], float]:
    """Session times from melab's sync (as stored) and the seconds it took."""
    start = time.perf_counter()
    synchronize(folder)
    took = time.perf_counter() - start
    with open_session(folder) as s:
        out = {name: s.streams[name].times("session_time")[:] for name in ("SynAmps", "MP160")}
        out["camera"] = np.concatenate(
            [s.segment(n).column("session_time") for n in s.segment_names()])
    return out, took


def baseline_times(folder: Path) -> dict[str, np.ndarray]:
    """The LSL-only baseline: pyxdf-style clock offsets + dejitter; camera: host receipt."""
    out = {}
    with open_session(folder) as s:
        for name in ("SynAmps", "MP160"):
            st = s.streams[name]
            device = st.times("device_time")[:]
            host = st.times("host_time")[:]
            runs = clock_runs(device, host)
            regular = dejitter(device, runs, 1.0 / st.nominal_rate, force=True)
            times, fits, _ = offsets_fallback(regular, host, runs, st.clock_offsets)
            assert all(f.method == "lsl_offsets" for f in fits), [f.method for f in fits]
            out[name] = times
        device = np.concatenate([s.segment(n).column("device_time")
                                 for n in s.segment_names()])
        host = np.concatenate([s.segment(n).column("host_time") for n in s.segment_names()])
        runs = clock_runs(device, host)
        out["camera"] = host_fallback(device, host, runs)[0]
    return out


def stats(err_ms: np.ndarray) -> dict[str, float]:
    """max, p99 and RMS of |error| (ms)."""
    a = np.abs(err_ms)
    return {"max": float(a.max()), "p99": float(np.percentile(a, 99)),
            "rms": float(np.sqrt(np.mean(a**2)))}


def config(seed: int, duration: float, stamping: str, jitter: float,
           report_delays: tuple[tuple[float, float, float, float], ...] = ()) -> SyncSimConfig:
    """One benchmark session: the hard case of the tests, longer."""
    return SyncSimConfig(
        seed=seed, duration=duration, stamping=stamping, jitter_s=jitter, latency_s=0.005,
        max_drift_ppm=100.0, max_offset_s=1000.0, lost_edges=0.02, spurious_per_minute=1.0,
        lost_sync_reports=0.02, resets={"eeg": (0.6 * duration,), "camera": (0.3 * duration,)},
        dropped_frames=50, report_delays=report_delays)


def run(seeds: list[int], duration: float, stamping: str, jitter: float, work: Path,
        report_delays: tuple[tuple[float, float, float, float], ...] = ()) -> dict[str, object]:
    """Errors pooled over seeds for melab and the baseline, per stream."""
    errors: dict[str, dict[str, list[np.ndarray]]] = {"melab": {}, "baseline": {},
                                                      "debiased": {}}
    took = []
    for seed in seeds:
        folder = work / f"{stamping}-{seed}"
        sim: SyncSimSession = simulate_session(
            folder, config(seed, duration, stamping, jitter, report_delays))
        ours, seconds = melab_times(folder)
        base = baseline_times(folder)
        took.append(seconds)
        line = [f"  seed {seed} ({stamping} stamps{', busy host' if report_delays else ''}): "
                f"sync {seconds:.2f} s"]
        for key, name in STREAMS:
            e_ours = (ours[name] - sim.truth[name]) * 1e3
            e_base = (base[name] - sim.truth[name]) * 1e3
            errors["melab"].setdefault(key, []).append(e_ours)
            errors["baseline"].setdefault(key, []).append(e_base)
            # The baseline with its constant bias removed by an oracle (truth): its error
            # from jitter and offset noise alone.
            errors["debiased"].setdefault(key, []).append(e_base - np.median(e_base))
            line.append(f"{key} p99 {np.percentile(np.abs(e_ours), 99):.3f} ms "
                        f"(baseline {np.percentile(np.abs(e_base), 99):.2f} ms)")
        print(", ".join(line), flush=True)
        shutil.rmtree(folder, ignore_errors=True)
    out: dict[str, object] = {"sync_seconds": float(np.mean(took))}
    for method, per in errors.items():
        for key, parts in per.items():
            for stat, value in stats(np.concatenate(parts)).items():
                out[f"{method}_{key}_{stat}_ms"] = round(value, 4)
    return out


def parse_args() -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (1, 2, ...)")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds per session")
    parser.add_argument("--jitter", type=float, default=0.010,
                        help="mean host-arrival jitter (s)")
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent / "out")
    return parser.parse_args()


def print_runs(args: argparse.Namespace, n_seeds: int, m: dict[str, object], e: dict[str, object],
               b: dict[str, object]) -> None:
    """The human-readable table: the main run (m), exact device stamps (e), a busy host (b)."""
    print(f"\n{n_seeds} seeds x {args.duration:g} s, jitter {args.jitter * 1e3:g} ms mean; "
          "|error| in ms (max / p99 / RMS)")
    print(f"{'':<10}{'melab trigger sync':>28}{'LSL-only baseline':>28}"
          f"{'baseline, bias removed':>28}")
    for key, _ in STREAMS:
        cells = []
        for method in ("melab", "baseline", "debiased"):
            cells.append(" / ".join(f"{m[f'{method}_{key}_{s}_ms']:.3f}"
                                    for s in ("max", "p99", "rms")))
        print(f"{key:<10}" + "".join(f"{c:>28}" for c in cells))
    print(f"exact device stamps: eeg p99 {e['melab_eeg_p99_ms']:.3f} ms vs baseline "
          f"{e['baseline_eeg_p99_ms']:.3f} ms")
    print(f"busy host (box reports 15-25 ms late for the first 30 s): eeg p99 "
          f"{b['melab_eeg_p99_ms']:.3f} ms, physio p99 {b['melab_physio_p99_ms']:.3f} ms, "
          f"frame max {b['melab_frame_max_ms']:.3f} ms")


def main() -> None:
    """Run the benchmark and print the figures; last line JSON."""
    args = parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_sync_", dir=args.dir))
    seeds = list(range(1, args.seeds + 1))
    try:
        main_run = run(seeds, args.duration, "arrival", args.jitter, work)
        exact_run = run(seeds, args.duration, "device", args.jitter, work)
        busy_run = run(seeds, args.duration, "arrival", args.jitter, work, BUSY_HOST)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    m, e, b = main_run, exact_run, busy_run
    print_runs(args, len(seeds), m, e, b)

    def ratio(a: object, b: object) -> float:
        return round(float(a) / float(b), 1)  # type: ignore[arg-type]

    result = {
        "seeds": len(seeds), "duration_s": args.duration, "jitter_ms": args.jitter * 1e3,
        "eeg_p99_ms": m["melab_eeg_p99_ms"], "eeg_max_ms": m["melab_eeg_max_ms"],
        "eeg_rms_ms": m["melab_eeg_rms_ms"],
        "physio_p99_ms": m["melab_physio_p99_ms"], "physio_max_ms": m["melab_physio_max_ms"],
        "physio_rms_ms": m["melab_physio_rms_ms"],
        "frame_max_ms": m["melab_frame_max_ms"], "frame_p99_ms": m["melab_frame_p99_ms"],
        "frame_rms_ms": m["melab_frame_rms_ms"],
        "baseline_eeg_p99_ms": m["baseline_eeg_p99_ms"],
        "baseline_physio_p99_ms": m["baseline_physio_p99_ms"],
        "baseline_frame_p99_ms": m["baseline_frame_p99_ms"],
        "baseline_frame_max_ms": m["baseline_frame_max_ms"],
        "improvement": ratio(m["baseline_eeg_p99_ms"], m["melab_eeg_p99_ms"]),
        "improvement_physio": ratio(m["baseline_physio_p99_ms"], m["melab_physio_p99_ms"]),
        "improvement_frame": ratio(m["baseline_frame_p99_ms"], m["melab_frame_p99_ms"]),
        "debiased_baseline_eeg_p99_ms": m["debiased_eeg_p99_ms"],
        "improvement_vs_debiased": ratio(m["debiased_eeg_p99_ms"], m["melab_eeg_p99_ms"]),
        "exact_stamps_eeg_p99_ms": e["melab_eeg_p99_ms"],
        "exact_stamps_baseline_eeg_p99_ms": e["baseline_eeg_p99_ms"],
        "exact_stamps_improvement": ratio(e["baseline_eeg_p99_ms"], e["melab_eeg_p99_ms"]),
        "exact_stamps_frame_max_ms": e["melab_frame_max_ms"],
        "busy_host_eeg_p99_ms": b["melab_eeg_p99_ms"],
        "busy_host_physio_p99_ms": b["melab_physio_p99_ms"],
        "busy_host_frame_max_ms": b["melab_frame_max_ms"],
        "sync_seconds": round(float(m["sync_seconds"]), 2),  # type: ignore[arg-type]
    }
    result["targets_met"] = bool(
        result["eeg_p99_ms"] <= 0.5 and result["physio_p99_ms"] <= 0.5  # type: ignore[operator]
        and result["frame_max_ms"] <= 1.0 and result["improvement"] >= 10  # type: ignore[operator]
        and result["busy_host_eeg_p99_ms"] <= 0.5  # type: ignore[operator]
        and result["busy_host_physio_p99_ms"] <= 0.5)  # type: ignore[operator]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
