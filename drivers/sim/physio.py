"""Peripheral physiology of a scenario (MP160-like ECG, EDA, RSP, SKT, PPG) and trigger levels.

NeuroKit2's simulators take one constant heart/breathing rate and place SCRs at random, so
the morphologies are rebuilt here beat by beat on an event-driven drive: ECGSYN's Gaussian
P-Q-R-S-T waves (the model behind nk.ecg_simulate), a two-wave pulse for PPG, Bateman-shaped
SCRs and a phase-integrated breathing wave. Heart rate rises after every ME apex, so the
heart-rate slope at apexes tends to exceed the clip mean (MMME 4.3), and EDA answers 1-3 s
later; how strongly, and how breathing and finger temperature move, depends on the
expression's emotion (PhasicSignature), which is what peripheral classifiers can learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft

from core.devices import StreamInfo
from drivers.sim.scenario import Scenario

PHYSIO_LABELS: tuple[str, ...] = ("ECG", "EDA", "RSP", "SKT", "PPG")
PHYSIO_UNITS: tuple[str, ...] = ("mV", "µS", "V", "°C", "V")
# Channel types as the XDF meta-data conventions name them; the trigger lines are STIM.
PHYSIO_TYPES: tuple[str, ...] = ("ECG", "EDA", "RESP", "TEMP", "PPG")
TRIGGER_TYPE = "STIM"
CONTROL_RATE = 100.0  # Hz of the slow drive curves; beats and breaths are integrated on it


def physio_stream_info(name: str, source_id: str, rate: float) -> StreamInfo:
    """The MP160 stream as its sender declares it: the signals, then the digital inputs."""
    return StreamInfo(name, "Physio", source_id, (*PHYSIO_LABELS, "DIGITAL"),
                      (*PHYSIO_UNITS, ""), rate, channel_types=(*PHYSIO_TYPES, TRIGGER_TYPE))

# Tonic change during a clip, per emotion: heart rate (bpm), breathing (breaths/min),
# skin temperature (°C). Fear/anger speed the heart; disgust slows it (orienting/aversion).
_TONIC = {
    "happiness": (3.0, 1.0, 0.00),
    "surprise": (4.0, 2.0, -0.05),
    "sadness": (1.0, -1.0, -0.10),
    "fear": (5.0, 3.0, -0.25),
    "anger": (4.0, 3.0, -0.15),
    "disgust": (-1.0, 1.0, -0.10),
    "contempt": (1.0, 0.0, -0.05),
}



@dataclass(frozen=True)
class PhasicSignature:
    """How the body answers one expression of an emotion, relative to the common response.

    Loosely after Kreibig's review of autonomic specificity (Biol. Psychol. 84, 2010):
    fear, anger and surprise answer with strong sympathetic bursts (big SCRs, faster heart),
    surprise with a gasp-like breath hold, happiness with faster, deeper breathing (held-in
    laughter) and warmer fingers, sadness and disgust with a weaker heart response and
    cooler fingers. The heart still speeds up after every expression (MMME 4.3).
    """

    hr: float = 1.0  # gain on the phasic heart-rate rise
    scr: float = 1.0  # gain on the SCR amplitude
    breath_bpm: float = 0.0  # transient change of breathing rate, breaths/min
    breath_hold: float = 1.0  # gain on the brief drop of breathing depth
    skt: float = 0.0  # slow finger-temperature change, °C


_PHASIC = {
    "happiness": PhasicSignature(hr=0.8, scr=0.5, breath_bpm=4.0, breath_hold=0.3, skt=0.04),
    "surprise": PhasicSignature(hr=1.2, scr=2.2, breath_bpm=-2.0, breath_hold=2.0, skt=-0.02),
    "sadness": PhasicSignature(hr=0.6, scr=0.6, breath_bpm=-2.0, breath_hold=0.8, skt=-0.02),
    "fear": PhasicSignature(hr=1.3, scr=1.4, breath_bpm=3.0, breath_hold=1.0, skt=-0.05),
    "anger": PhasicSignature(hr=1.2, scr=1.2, breath_bpm=3.0, breath_hold=0.8, skt=-0.03),
    "disgust": PhasicSignature(hr=0.6, scr=1.0, breath_bpm=-1.0, breath_hold=1.5, skt=-0.03),
    "contempt": PhasicSignature(hr=0.7, scr=0.7, breath_bpm=0.0, breath_hold=1.0, skt=-0.01),
}
_SCR_RISE_S, _SCR_DECAY_S = 0.75, 4.0  # Bateman SCR: rise ~1.5 s, half recovery ~3 s

# ECGSYN-like waves: (centre s after R, width s, amplitude mV, scales with sqrt(RR)?)
_ECG_WAVES = (
    (-0.20, 0.025, 0.15, False),  # P
    (-0.030, 0.008, -0.12, False),  # Q
    (0.0, 0.010, 1.20, False),  # R
    (0.032, 0.010, -0.28, False),  # S
    (0.27, 0.050, 0.32, True),  # T (QT stretches with RR, Bazett)
)


@dataclass(frozen=True)
class PhysioParams:
    """How strongly the body answers expressions.

    With the defaults ~70 % of ME apexes sit on a heart-rate slope above the clip mean as
    the analysis measures it (NeuroKit2 R-peaks -> monotone-cubic rate -> gradient; 72.8 %
    in `melab simulate-dataset --participants 6`) against ~50 % for random times; the MMME
    data showed 73 %. Raise hr_lead_s for more, lower hr_response_prob for fewer.
    """

    # Arousal leads the leak on the face, and the rate is only sampled once per beat: a rise
    # that began exactly at the apex would show at the apex only after the next R peak.
    hr_lead_s: float = 0.4
    hr_rise_s: float = 0.8  # kernel (1 - e^-t/rise) e^-t/decay peaks ~1.6 s after its start
    hr_decay_s: float = 5.0
    micro_hr_bpm: tuple[float, float] = (3.0, 6.0)  # peak phasic HR increase, uniform range
    macro_hr_bpm: tuple[float, float] = (5.0, 9.0)
    hr_response_prob: float = 1.0  # chance that an expression moves the heart at all
    rsa_bpm: float = 1.0  # respiratory sinus arrhythmia, bpm amplitude
    scr_latency_s: tuple[float, float] = (1.0, 3.0)  # SCR onset after the apex
    micro_scr_us: tuple[float, float] = (0.15, 0.4)
    macro_scr_us: tuple[float, float] = (0.3, 0.8)


@dataclass
class PhysioDrive:
    """Slow latent curves on a CONTROL_RATE grid plus the beat times that shape the signals."""

    t: np.ndarray  # physical seconds
    hr: np.ndarray  # designed instantaneous heart rate, bpm
    breaths: np.ndarray  # cumulative breathing cycles (fraction = phase in the cycle)
    resp_amp: np.ndarray  # breathing depth, V peak-to-peak
    arousal: np.ndarray  # 0..~1 sympathetic drive after expressions (PPG vasoconstriction)
    eda: np.ndarray  # skin conductance (tonic + SCRs), µS
    skt: np.ndarray  # skin temperature, °C
    beats: np.ndarray  # R-peak times, physical seconds
    scr_onsets: np.ndarray  # SCR onset times, physical seconds
    scr_amplitudes: np.ndarray  # µS


def shaped_noise(rng: np.random.Generator, n: int, rate: float,
                 gain: Callable[[np.ndarray], np.ndarray], columns: int = 0,
                 dtype: type[np.floating] = np.float64) -> np.ndarray:
    """Gaussian noise with amplitude spectrum `gain(f)`, unit std; (n,) or (n, columns)."""
    g = gain(np.fft.rfftfreq(n, 1.0 / rate))
    big = np.flatnonzero(g > 1e-6 * g.max())
    lo, hi = (int(big[0]), int(big[-1]) + 1) if big.size else (0, 0)
    tail = (columns,) if columns else ()
    # White noise has i.i.d. complex Gaussian Fourier coefficients: draw them directly (only
    # where the shape lets anything through) and skip the forward transform.
    spec = np.zeros((len(g), *tail), dtype=np.result_type(dtype, np.complex64))
    gg = g[lo:hi, None] if columns else g[lo:hi]
    spec[lo:hi].real = rng.standard_normal((hi - lo, *tail), dtype=dtype) * gg
    spec[lo:hi].imag = rng.standard_normal((hi - lo, *tail), dtype=dtype) * gg
    out = sfft.irfft(spec, n=n, axis=0, workers=-1)
    std = out.std(axis=0)
    out /= np.where(std > 0, std, 1.0)
    return out


def _band(lo: float, hi: float) -> Callable[[np.ndarray], np.ndarray]:
    # Smooth (raised) band edges avoid ringing that would show as periodic bursts.
    def g(f: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + (lo / np.maximum(f, 1e-9)) ** 4) / (1.0 + (f / hi) ** 4)
    return g


def _kernel_add(curve: np.ndarray, t: np.ndarray, start: float, kernel: np.ndarray,
                amp: float) -> None:
    """Add amp * kernel (sampled on the grid step) to curve from physical time `start`."""
    dt = t[1] - t[0]
    i0 = int(np.ceil((start - t[0]) / dt))
    if i0 >= len(t):
        return
    k = kernel[max(0, -i0):]
    i0 = max(i0, 0)
    m = min(len(k), len(t) - i0)
    curve[i0:i0 + m] += amp * k[:m]


def _rise_decay(dt: float, rise: float, decay: float, length: float, bateman: bool) -> np.ndarray:
    """Peak-normalised response kernel: (1-e^-t/r)e^-t/d, or Bateman e^-t/d - e^-t/r."""
    tau = np.arange(0.0, length, dt)
    if bateman:
        k = np.exp(-tau / decay) - np.exp(-tau / rise)
    else:
        k = (1.0 - np.exp(-tau / rise)) * np.exp(-tau / decay)
    return k / k.max()


def _ramp_window(t: np.ndarray, start: float, end: float, up: float, down: float) -> np.ndarray:
    """0..1 plateau over [start, end) with raised-cosine ramps (the body lags the clip)."""
    a = np.clip((t - start) / up, 0.0, 1.0)
    b = np.clip((t - end) / down, 0.0, 1.0)
    return 0.5 * (1 - np.cos(np.pi * a)) * 0.5 * (1 + np.cos(np.pi * b))


@dataclass
class _Latent:
    """The drive's curves on the CONTROL_RATE grid while responses are being added to them."""

    t: np.ndarray
    scl0: float  # the participant's resting skin conductance level, µS
    hr: np.ndarray  # heart rate without the phasic responses, bpm
    hr_phasic: np.ndarray  # heart-rate rises after expressions, bpm
    br: np.ndarray  # breathing rate, breaths/min
    resp_amp: np.ndarray  # breathing depth before the holds, V peak-to-peak
    resp_dip: np.ndarray  # fraction of breathing depth held back after expressions
    arousal: np.ndarray
    scl: np.ndarray  # tonic skin conductance, µS
    skt: np.ndarray  # resting skin temperature, °C
    skt_change: np.ndarray  # what clips and expressions add to it, °C
    scr_on: list[float] = field(default_factory=list)
    scr_amp: list[float] = field(default_factory=list)


