"""Simulated device clocks: offset, drift, resets and the host-arrival delay of each sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DeviceClock:
    """How one device's clock relates to physical time, and how late its data reach the host.

    Segment k starts at physical time r_k (r_0 = 0, then each entry of `resets`) with device
    time o_k (o_0 = offset_s, then `reset_offsets_s`, 0.0 when not given: a restarted counter
    begins at zero), and runs as t_dev = o_k + (1 + drift_ppm * 1e-6) * (t_phys - r_k).
    """

    offset_s: float = 0.0
    drift_ppm: float = 0.0
    latency_s: float = 0.0
    jitter_s: float = 0.0
    resets: tuple[float, ...] = ()
    reset_offsets_s: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if list(self.resets) != sorted(self.resets) or any(r <= 0 for r in self.resets):
            raise ValueError("resets must be increasing physical times > 0")
        if self.reset_offsets_s and len(self.reset_offsets_s) != len(self.resets):
            raise ValueError("reset_offsets_s needs one offset per reset")
        if self.latency_s < 0 or self.jitter_s < 0:
            raise ValueError("latency_s and jitter_s must be >= 0")

    @property
    def rate(self) -> float:
        """Device seconds per physical second."""
        return 1.0 + self.drift_ppm * 1e-6

    def _starts(self) -> np.ndarray:
        return np.concatenate(([0.0], np.asarray(self.resets, dtype=np.float64)))

    def _offsets(self) -> np.ndarray:
        later = self.reset_offsets_s or (0.0,) * len(self.resets)
        return np.concatenate(([self.offset_s], np.asarray(later, dtype=np.float64)))

    def segment_of(self, t_phys: np.ndarray | float) -> np.ndarray:
        """Index of the clock segment (0 before the first reset) each physical time falls in."""
        return np.searchsorted(np.asarray(self.resets, dtype=np.float64),
                               np.asarray(t_phys, dtype=np.float64), side="right")

    def device_time(self, t_phys: np.ndarray | float) -> np.ndarray:
        """Device clock reading at physical times `t_phys` (piecewise linear across resets)."""
        t = np.asarray(t_phys, dtype=np.float64)
        seg = self.segment_of(t)
        return self._offsets()[seg] + self.rate * (t - self._starts()[seg])

    def physical_time(self, t_dev: np.ndarray | float, segment: int = 0) -> np.ndarray:
        """Inverse of device_time within one segment (device time alone is ambiguous)."""
        t = np.asarray(t_dev, dtype=np.float64)
        return self._starts()[segment] + (t - self._offsets()[segment]) / self.rate

    def host_arrival(self, t_phys: np.ndarray | float, rng: np.random.Generator,
                     monotonic: bool = True) -> np.ndarray:
        """Host receipt times: t_phys + latency + gamma jitter (mean jitter_s, never negative).

        Samples of one stream travel in order over one connection, so by default a late
        sample holds back the ones after it (monotonic=True).
        """
        t = np.asarray(t_phys, dtype=np.float64)
        delay = np.full(t.shape, self.latency_s)
        if self.jitter_s > 0:
            # Gamma(k=2) is skewed right like network/USB delays and is >= 0 by construction.
            delay = delay + rng.gamma(2.0, self.jitter_s / 2.0, size=t.shape)
        out = t + delay
        if monotonic and out.ndim == 1 and out.size:
            out = np.maximum.accumulate(out)
        return out

    def segments(self, end_phys: float) -> list[dict[str, float]]:
        """Ground-truth fit per segment: t_dev = a + b * t_phys on [start, end)."""
        starts = self._starts()
        ends = np.append(starts[1:], end_phys)
        return [{"start_phys": float(s), "end_phys": float(e),
                 "a": float(o - self.rate * s), "b": self.rate}
                for s, e, o in zip(starts, ends, self._offsets(), strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe ground truth of this clock."""
        return {"offset_s": self.offset_s, "drift_ppm": self.drift_ppm,
                "latency_s": self.latency_s, "jitter_s": self.jitter_s,
                "resets": list(self.resets),
                "reset_offsets_s": list(self._offsets()[1:].tolist())}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceClock:
        """Rebuild a clock from to_dict() output."""
        return cls(float(d["offset_s"]), float(d["drift_ppm"]), float(d["latency_s"]),
                   float(d["jitter_s"]), tuple(d.get("resets", ())),
                   tuple(d.get("reset_offsets_s", ())))


def random_clock(rng: np.random.Generator, max_offset_s: float = 1000.0,
                 max_drift_ppm: float = 50.0, latency_s: float = 0.005,
                 jitter_s: float = 0.001, resets: tuple[float, ...] = ()) -> DeviceClock:
    """A clock with uniform random offset in [0, max_offset_s) and drift in ±max_drift_ppm."""
    offset = float(rng.uniform(0.0, max_offset_s))
    drift = float(rng.uniform(-max_drift_ppm, max_drift_ppm))
    # A restarted device counts from a new arbitrary origin, like after a power cycle.
    reset_offsets = tuple(float(x) for x in rng.uniform(0.0, max_offset_s, size=len(resets)))
    return DeviceClock(offset, drift, latency_s, jitter_s, tuple(resets), reset_offsets)
