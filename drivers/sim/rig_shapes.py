"""The simulated lab's streams shaped like real senders (docs/rig-profiles.md).

What public sources say the real LSL streams look like, on the lab's own signals and trigger
lines: Curry 9's output (32 EEG leads, 3 undocumented extra channels, the trigger word with a
0xFF00 offset: idle 65280), a Neuroscan Acquire bridge (int32 raw ADC counts, no labels or
units, the event channel last idling at 65535, active low) and an AcqKnowledge Network Data
Transfer bridge (`Biopac Data`, type PsychoPhys, no nominal rate, every unit "microvolts", a
random source_id each run, the MP160's digital inputs as 8 one-bit channels after the analog
ones, and a marker stream carrying each code). The shipped rig profiles (rigs/) describe them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from core.devices import StreamInfo
from drivers.sim.eeg import EEG_LABELS_64

SHAPES = ("curry", "neuroscan", "acqknowledge")
CURRY_IDLE = 0xFF00  # Curry's trigger word: code + 65280
NEUROSCAN_IDLE = 0xFFFF  # the Acquire bridge's event channel at rest (lines active low)
COUNTS_PER_UV = 10.0  # the simulated Acquire bridge's raw counts: 0.1 µV per count
CURRY_EEG = tuple(lb for lb in EEG_LABELS_64 if lb not in ("M1", "M2", "CB1", "CB2"))[:32]
CURRY_EXTRA = ("X1", "X2", "X3")  # Curry's 3 extra channels: their meaning is not documented
BIOPAC_ANALOG = ("EKG", "GSR", "RSP", "SKT", "CH9")  # CH9: the PPG input, named by its number
BIOPAC_LINES = tuple(f"D{k}" for k in range(1, 9))


@dataclass(frozen=True)
class ShapedStreams:
    """The lab's EEG and physiology streams (and a marker stream) as one real set-up sends them."""

    shape: str
    eeg: StreamInfo
    physio: StreamInfo
    markers: StreamInfo | None = None

    def eeg_block(self, signal: np.ndarray, level: np.ndarray) -> np.ndarray:
        """The EEG samples this sender pushes for the lab's EEG (n, 64) and trigger level."""
        n_eeg = self.eeg.channel_count - 1
        if self.shape == "curry":
            return np.column_stack([signal[:, :n_eeg], CURRY_IDLE + level])
        if self.shape == "neuroscan":
            counts = np.rint(signal[:, :n_eeg] * COUNTS_PER_UV)
            return np.column_stack([counts, NEUROSCAN_IDLE - level])
        return np.column_stack([signal[:, :n_eeg], level])

    def physio_block(self, signal: np.ndarray, level: np.ndarray) -> np.ndarray:
        """The physiology samples for the lab's (n, 5) signals and trigger level."""
        if self.shape == "acqknowledge":
            bits = (level.astype(np.int64)[:, None] >> np.arange(8)) & 1
            return np.column_stack([signal, bits])
        return np.column_stack([signal, level])


def shaped_streams(shape: str, prefix: str, standard_eeg: StreamInfo, standard_physio: StreamInfo
                   ) -> ShapedStreams:
    """The streams of one shape (the lab's standard SynAmps / MP160 for the other device)."""
    if shape == "curry":
        labels = (*CURRY_EEG, *CURRY_EXTRA, "Trigger")
        eeg = StreamInfo(f"{prefix}CURRYStream", "EEG", f"{prefix}curry-{uuid.uuid4().hex[:8]}",
                         labels, ("uV",) * len(labels), standard_eeg.nominal_rate)
        return ShapedStreams(shape, eeg, standard_physio)
    if shape == "neuroscan":
        n = len(standard_eeg.channel_labels)
        eeg = StreamInfo(f"{prefix}Neuroscan Acquire", "EEG",
                         f"{prefix}acquire-{uuid.uuid4().hex[:8]}", ("",) * n, (),
                         standard_eeg.nominal_rate, "int32")
        return ShapedStreams(shape, eeg, standard_physio)
    if shape == "acqknowledge":
        labels = (*BIOPAC_ANALOG, *BIOPAC_LINES)
        physio = StreamInfo(f"{prefix}Biopac Data", "PsychoPhys", uuid.uuid4().hex, labels,
                            ("microvolts",) * len(labels), 0.0)
        markers = StreamInfo(f"{prefix}Biopac Events", "Markers", uuid.uuid4().hex, ("event",),
                             ("",), 0.0, "string")
        return ShapedStreams(shape, standard_eeg, physio, markers)
    raise ValueError(f"unknown stream shape {shape!r} (one of {', '.join(SHAPES)})")