def physio_drive(scenario: Scenario, params: PhysioParams | None = None) -> PhysioDrive:
    """The designed latent physiology of a scenario (deterministic from its seed)."""
    p = params or PhysioParams()
    rng = np.random.default_rng([scenario.seed, 0x5048])  # own stream: 'PH'
    lat = _resting(rng, scenario.duration)
    # Each episode and expression draws from its own generator (keyed by its index), so adding
    # one later (the reactive lab) leaves every other response, and the past, as it was.
    _add_clip_responses(lat, scenario)
    _add_expression_responses(lat, scenario, p)
    _add_spontaneous_scrs(lat, rng, scenario.duration)
    return _finish(lat, rng, p)


def _resting(rng: np.random.Generator, duration: float) -> _Latent:
    """Per-participant levels with slow drifts, Mayer waves and habituation; no responses yet."""
    fs = CONTROL_RATE
    n = int(np.ceil(duration * fs)) + 1
    t = np.arange(n) / fs
    hr0 = rng.uniform(64.0, 76.0)
    br0 = rng.uniform(13.0, 17.0)
    scl0 = rng.uniform(2.0, 8.0)
    skt0 = rng.uniform(32.0, 34.5)
    br = br0 + 1.0 * shaped_noise(rng, n, fs, _band(0.002, 0.03))
    resp_amp = 0.8 * (1.0 + 0.12 * shaped_noise(rng, n, fs, _band(0.002, 0.05)))
    hr = hr0 + 2.0 * shaped_noise(rng, n, fs, _band(0.002, 0.03))
    hr += 1.0 * shaped_noise(rng, n, fs, _band(0.07, 0.13))  # Mayer waves (LF band)
    skt = skt0 + 0.15 * shaped_noise(rng, n, fs, _band(0.0005, 0.005))
    scl = scl0 * (1.0 + 0.05 * shaped_noise(rng, n, fs, _band(0.0005, 0.01)))
    scl -= 0.04 * scl0 * t / max(duration, 1.0)  # habituation: conductance sinks over a session
    return _Latent(t=t, scl0=scl0, hr=hr, hr_phasic=np.zeros(n), br=br, resp_amp=resp_amp,
                   resp_dip=np.zeros(n), arousal=np.zeros(n), scl=scl, skt=skt,
                   skt_change=np.zeros(n))


