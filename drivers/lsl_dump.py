"""A stream's whole LSL header and some seconds of its data, written as they arrive.

What `melab lsl dump` writes to see what a real sender sends before writing its rig
profile (docs/rig-profiles.md): NAME.xml is `info().as_xml()` verbatim, NAME.csv the sender's
timestamp and every channel of each sample. Never overwrites: an existing file is an error.
"""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

from core.devices import DeviceError
from drivers.lsl import LslInlet
from drivers.lsl_query import StreamQuery


def dump_stream(query: str, folder: str | Path, seconds: float, timeout: float = 5.0
                ) -> tuple[Path, Path]:
    """Write the header and `seconds` of samples of the stream `query` selects; the paths."""
    inlet = LslInlet(**StreamQuery.parse(query).criteria())
    inlet.open(timeout)
    try:
        info = inlet.info
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", info.name) or "stream"
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        header, data = out / f"{stem}.xml", out / f"{stem}.csv"
        for path in (header, data):
            if path.exists():
                raise DeviceError(f"{path} exists; melab never overwrites: choose another --out")
        header.write_text(info.header_xml, encoding="utf-8")
        with data.open("x", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["timestamp", *info.channel_labels])
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                chunk = inlet.read()
                if chunk is not None:
                    for stamp, row in zip(chunk.device_time, chunk.samples, strict=True):
                        writer.writerow([repr(float(stamp)), *row])
                time.sleep(0.01)
    finally:
        inlet.close()
    return header, data
