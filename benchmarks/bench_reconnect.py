"""How fast an LSL stream is read again after its sender restarts, and whether the loss is counted.

A 1000 Hz sender (drivers/sim/counter_streams.py: every sample numbered) is closed and opened
again with the same name and source_id, `--restarts` times, `--pause` s away each time,
while an LslInlet reads it as the recorder does (every 10 ms). Per restart: the samples the
new outlet sent before the first one read (the delay in ms at 1000 Hz), and whether the gap's
count equals the numbers missing. For comparison, liblsl's own recovery lost 0.52-1.0 s here.
Last line JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.clock import configure_lsl
from core.devices import StreamInfo
from drivers.lsl import LslInlet
from drivers.sim.counter_streams import CounterSender

RATE = 1000.0


def parse_args() -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds the sender is away")
    return parser.parse_args()


def read_index(inlet: LslInlet, chunks: list[np.ndarray], seconds: float) -> None:
    """Read like the recorder (every 10 ms) for a while; keeps the sample numbers."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        chunk = inlet.read()
        if chunk is not None:
            chunks.append(chunk.samples[:, 0].astype(np.int64))
        time.sleep(0.01)


def main() -> None:
    """Restart the sender again and again; print the delays and the loss counts."""
    args = parse_args()
    configure_lsl()
    logging.getLogger("drivers.lsl").setLevel(logging.ERROR)  # the outage lines, 2 a restart
    tag = uuid.uuid4().hex[:8]
    sender = CounterSender(StreamInfo(f"bench-restart-{tag}", "EEG", f"bench-restart-{tag}",
                                      ("n",), ("",), RATE))
    sender.start()
    inlet = LslInlet(source_id=sender.info.source_id)
    inlet.open(5.0)
    chunks: list[np.ndarray] = []
    gaps = []
    try:
        read_index(inlet, chunks, 1.0)
        for _ in range(args.restarts):
            sender.restart(args.pause)
            read_index(inlet, chunks, args.pause + 1.0)
            gaps += inlet.gaps()
    finally:
        sender.stop()
        inlet.close()
    index = np.concatenate(chunks)
    steps = np.diff(index)
    holes = np.flatnonzero(steps != 1)
    delays_ms = [int(index[h + 1] - first) / RATE * 1000
                 for h, first in zip(holes, sender.restarts, strict=True)]
    counted = [g.samples_lost for g in gaps] == [int(steps[h] - 1) for h in holes]
    print(f"{args.restarts} restarts ({args.pause:g} s away): read again after "
          f"{np.median(delays_ms):.0f} ms median, {max(delays_ms):.0f} ms max (of samples the "
          f"new outlet sent); loss counted exactly: {counted}")
    print(json.dumps({"restarts": args.restarts, "delays_ms": delays_ms,
                      "median_ms": float(np.median(delays_ms)), "max_ms": max(delays_ms),
                      "counted_exactly": counted}))


if __name__ == "__main__":
    main()