def _add_clip_responses(lat: _Latent, scenario: Scenario) -> None:
    """Tonic changes while a clip plays (by its emotion) and an orienting SCR at its onset."""
    t = lat.t
    for i, ep in enumerate(scenario.episodes):
        r = np.random.default_rng([scenario.seed, 0x5048, 1, i])
        d_hr, d_br, d_skt = _TONIC.get(ep.emotion, (0.0, 0.0, 0.0))
        w = _ramp_window(t, ep.start, ep.end, 5.0, 8.0)
        lat.hr += d_hr * w
        lat.br += d_br * w
        lat.skt_change += d_skt * _ramp_window(t, ep.start, ep.end, 40.0, 60.0)
        lat.scl += r.uniform(0.03, 0.08) * lat.scl0 * _ramp_window(t, ep.start, ep.end, 10.0, 20.0)
        lat.scr_on.append(ep.start + r.uniform(1.2, 2.5))
        lat.scr_amp.append(r.uniform(0.2, 0.5))


def _add_expression_responses(lat: _Latent, scenario: Scenario, p: PhysioParams) -> None:
    """Each expression's phasic answer: heart, arousal, breath hold and rate, fingers, an SCR."""
    fs, t = CONTROL_RATE, lat.t
    k_hr = _rise_decay(1 / fs, p.hr_rise_s, p.hr_decay_s, 30.0, bateman=False)
    k_dip = _rise_decay(1 / fs, 0.3, 2.0, 10.0, bateman=False)  # breath held while suppressing
    k_breath = _rise_decay(1 / fs, 1.0, 4.0, 30.0, bateman=False)
    k_skt = _rise_decay(1 / fs, 3.0, 15.0, 90.0, bateman=False)  # fingers warm/cool slowly
    for j, e in enumerate(scenario.expressions):
        r = np.random.default_rng([scenario.seed, 0x5048, 2, j])
        micro = e.kind == "micro"
        sig = _PHASIC.get(e.emotion, PhasicSignature())
        amp = sig.hr * r.uniform(*(p.micro_hr_bpm if micro else p.macro_hr_bpm))
        amp *= float(r.random() < p.hr_response_prob)
        _kernel_add(lat.hr_phasic, t, e.apex - p.hr_lead_s, k_hr, amp)
        _kernel_add(lat.arousal, t, e.apex, k_hr, 1.0 if micro else 1.5)
        _kernel_add(lat.resp_dip, t, e.apex, k_dip, sig.breath_hold * r.uniform(0.2, 0.4))
        _kernel_add(lat.br, t, e.apex, k_breath, sig.breath_bpm * r.uniform(0.6, 1.4))
        _kernel_add(lat.skt_change, t, e.apex, k_skt, sig.skt * r.uniform(0.6, 1.4))
        lat.scr_on.append(e.apex + r.uniform(*p.scr_latency_s))
        lat.scr_amp.append(sig.scr * r.uniform(*(p.micro_scr_us if micro else p.macro_scr_us)))


