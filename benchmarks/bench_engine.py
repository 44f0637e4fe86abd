"""Protocol engine speed: a whole 42-trial CMRR run on a fake clock, vs logging its events.

The engine (protocols.engine.ProtocolEngine) runs the packaged `cmrr` protocol (2 practice +
42 main trials) with a scripted participant: SPACE, the clip shown 40 ms later and played to
its end, two keys and an answer after 4 s, the neutral clip to its time limit. Nothing waits:
the clock is moved by hand, so the figure is the engine's own cost. Baseline, in the same run:
the same events, segments and trial rows written straight into a fresh MemorySink (the floor
any engine pays to log what happened). `budget_s` is the 0.5 s a whole run was once allowed
in the test suite (a speed figure belongs here, not in a correctness test). The last line is
JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from protocols.dry_run import ManualClock, SilentPresenter
from protocols.engine import Phase, ProtocolEngine
from protocols.loader import load_protocol
from protocols.model import Protocol
from protocols.sinks import MemorySink

BUDGET_S = 0.5


def engine_run(protocol: Protocol, seed: int) -> tuple[float, MemorySink]:
    """Seconds for one scripted run, engine construction included; the sink it filled."""
    start = time.perf_counter()
    clock = ManualClock()
    sink = MemorySink(clock)
    engine = ProtocolEngine(protocol, sink, SilentPresenter(), seed=seed, clock=clock)
    engine.start()
    while not engine.done:
        while engine.phase in (Phase.INSTRUCTIONS, Phase.BLOCK_INTRO):
            engine.key("space", clock.advance(0.8))
        if engine.phase is not Phase.READY:
            continue
        clip = engine.trial.plan.clip
        engine.key("space", clock.advance(0.8))
        engine.clip_started(clock.advance(0.04))
        engine.tick(clock.advance(clip.duration / 2))
        engine.clip_finished(clock.advance(clip.duration / 2))
        clock.advance(4.0)
        for key in ("1", "5"):
            engine.key(key, clock.now)
        engine.answer("fear", 3, 7)
        engine.clip_started(clock.advance(0.03))
        engine.tick(clock.advance(protocol.timings.neutral_s))
    seconds = time.perf_counter() - start
    assert engine.phase is Phase.FINISHED and len(sink.trials) == 44, "the run did not finish"
    return seconds, sink


def logging_run(recorded: MemorySink) -> float:
    """Seconds to log the same events, segments and trial rows into a fresh sink."""
    start = time.perf_counter()
    clock = ManualClock()
    sink = MemorySink(clock)
    segments = iter(recorded.segments)
    for event in recorded.events:
        clock.now = event.time
        sink.event(event.kind, code=event.code, trial=event.trial, payload=event.payload)
        if event.kind == "stimulus_request":
            name, trial, _, _ = next(segments)
            sink.start_segment(name, trial)
        elif event.kind == "stimulus_offset":
            sink.stop_segment()
    for trial in recorded.trials:
        sink.add_trial(trial)
    seconds = time.perf_counter() - start
    assert len(sink.events) == len(recorded.events)
    return seconds


def main() -> None:
    """Time several runs of each and print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    protocol = load_protocol("cmrr", check_clips=False)
    engine_s: list[float] = []
    logging_s: list[float] = []
    result: dict[str, Any] = {}
    for run in range(args.runs):
        seconds, sink = engine_run(protocol, seed=11 + run)
        engine_s.append(seconds)
        logging_s.append(logging_run(sink))
        result = {"events": len(sink.events), "trials": len(sink.trials)}
    engine_median = statistics.median(engine_s)
    logging_median = statistics.median(logging_s)
    ratio = engine_median / logging_median
    print(f"{'run':<28}{'median ms':>11}{'best ms':>10}")
    print(f"{'engine, 44 trials':<28}{engine_median * 1e3:>11.2f}{min(engine_s) * 1e3:>10.2f}")
    print(f"{'logging the same events':<28}{logging_median * 1e3:>11.2f}"
          f"{min(logging_s) * 1e3:>10.2f}")
    print(f"{result['events']} events per run; engine / logging {ratio:.1f}x; "
          f"{engine_median / result['events'] * 1e6:.1f} us per event; "
          f"budget {BUDGET_S} s ({engine_median / BUDGET_S:.3f} of it)")
    print(json.dumps({
        "runs": args.runs,
        "events": result["events"],
        "trials": result["trials"],
        "engine_ms": round(engine_median * 1e3, 3),
        "engine_best_ms": round(min(engine_s) * 1e3, 3),
        "logging_ms": round(logging_median * 1e3, 3),
        "ratio": round(ratio, 2),
        "us_per_event": round(engine_median / result["events"] * 1e6, 2),
        "budget_s": BUDGET_S,
        "within_budget": engine_median < BUDGET_S,
    }))


if __name__ == "__main__":
    main()
