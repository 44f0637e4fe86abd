"""Helpers shared by the session-store tests (deterministic content to check round trips)."""

from __future__ import annotations

import numpy as np

from core.devices import CameraInfo, Chunk, Frame, StreamInfo

EEG = StreamInfo(
    "EEG", "EEG", "synamps-1", tuple(f"E{i}" for i in range(1, 9)), ("uV",) * 8, 1000.0
)
PHYSIO = StreamInfo(
    "Physio", "Physio", "mp160-1", ("ECG", "EDA", "RSP", "SKT", "PPG"),
    ("mV", "uS", "V", "degC", "V"), 1000.0,
)
MARKERS = StreamInfo("Markers", "Markers", "mk-1", ("marker",), ("",), 0.0, "string")
CAMERA = CameraInfo("sim", "SIM0001", 96, 64, "bayer_rg8", 150.0, {"exposure_us": 2000})


def eeg_chunk(start: int, n: int, rate: float = 1000.0, channels: int = 8) -> Chunk:
    """Samples whose values encode (sample index, channel) so they can be checked."""
    index = np.arange(start, start + n)
    samples = (index[:, None] * 10 + np.arange(channels)[None, :]).astype(np.float32)
    device = index / rate
    return Chunk(samples, device, device + 100.0)


def frame_image(number: int, shape: tuple[int, int] = (64, 96)) -> np.ndarray:
    """A frame whose content is determined by its frame number."""
    rng = np.random.default_rng(number)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def make_frame(number: int, shape: tuple[int, int] = (64, 96)) -> Frame:
    """A frame with metadata derived from its number."""
    return Frame(frame_image(number, shape), number, number / 150.0, 100.0 + number / 150.0,
                 number % 2)