def _add_spontaneous_scrs(lat: _Latent, rng: np.random.Generator, duration: float) -> None:
    """Non-specific SCRs at random times, ~1 per minute."""
    for t_ns in rng.uniform(0.0, duration, size=rng.poisson(duration / 60.0)):
        lat.scr_on.append(float(t_ns))
        lat.scr_amp.append(rng.uniform(0.05, 0.15))


def _finish(lat: _Latent, rng: np.random.Generator, p: PhysioParams) -> PhysioDrive:
    """Integrate breathing and beats, add sinus arrhythmia and SCRs: the final drive."""
    fs, t = CONTROL_RATE, lat.t
    hr = lat.hr + lat.hr_phasic
    breaths = rng.uniform(0, 1) + np.cumsum(np.clip(lat.br, 6.0, 30.0) / 60.0) / fs
    resp_amp = lat.resp_amp * (1.0 - np.clip(lat.resp_dip, 0.0, 0.8))
    # Respiratory sinus arrhythmia: the heart speeds up while breathing in.
    hr += p.rsa_bpm * (2.0 * _breath_wave(breaths) - 1.0)
    k_scr = _rise_decay(1 / fs, _SCR_RISE_S, _SCR_DECAY_S, 40.0, bateman=True)
    eda = lat.scl.copy()
    for on, a in zip(lat.scr_on, lat.scr_amp, strict=True):
        _kernel_add(eda, t, on, k_scr, a)
    eda = np.maximum(eda, 0.1)
    beats = _beat_times(rng, t, hr)
    return PhysioDrive(t, hr, breaths, resp_amp, lat.arousal, eda, lat.skt + lat.skt_change,
                       beats, np.asarray(lat.scr_on), np.asarray(lat.scr_amp))


