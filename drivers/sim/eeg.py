"""64-channel EEG of a scenario (SynAmps/QuickCap-like, µV): 1/f background, band rhythms
and emotion-specific band-power changes for a few seconds after every expression apex."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.devices import StreamInfo
from drivers.sim.physio import TRIGGER_TYPE, shaped_noise
from drivers.sim.scenario import Scenario

EEG_LABELS_64: tuple[str, ...] = (
    "FP1", "FPZ", "FP2", "AF3", "AF4", "F7", "F5", "F3", "F1", "FZ", "F2", "F4", "F6", "F8",
    "FT7", "FC5", "FC3", "FC1", "FCZ", "FC2", "FC4", "FC6", "FT8", "T7", "C5", "C3", "C1",
    "CZ", "C2", "C4", "C6", "T8", "M1", "TP7", "CP5", "CP3", "CP1", "CPZ", "CP2", "CP4",
    "CP6", "TP8", "M2", "P7", "P5", "P3", "P1", "PZ", "P2", "P4", "P6", "P8", "PO7", "PO5",
    "PO3", "POZ", "PO4", "PO6", "PO8", "CB1", "O1", "OZ", "O2", "CB2",
)
EEG_UNIT = "µV"


def eeg_stream_info(name: str, source_id: str, channels: int, rate: float) -> StreamInfo:
    """The SynAmps stream as its sender declares it: EEG channels, then the trigger channel."""
    return StreamInfo(name, "EEG", source_id, (*EEG_LABELS_64[:channels], "TRIGGER"),
                      (EEG_UNIT,) * channels + ("",), rate,
                      channel_types=("EEG",) * channels + (TRIGGER_TYPE,))


# Rough 2-D scalp layout (x: left -1 .. right +1, y: back -1 .. nose +1), enough for smooth
# topographies; not a montage for source analysis.
_ROW_Y = {"FP": 0.95, "AF": 0.75, "F": 0.55, "FT": 0.3, "FC": 0.3, "T": 0.0, "C": 0.0,
          "TP": -0.3, "CP": -0.3, "M": -0.35, "P": -0.55, "PO": -0.75, "O": -0.95, "CB": -1.1}
_LATERAL = {"T": 0.95, "FT": 0.92, "TP": 0.92, "M": 1.05}  # row-specific outermost x

BANDS: dict[str, tuple[float, float]] = {  # centre Hz, spectral sd Hz of each rhythm
    "delta": (2.0, 0.8), "theta": (6.0, 1.0), "alpha": (10.0, 0.7),
    "beta": (20.0, 3.0), "gamma": (38.0, 4.0),
}
REGIONS: dict[str, tuple[float, float]] = {
    "frontal_left": (-0.45, 0.6), "frontal_mid": (0.0, 0.5), "frontal_right": (0.45, 0.6),
    "central": (0.0, 0.0), "temporal_left": (-0.9, 0.0), "temporal_right": (0.9, 0.0),
    "parietal": (0.0, -0.55), "occipital": (0.0, -0.95),
}
# Resting rhythm amplitude (µV rms at the region centre) per band; unlisted regions get
# the band default. Alpha is posterior, theta frontal-midline, beta over the motor strip.
_AMP_DEFAULT = {"delta": 2.5, "theta": 1.5, "alpha": 1.5, "beta": 1.5, "gamma": 0.5}
_AMP = {("alpha", "occipital"): 5.0, ("alpha", "parietal"): 4.0, ("alpha", "central"): 2.0,
        ("theta", "frontal_mid"): 2.5, ("beta", "central"): 2.5, ("delta", "frontal_mid"): 3.0,
        ("gamma", "temporal_left"): 0.9, ("gamma", "temporal_right"): 0.9,
        ("alpha", "frontal_left"): 2.5, ("alpha", "frontal_right"): 2.5}

# Relative amplitude change after an apex. Common to all: posterior alpha desynchronises
# and frontal-midline theta rises (effortful suppression). Valence shows as frontal alpha
# asymmetry (approach: left activation = less left alpha), arousal as beta/gamma.
_COMMON = {("alpha", "occipital"): -0.35, ("alpha", "parietal"): -0.3,
           ("theta", "frontal_mid"): 0.5}
_EMOTION_MOD: dict[str, dict[tuple[str, str], float]] = {
    "happiness": {("alpha", "frontal_left"): -0.4, ("gamma", "frontal_left"): 0.4,
                  ("gamma", "temporal_left"): 0.3},
    "surprise": {("theta", "frontal_mid"): 0.6, ("delta", "frontal_mid"): 0.6,
                 ("beta", "central"): 0.3},
    "sadness": {("alpha", "frontal_right"): -0.3, ("alpha", "occipital"): 0.25,
                ("delta", "parietal"): 0.3},
    "fear": {("alpha", "frontal_right"): -0.4, ("beta", "central"): 0.5,
             ("gamma", "temporal_right"): 0.6},
    "anger": {("alpha", "frontal_left"): -0.3, ("beta", "frontal_mid"): 0.5,
              ("gamma", "temporal_left"): 0.5, ("gamma", "temporal_right"): 0.5},
    "disgust": {("alpha", "frontal_right"): -0.4, ("theta", "temporal_right"): 0.5,
                ("gamma", "frontal_right"): 0.4},
    "contempt": {("alpha", "frontal_right"): -0.2, ("beta", "temporal_right"): 0.4,
                 ("theta", "frontal_right"): 0.3},
}
_EMOTION_GAIN = 1.6  # scales the emotion-specific part of _EMOTION_MOD
RESPONSE_S = (0.2, 3.0)  # band-power change window after an apex (start, end), seconds
_CONTROL_RATE = 50.0  # Hz of the envelope curves
_BLOCK = 32768  # samples per output block: bounds temporaries at ~20 MB


def electrode_xy(label: str) -> tuple[float, float]:
    """Approximate 2-D scalp position of a 10-10 label (x right, y towards the nose)."""
    row = label.rstrip("Z0123456789")
    tail = label[len(row):]
    y = _ROW_Y[row]
    if tail == "Z":
        return 0.0, y
    k = int(tail)
    step = 0.3 if row in ("FP", "O", "CB") else 0.19 * ((k + 1) // 2)
    x = _LATERAL.get(row, step)
    return (-x if k % 2 else x), y


def _topographies(labels: tuple[str, ...]) -> tuple[list[tuple[str, str]], np.ndarray]:
    """(band, region) sources and their (sources, channels) weights, amplitude included."""
    xy = np.array([electrode_xy(lb) for lb in labels])
    keys, rows = [], []
    for band in BANDS:
        for region, (cx, cy) in REGIONS.items():
            d2 = (xy[:, 0] - cx) ** 2 + (xy[:, 1] - cy) ** 2
            amp = _AMP.get((band, region), _AMP_DEFAULT[band])
            keys.append((band, region))
            rows.append(amp * np.exp(-d2 / (2 * 0.35**2)))
    return keys, np.array(rows)


def _smoothing(labels: tuple[str, ...]) -> np.ndarray:
    """Volume conduction: each channel sees a distance-weighted mix of its neighbours."""
    xy = np.array([electrode_xy(lb) for lb in labels])
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    w = np.exp(-d2 / (2 * 0.25**2))
    return w / np.sqrt((w**2).sum(0, keepdims=True))  # keeps each channel's variance


def _window(t: np.ndarray, start: float, end: float, ramp: float = 0.3) -> np.ndarray:
    a = np.clip((t - start) / ramp, 0.0, 1.0)
    b = np.clip((t - end) / ramp, 0.0, 1.0)
    return 0.5 * (1 - np.cos(np.pi * a)) * 0.5 * (1 + np.cos(np.pi * b))


def modulation_profile(emotion: str) -> dict[tuple[str, str], float]:
    """Relative amplitude change per (band, region) after an apex of this emotion."""
    mod = dict(_COMMON)
    for k, v in _EMOTION_MOD.get(emotion, {}).items():
        mod[k] = mod.get(k, 0.0) + _EMOTION_GAIN * v
    return mod


@dataclass
class EegRhythms:
    """The rhythm sources and resting envelopes of one simulate_eeg run, kept so that the
    scenario-driven part (band-power changes around episodes and expressions) can be redone
    for a changed scenario without drawing or computing anything else again."""

    keys: list[tuple[str, str]]  # (band, region) of each source
    topo: np.ndarray  # (sources, channels) float32 weights, amplitude included
    src: np.ndarray  # (n, sources) float32 unit-std narrow-band sources
    tc: np.ndarray  # control grid, physical seconds
    env: np.ndarray  # (len(tc), sources) resting envelopes, before any modulation
    rate: float
    start: float

    def envelopes(self, scenario: Scenario) -> np.ndarray:
        """The envelopes a scenario gives: resting ones times its modulation."""
        return self.env * np.maximum(1.0 + _modulation(scenario, self.tc, self.keys), 0.1)

    def change(self, old: Scenario, new: Scenario, first: int = 0
               ) -> tuple[int, np.ndarray]:
        """What moving from scenario `old` to `new` adds to the EEG, from sample `first` on.

        Returns (row, delta): delta (m, channels) float32 is to be added to samples
        row..row+m of simulate_eeg(old, ...); m is 0 when nothing changes there. Only the
        rows whose envelopes differ are computed, so a few new expressions cost milliseconds.
        """
        channels = self.topo.shape[1]
        d_env = self.envelopes(new) - self.envelopes(old)
        rows = np.flatnonzero(np.any(d_env != 0.0, axis=1))
        n = len(self.src)
        if rows.size == 0:
            return first, np.zeros((0, channels), np.float32)
        # Samples interpolate between neighbouring control points: widen by one step.
        t_lo = self.tc[max(int(rows[0]) - 1, 0)]
        t_hi = self.tc[min(int(rows[-1]) + 1, len(self.tc) - 1)]
        lo = max(first, int(np.floor((t_lo - self.start) * self.rate)), 0)
        hi = min(n, int(np.ceil((t_hi - self.start) * self.rate)) + 1)
        if hi <= lo:
            return first, np.zeros((0, channels), np.float32)
        t = self.start + np.arange(lo, hi) / self.rate
        cols = np.flatnonzero(np.any(d_env != 0.0, axis=0))
        d_blk = np.empty((hi - lo, len(cols)), dtype=np.float32)
        for j, c in enumerate(cols):
            d_blk[:, j] = np.interp(t, self.tc, d_env[:, c])
        return lo, (self.src[lo:hi, cols] * d_blk) @ self.topo[cols]


def _modulation(scenario: Scenario, tc: np.ndarray, keys: list[tuple[str, str]]) -> np.ndarray:
    """Relative envelope change per source on the control grid (0: resting)."""
    mod = np.zeros((len(tc), len(keys)))
    index = {k: i for i, k in enumerate(keys)}
    for ep in scenario.episodes:
        # A weaker, sustained version of the emotion's signature while the clip plays.
        w = _window(tc, ep.start, ep.end, ramp=5.0)
        for k, v in modulation_profile(ep.emotion).items():
            mod[:, index[k]] += 0.25 * v * w
    for e in scenario.expressions:
        scale = 1.0 if e.kind == "micro" else 0.7
        w = _window(tc, e.apex + RESPONSE_S[0], e.apex + RESPONSE_S[1])
        for k, v in modulation_profile(e.emotion).items():
            mod[:, index[k]] += scale * v * w
    return mod


def simulate_eeg(scenario: Scenario, rate: float = 1000.0, channels: int = 64,
                 start: float = 0.0) -> np.ndarray:
    """EEG samples (n, channels) float32 in µV, channel order EEG_LABELS_64[:channels].

    Sample k is at physical time start + k / rate (see simulate_physio for drifting clocks).
    Fewer channels simulate a smaller cap, not a slice of the 64-channel output.
    """
    return simulate_eeg_rhythms(scenario, rate, channels, start)[0]


def simulate_eeg_rhythms(scenario: Scenario, rate: float = 1000.0, channels: int = 64,
                         start: float = 0.0) -> tuple[np.ndarray, EegRhythms]:
    """simulate_eeg's samples and the rhythm parts that EegRhythms.change() redoes."""
    if not 1 <= channels <= len(EEG_LABELS_64):
        raise ValueError(f"channels must be 1..{len(EEG_LABELS_64)}")
    labels = EEG_LABELS_64[:channels]
    rng = np.random.default_rng([scenario.seed, 0x4545])  # own stream: 'EE'
    n = int(np.floor((scenario.duration - start) * rate))
    keys, topo = _topographies(labels)
    alpha_f = rng.uniform(9.5, 10.5)  # individual alpha frequency

    # Narrow-band rhythm sources, unit std, one per (band, region).
    src = np.empty((n, len(keys)), dtype=np.float32)
    for band, (fc, sd) in BANDS.items():
        fc = alpha_f if band == "alpha" else fc
        cols = [i for i, k in enumerate(keys) if k[0] == band]
        src[:, cols] = shaped_noise(rng, n, rate,
                                    lambda f, fc=fc, sd=sd: np.exp(-0.5 * ((f - fc) / sd) ** 2),
                                    columns=len(cols), dtype=np.float32)

    # Envelopes on a slow grid: waxing/waning (log-normal) times event/episode modulation.
    tc = start + np.arange(int(np.ceil(n / rate * _CONTROL_RATE)) + 2) / _CONTROL_RATE
    log_env = 0.25 * shaped_noise(rng, len(tc), _CONTROL_RATE,
                                  lambda f: 1.0 / (1.0 + (f / 0.3) ** 2), columns=len(keys))
    rest = np.exp(log_env - 0.5 * 0.25**2)
    rhythms = EegRhythms(keys, topo.astype(np.float32), src, tc, rest, rate, start)
    env = rhythms.envelopes(scenario)

    # Background: independent 1/f noise per channel, spread by volume conduction.
    bg_gain = 6.0  # µV rms
    def pink(f: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + (0.3 / np.maximum(f, 1e-9)) ** 2) / (1.0 + f) ** 0.75 / (
            1.0 + (f / 200.0) ** 4)
    mix = (_smoothing(labels) * bg_gain).astype(np.float32)
    line_topo = rng.uniform(0.1, 0.6, size=channels).astype(np.float32)  # 50 Hz pickup, µV
    line_phase = rng.uniform(0, 2 * np.pi)

    out = np.zeros((n, channels), dtype=np.float32)
    # Whole-length noise (a few channels at a time): blocks in time would leave seams.
    for c0 in range(0, channels, 16):
        c1 = min(channels, c0 + 16)
        noise = shaped_noise(rng, n, rate, pink, columns=c1 - c0, dtype=np.float32)
        for lo in range(0, n, _BLOCK):
            out[lo:lo + _BLOCK] += noise[lo:lo + _BLOCK] @ mix[c0:c1]
    topo32 = rhythms.topo
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        t = start + np.arange(lo, hi) / rate
        e_blk = np.empty((hi - lo, len(keys)), dtype=np.float32)
        for j in range(len(keys)):
            e_blk[:, j] = np.interp(t, tc, env[:, j])
        out[lo:hi] += (src[lo:hi] * e_blk) @ topo32
        out[lo:hi] += np.sin(2 * np.pi * 50.0 * t + line_phase).astype(np.float32)[:, None] \
            * line_topo[None, :]
    out += 0.5 * rng.standard_normal((n, channels), dtype=np.float32)  # amplifier noise
    return out, rhythms