def _beat_times(rng: np.random.Generator, t: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """R-peak times where the integrated rate crosses whole beats, plus ~4 ms jitter."""
    cycles = rng.uniform(0, 1) + np.concatenate(([0.0], np.cumsum(hr[:-1] / 60.0 * np.diff(t))))
    k = np.arange(np.ceil(cycles[0]), np.floor(cycles[-1]) + 1)
    beats = np.interp(k, cycles, t)
    beats = beats + rng.normal(0.0, 0.004, size=beats.shape)
    return np.sort(beats[(beats > t[0]) & (beats < t[-1])])


def _breath_wave(breaths: np.ndarray) -> np.ndarray:
    """Lung volume 0..1 over a breath: 40 % inhalation, 60 % exhalation."""
    u = np.mod(breaths, 1.0)
    inhale = 0.5 * (1 - np.cos(np.pi * u / 0.4))
    exhale = 0.5 * (1 + np.cos(np.pi * (u - 0.4) / 0.6))
    return np.where(u < 0.4, inhale, exhale)


def _place_beats(n: int, t0: float, rate: float, times: np.ndarray, pre: float, post: float,
                 shape: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Sum shape(tau, beat) over every beat on the sample grid; tau = sample time - beat time."""
    out = np.zeros(n)
    width = int(np.ceil((pre + post) * rate)) + 1
    for lo in range(0, len(times), 256):  # blocks bound the (beats x window) temporaries
        bt = times[lo:lo + 256]
        first = np.floor((bt - pre - t0) * rate).astype(np.int64)
        idx = first[:, None] + np.arange(width)[None, :]
        tau = t0 + idx / rate - bt[:, None]
        vals = shape(tau, np.arange(lo, lo + len(bt)))
        ok = (idx >= 0) & (idx < n)
        out += np.bincount(idx[ok], weights=vals[ok], minlength=n)
    return out


def simulate_physio(scenario: Scenario, rate: float = 1000.0, start: float = 0.0,
                    params: PhysioParams | None = None
                    ) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Samples (n, 5) float32 in order ECG, EDA, RSP, SKT, PPG, with labels and units.

    Sample k is taken at physical time start + k / rate up to the scenario's end; a device
    whose clock drifts passes its physical sampling rate (nominal * (1 + ppm * 1e-6)).
    """
    drive = physio_drive(scenario, params)
    rng = np.random.default_rng([scenario.seed, 0x5049])  # sensor noise only
    n = int(np.floor((scenario.duration - start) * rate))
    t = start + np.arange(n) / rate

    def at(curve: np.ndarray) -> np.ndarray:
        return np.interp(t, drive.t, curve)

    beats = drive.beats
    rr = np.diff(beats, prepend=beats[0] - 60.0 / drive.hr[0])
    breaths = at(drive.breaths)
    volume = _breath_wave(breaths)

    def ecg_shape(tau: np.ndarray, b: np.ndarray) -> np.ndarray:
        s = np.sqrt(rr[b])[:, None]
        v = np.zeros_like(tau)
        for mu, sd, a, stretch in _ECG_WAVES:
            m, w = (mu * s, sd * s) if stretch else (mu, sd)
            v += a * np.exp(-0.5 * ((tau - m) / w) ** 2)
        return v

    ecg = _place_beats(n, start, rate, beats, 0.35, 0.75, ecg_shape)
    ecg *= 1.0 + 0.06 * (volume - 0.5)  # the heart axis turns with breathing (ECGSYN)
    ecg += 0.04 * (volume - 0.5) + 0.01 * rng.standard_normal(n)

    # PPG: the pulse reaches the finger ~0.24 s after R, sooner when the heart races;
    # sympathetic arousal constricts the finger vessels and flattens the pulse.
    hr_b = np.interp(beats, drive.t, drive.hr)
    feet = beats + np.clip(0.24 - 0.002 * (hr_b - 70.0), 0.15, 0.30)
    amp_b = 0.6 * (1.0 - 0.3 * np.clip(np.interp(beats, drive.t, drive.arousal), 0, 1.5) / 1.5)

    def ppg_shape(tau: np.ndarray, b: np.ndarray) -> np.ndarray:
        s = np.sqrt(rr[b])[:, None]
        sys = np.exp(-0.5 * ((tau - 0.15 * s) / (0.055 * s)) ** 2)
        dia = 0.45 * np.exp(-0.5 * ((tau - 0.42 * s) / (0.10 * s)) ** 2)
        return amp_b[b][:, None] * (sys + dia)

    ppg = _place_beats(n, start, rate, feet, 0.1, 1.0, ppg_shape)
    ppg += 0.05 * (volume - 0.5) + 0.003 * rng.standard_normal(n)

    rsp = at(drive.resp_amp) * (volume - 0.5) + 0.005 * rng.standard_normal(n)
    eda = at(drive.eda) + 0.003 * rng.standard_normal(n)
    skt = at(drive.skt) + 0.002 * rng.standard_normal(n)
    out = np.column_stack([ecg, eda, rsp, skt, ppg]).astype(np.float32)
    return out, PHYSIO_LABELS, PHYSIO_UNITS


def trigger_channel(edge_times: np.ndarray, codes: np.ndarray, sample_times: np.ndarray,
                    width_s: float | np.ndarray = 0.01) -> np.ndarray:
    """Trigger levels (float32) at sample times: each code from its edge for its width (one
    for all edges or one per edge), else 0. Edges in time order, never overlapping (the box's
    rule; on overlap the later pulse wins).

    A sample at time s carries code c when edge <= s < edge + width, so the first sample at or
    after an edge is the first one to show it (EEG trigger / MP160 digital / camera GPI).
    """
    t = np.asarray(sample_times, dtype=np.float64)
    edges = np.asarray(edge_times, dtype=np.float64)
    if edges.size == 0:
        return np.zeros(t.shape, dtype=np.float32)
    ends = edges + np.broadcast_to(np.asarray(width_s, dtype=np.float64), edges.shape)
    last = np.searchsorted(edges, t, side="right") - 1
    safe = np.clip(last, 0, None)
    on = (last >= 0) & (t < ends[safe])
    return np.where(on, np.asarray(codes)[safe], 0).astype(np.float32)
