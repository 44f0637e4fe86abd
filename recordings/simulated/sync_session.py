"""An offline simulated session for synchronization: known clocks, edges and delays.

Writes a real session folder through recordings.session_writer.SessionWriter (what the
recorder writes), but computes every sample, frame and trigger-box report at once from one
physical timeline instead of running in real time, so a ten-minute session takes seconds and
the true session time of every stored sample and frame is known exactly.

What is simulated (physical time t; session clock = t0 + t, the host's LSL clock):

- Trigger box: a µs counter (DeviceClock "trigger": offset, drift). A sync train every
  sync_period on the box clock, event codes sent by the host (the recorder's clock probes plus
  the protocol's codes), a FIFO with pulse + gap per pulse like drivers/sim/trigger_box.py.
  The host logs each event with its send time and round trip (7-byte command up, 11-byte ACK
  down at `baud`, plus USB latency and jitter each way) and each sync pulse at receipt.
- EEG ("SynAmps": Cz + TRIGGER) and peripheral ("MP160": ECG + DIGITAL) at `rate` on their own
  clocks: offset, drift, resets (the device restarts: its counter starts from a new origin
  and data resume restart_gap_s later). The trigger channel holds the code while a pulse is
  high, sampled on the device's sample clock.
  Timestamps (`stamping`): "arrival" (what LSL bridges do: a block of samples is stamped on
  the sender's clock when it arrives, latency_s + gamma jitter of mean jitter_s after its last
  sample; earlier samples back-dated at the nominal rate) or "device" (the exact device-clock
  time of every sample). Host receipt: arrival plus a pull every pull_interval_s.
  LSL clock offsets every offset_period_s: host minus device clock, plus Laplace noise.
- Camera: frames at fps on the camera clock, device_time = exposure start, the GPI bit 0 = box
  line 8 latched at exposure start, host receipt 1/fps + latency_s + jitter later; split into
  segment files of segment_length_s.
- Faults: devices miss a fraction of pulses (lost_edges), see spurious pulses of random codes
  (spurious_per_minute), the host misses sync reports (lost_sync_reports) or takes the box's
  reports in late for a while (report_delays: a busy host).
- How a stream describes its trigger: no trigger channel (no_trigger), another label
  (trigger_labels), declared channel types (channel_types), eight single-line channels D1..D8
  (split_lines); timestamps on a clock its LSL clock offsets do not show (stamp_bias_s).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.codes import CAMERA_LINE, PROBE_CODE, SYNC_CODE
from core.devices import CameraInfo, Chunk, ClockOffset, Frame, StreamInfo
from drivers.sim.clocks import DeviceClock
from drivers.sim.physio import trigger_channel
from drivers.sim.scenario import make_scenario
from recordings.recorder import PROBE_INTERVAL_S, SYNC_PERIOD_S, TRIGGER_STREAM
from recordings.store.ground_truth import write_ground_truth
from recordings.store.metadata import SessionMetadata
from recordings.store.session_writer import SessionWriter

ROLES = ("eeg", "physio", "camera", "trigger")
STREAM_ROLES = ("eeg", "physio")  # the continuous streams, in the order they are written
STREAM_NAMES = {"eeg": "SynAmps", "physio": "MP160"}
STREAM_LABELS = {"eeg": ("Cz", "TRIGGER"), "physio": ("ECG", "DIGITAL")}
STREAM_UNITS = {"eeg": ("µV", ""), "physio": ("mV", "")}


@dataclass
class SyncSimConfig:
    """What to simulate; everything random is drawn from `seed`."""

    seed: int = 0
    duration: float = 120.0
    rate: float = 1000.0
    fps: float = 150.0
    width: int = 16
    height: int = 16
    t0: float = 5000.0  # session clock at physical time 0
    sync_period: float = SYNC_PERIOD_S
    pulse_width_ms: int = 10
    probe_interval_s: tuple[float, float] = PROBE_INTERVAL_S
    max_offset_s: float = 1000.0
    max_drift_ppm: float = 100.0
    latency_s: float = 0.005
    jitter_s: float = 0.010  # mean of the gamma-distributed host-arrival jitter
    stamping: str = "arrival"  # "arrival" (LSL bridge) or "device" (exact device clock)
    chunk_s: float = 0.02  # samples travel in blocks of this length
    pull_interval_s: float = 0.01
    offset_period_s: float = 5.0
    offset_noise_s: float = 3e-4  # Laplace scale of LSL clock-offset measurement errors
    baud: float = 115200.0
    usb_latency_s: float = 4e-4  # each way, plus exponential jitter of usb_jitter_s
    usb_jitter_s: float = 3e-4
    # (start, end, least, most): from physical time start to end (s) the host receives the
    # box's reports (SYNC frames and ACKs) later by a delay drawn from [least, most] (a busy
    # host); report_delays=((0, 30, 0.015, 0.025),) is the busy start of a recording
    report_delays: tuple[tuple[float, float, float, float], ...] = ()
    lost_edges: float = 0.0  # fraction of pulses each device misses
    spurious_per_minute: float = 0.0  # pulses of random codes only one device sees
    lost_sync_reports: float = 0.0  # fraction of sync notifications the host never gets
    resets: dict[str, tuple[float, ...]] = field(default_factory=dict)  # role -> times
    restart_gap_s: float = 0.5
    no_trigger: tuple[str, ...] = ()  # roles recorded without a trigger channel
    trigger_labels: dict[str, str] = field(default_factory=dict)  # role -> trigger label
    split_lines: tuple[str, ...] = ()  # roles whose 8 lines arrive as channels D1..D8 (0/5 V)
    # role -> declared type of every channel (LSL desc/channels/channel/type); none if absent
    channel_types: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # role -> seconds added to its timestamps that its LSL clock offsets do not show (a
    # device stamping with a hardware clock LSL does not know)
    stamp_bias_s: dict[str, float] = field(default_factory=dict)
    segment_length_s: float = 30.0
    dropped_frames: int = 0
    clocks: dict[str, DeviceClock] = field(default_factory=dict)  # overrides per role
    extra_codes: tuple[tuple[float, int], ...] = ()  # more host codes: (physical time, code)

    def clock(self, role: str, rng: np.random.Generator) -> DeviceClock:
        """The given clock of a role, or one drawn (offset 1..max s, drift +-max ppm)."""
        if role in self.clocks:
            return self.clocks[role]
        resets = tuple(self.resets.get(role, ()))
        return DeviceClock(
            offset_s=float(rng.uniform(1.0, self.max_offset_s)),
            drift_ppm=float(rng.uniform(-self.max_drift_ppm, self.max_drift_ppm)),
            latency_s=self.latency_s, jitter_s=self.jitter_s, resets=resets,
            reset_offsets_s=tuple(float(x) for x in rng.uniform(0, self.max_offset_s,
                                                                 len(resets))))


@dataclass
class SyncSimSession:
    """A written session and its ground truth: true session time of every row."""

    folder: Path
    config: SyncSimConfig
    clocks: dict[str, DeviceClock]
    truth: dict[str, np.ndarray]  # stream name or "camera" (segments in order) -> session time
    box_truth: np.ndarray  # true session time of every row of the TriggerBox stream
    streams: dict[str, str]  # role -> stream name


@dataclass
class _Pulse:
    rise: float  # physical time
    width: float
    code: int


def _levels(t: np.ndarray, pulses: list[_Pulse]) -> np.ndarray:
    """The trigger lines' code (int64) at physical times t (pulses never overlap)."""
    ordered = sorted(pulses, key=lambda p: p.rise)
    return trigger_channel(np.array([p.rise for p in ordered]),
                           np.array([p.code for p in ordered], dtype=np.int64), t,
                           np.array([p.width for p in ordered])).astype(np.int64)


class _Box:
    """The trigger box's schedule, the host's serial traffic and its log."""

    def __init__(self, cfg: SyncSimConfig, clock: DeviceClock, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.clock = clock
        self.rng = rng
        self.byte = 10.0 / cfg.baud
        self.width_us = cfg.pulse_width_ms * 1000

    def _usb(self) -> float:
        return self.cfg.usb_latency_s + float(self.rng.exponential(self.cfg.usb_jitter_s))

    def _report_delay(self, t_phys: float) -> float:
        """How much later than its USB latency the host takes in a report sent at t_phys."""
        return sum(float(self.rng.uniform(least, most))
                   for start, end, least, most in self.cfg.report_delays if start <= t_phys < end)

    def _box_us(self, t_phys: float) -> int:
        return math.floor(float(self.clock.device_time(t_phys)) * 1e6)

    def _phys(self, box_us: int) -> float:
        return float(self.clock.physical_time(box_us / 1e6))

    def run(self, intents: list[tuple[float, int]]) -> tuple[list[_Pulse], np.ndarray]:
        """Pulses on the lines and the host's log rows (code, rtt, box time, host, truth)."""
        cfg = self.cfg
        period_us = round(cfg.sync_period * 1000) * 1000
        first = self._box_us(0.5)
        end_us = self._box_us(cfg.duration - 0.05)
        sync_due = list(range(first, end_us, period_us))
        free_at = -(10**18)
        si = 0
        pulses: list[_Pulse] = []
        rows: list[tuple[float, float, float, float, float]] = []  # receipt order key first
        ack_at = -np.inf

        def place(due: int) -> int:
            nonlocal free_at
            rise = max(due, free_at)
            free_at = rise + 2 * self.width_us
            return rise

        def place_syncs_before(limit: int) -> None:
            nonlocal si
            while si < len(sync_due) and sync_due[si] <= limit:
                rise = place(sync_due[si])
                si += 1
                t = self._phys(rise)
                pulses.append(_Pulse(t, self.width_us / 1e6 / self.clock.rate, SYNC_CODE))
                receipt = t + 11 * self.byte + self._usb() + self._report_delay(t)
                if self.rng.random() >= cfg.lost_sync_reports:
                    rows.append((receipt, SYNC_CODE, np.nan, rise / 1e6, receipt, t))

        for intent, code in sorted(intents):
            send = max(intent, ack_at + 1e-4)
            arrive = send + 7 * self.byte + self._usb()
            due = self._box_us(arrive)
            if due > end_us:
                break
            place_syncs_before(due)
            rise = place(due)
            t = self._phys(rise)
            pulses.append(_Pulse(t, self.width_us / 1e6 / self.clock.rate, code))
            ack_at = t + 11 * self.byte + self._usb() + self._report_delay(t)
            rows.append((ack_at, code, ack_at - send, rise / 1e6, send, t))
        place_syncs_before(end_us)
        rows.sort(key=lambda r: r[0])
        return pulses, np.array([r[1:] for r in rows], dtype=np.float64).reshape(-1, 5)


def _device_pulses(pulses: list[_Pulse], cfg: SyncSimConfig, rng: np.random.Generator
                   ) -> list[_Pulse]:
    """What one device sees: a fraction lost, plus spurious pulses of random codes."""
    kept = [p for p in pulses if rng.random() >= cfg.lost_edges]
    n_spur = int(rng.poisson(cfg.spurious_per_minute * cfg.duration / 60))
    starts = np.array([p.rise for p in pulses]) if pulses else np.zeros(0)
    for _ in range(n_spur):
        for _attempt in range(20):
            t = float(rng.uniform(1.0, cfg.duration - 1.0))
            if not len(starts) or np.min(np.abs(starts - t)) > 0.05:
                kept.append(_Pulse(t, float(rng.uniform(0.001, 0.012)),
                                   int(rng.integers(1, 255))))
                break
    return sorted(kept, key=lambda p: p.rise)


def _origins(clock: DeviceClock) -> tuple[np.ndarray, np.ndarray]:
    """Physical start and device-time origin of each clock segment."""
    starts = np.concatenate(([0.0], np.asarray(clock.resets, float)))
    return starts, np.array([clock.offset_s, *clock.to_dict()["reset_offsets_s"]], float)


def _samples(clock: DeviceClock, rate: float, duration: float, restart_gap: float,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Device readings, physical times and clock segment of every sample of a ticking device."""
    starts, offsets = _origins(clock)
    ends = np.append(starts[1:], duration)
    dev, phys, seg = [], [], []
    for s, (r0, r1) in enumerate(zip(starts, ends, strict=True)):
        begin = r0 + (restart_gap if s else 0.0)
        phase = float(rng.uniform(0, 1 / rate))
        d_begin = float(clock.device_time(begin)) if s == 0 else offsets[s] + clock.rate * (
            begin - r0)
        n0 = math.ceil((d_begin - offsets[s] - phase) * rate)
        d_end = offsets[s] + clock.rate * (r1 - r0)
        n1 = math.ceil((d_end - offsets[s] - phase) * rate)
        d = offsets[s] + phase + np.arange(n0, n1) / rate
        t = clock.physical_time(d, s)
        keep = (t >= begin) & (t < r1)
        dev.append(d[keep])
        phys.append(t[keep])
        seg.append(np.full(int(keep.sum()), s))
    return np.concatenate(dev), np.concatenate(phys), np.concatenate(seg)


def _blocks(seg: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocks of `block` samples that never straddle a clock segment: id, position, length."""
    n = len(seg)
    first = np.concatenate(([0], np.flatnonzero(np.diff(seg)) + 1))
    local = np.arange(n) - np.repeat(first, np.diff(np.append(first, n)))
    new = (local % block) == 0
    block_id = np.cumsum(new) - 1
    length = np.bincount(block_id)
    return block_id, local % block, length[block_id]


def _delivery(phys: np.ndarray, seg: np.ndarray, block: int, cfg: SyncSimConfig,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: arrival at the sender (its block's) and host receipt (the next pull)."""
    block_id, pos, length = _blocks(seg, block)
    last_of = np.flatnonzero(pos == length - 1)
    delay = cfg.latency_s + (rng.gamma(2.0, cfg.jitter_s / 2.0, len(last_of))
                             if cfg.jitter_s > 0 else 0.0)
    arrival_block = np.maximum.accumulate(phys[last_of] + delay)
    arrival = arrival_block[block_id]
    phase = float(rng.uniform(0, cfg.pull_interval_s))
    net = 2e-4
    host = np.ceil((arrival + net - phase) / cfg.pull_interval_s) * cfg.pull_interval_s + phase
    return arrival, host


def _stamps(dev: np.ndarray, seg: np.ndarray, arrival: np.ndarray, block: int,
            clock: DeviceClock, rate: float, stamping: str) -> np.ndarray:
    """LSL timestamps: exact device readings, or the device clock at block arrival."""
    if stamping == "device":
        return dev.copy()
    starts, offsets = _origins(clock)
    at_arrival = offsets[seg] + clock.rate * (arrival - starts[seg])
    _, pos, length = _blocks(seg, block)
    return at_arrival - (length - 1 - pos) / rate


def _offset_records(clock: DeviceClock, cfg: SyncSimConfig, rng: np.random.Generator
                    ) -> list[ClockOffset]:
    """LSL time_correction records: host minus device clock at the measurement, plus noise."""
    out = []
    t = float(rng.uniform(0.5, cfg.offset_period_s))
    resets = np.asarray(clock.resets, float)
    while t < cfg.duration:
        since = t - resets[resets <= t].max() if np.any(resets <= t) else np.inf
        if since >= cfg.restart_gap_s:
            noise = float(rng.laplace(0.0, cfg.offset_noise_s))
            out.append(ClockOffset(cfg.t0 + t, t - float(clock.device_time(t)) + cfg.t0 + noise))
        t += cfg.offset_period_s
    return out


def _push_stream(writer: SessionWriter, name: str, values: np.ndarray, stamps: np.ndarray,
                 host: np.ndarray, piece: int = 20000) -> None:
    for i in range(0, len(stamps), piece):
        sl = slice(i, i + piece)
        writer.push_chunk(name, Chunk(values[sl], stamps[sl], host[sl]))


def simulate_session(folder: str | Path, config: SyncSimConfig | None = None
                     ) -> SyncSimSession:
    """Write a simulated session to `folder` (must not exist) and return its ground truth."""
    cfg = config or SyncSimConfig()
    if cfg.stamping not in ("arrival", "device"):
        raise ValueError(f"stamping must be 'arrival' or 'device', got {cfg.stamping!r}")
    folder = Path(folder)
    rng = np.random.default_rng([cfg.seed, 2024])
    clocks = {role: cfg.clock(role, np.random.default_rng([cfg.seed, i]))
              for i, role in enumerate(ROLES)}
    intents = _host_intents(cfg, rng)
    pulses, log = _Box(cfg, clocks["trigger"], rng).run(intents)
    infos = _stream_infos(cfg)
    now = [cfg.t0]
    writer = SessionWriter(folder, _metadata(cfg), [*infos, TRIGGER_STREAM],
                           clock=lambda: now[0])
    try:
        truth = {info.name: _write_stream(writer, cfg, role, info, clocks[role], pulses)
                 for role, info in zip(STREAM_ROLES, infos, strict=True)}
        writer.push_chunk(TRIGGER_STREAM.name, Chunk(
            log[:, [0, 1]].astype(np.float32), log[:, 2], cfg.t0 + log[:, 3]))
        truth["camera"] = _camera(writer, cfg, clocks["camera"], pulses, now)
    finally:
        now[0] = cfg.t0 + cfg.duration
        writer.close()
    gt = {"t0": cfg.t0, "clocks": {r: c.to_dict() for r, c in clocks.items()},
          "config": {k: v for k, v in asdict(cfg).items() if k != "clocks"},
          "note": "offline sync simulation (recordings/simulated/sync_session.py)"}
    write_ground_truth(folder, gt)
    return SyncSimSession(folder, cfg, clocks, truth, cfg.t0 + log[:, 4], dict(STREAM_NAMES))


def _host_intents(cfg: SyncSimConfig, rng: np.random.Generator) -> list[tuple[float, int]]:
    """What the host asks the box to send: the recorder's clock probes and protocol codes."""
    probes = [(0.1, PROBE_CODE)]
    while probes[-1][0] < cfg.duration:
        probes.append((probes[-1][0] + float(rng.uniform(*cfg.probe_interval_s)), PROBE_CODE))
    scenario = make_scenario(cfg.seed, max(cfg.duration, 20.0))
    intents = probes + [(m.t, m.code) for m in scenario.markers if m.t < cfg.duration - 0.1]
    return intents + [(float(t), int(c)) for t, c in cfg.extra_codes]


def _stream_infos(cfg: SyncSimConfig) -> list[StreamInfo]:
    """The EEG and peripheral streams: a signal, then the trigger channel (or lines, or AUX)."""
    infos = []
    for role in STREAM_ROLES:
        signal, trigger = STREAM_LABELS[role]
        if role in cfg.no_trigger:
            triggers: tuple[str, ...] = ("AUX",)
        elif role in cfg.split_lines:
            triggers = tuple(f"D{line}" for line in range(1, 9))
        else:
            triggers = (cfg.trigger_labels.get(role, trigger),)
        units = (STREAM_UNITS[role][0],) + ("V" if role in cfg.split_lines else "",) * len(
            triggers)
        infos.append(StreamInfo(STREAM_NAMES[role], role.upper() if role == "eeg" else "Physio",
                                f"sync-sim-{role}-{cfg.seed}", (signal, *triggers), units,
                                cfg.rate, channel_types=cfg.channel_types.get(role, ())))
    return infos


def _metadata(cfg: SyncSimConfig) -> SessionMetadata:
    """Session metadata with the trigger box's settings, as the recorder stores them."""
    metadata = SessionMetadata("SYNCSIM", simulated=True, notes="offline sync simulation")
    metadata.devices = {"trigger": {"type": "simulated", "sync_period": cfg.sync_period,
                                    "pulse_width_ms": cfg.pulse_width_ms, "baud": cfg.baud,
                                    "probe_code": PROBE_CODE}}
    return metadata


def _write_stream(writer: SessionWriter, cfg: SyncSimConfig, role: str, info: StreamInfo,
                  clock: DeviceClock, pulses: list[_Pulse]) -> np.ndarray:
    """One ticking device's samples, stamps and clock offsets; returns their true times."""
    rng = np.random.default_rng([cfg.seed, 10 + len(role)])
    block = max(1, round(cfg.chunk_s * cfg.rate))
    dev, phys, seg = _samples(clock, cfg.rate, cfg.duration, cfg.restart_gap_s, rng)
    arrival, host = _delivery(phys, seg, block, cfg, rng)
    stamps = _stamps(dev, seg, arrival, block, clock, cfg.rate, cfg.stamping) + (
        cfg.stamp_bias_s.get(role, 0.0))
    values = np.zeros((len(dev), info.channel_count), np.float32)
    values[:, 0] = np.sin(2 * np.pi * 10 * phys).astype(np.float32)
    if role not in cfg.no_trigger:
        code = _levels(phys, _device_pulses(pulses, cfg, rng))
        if role in cfg.split_lines:  # MP160 digital inputs: 0 or 5 V per line
            values[:, 1:] = 5.0 * ((code[:, None] >> np.arange(8)) & 1)
        else:
            values[:, 1] = code
    _push_stream(writer, info.name, values, stamps, cfg.t0 + host)
    for record in _offset_records(clock, cfg, rng):
        writer.push_clock_offset(info.name, record)
    return cfg.t0 + phys


def _camera(writer: SessionWriter, cfg: SyncSimConfig, clock: DeviceClock,
            pulses: list[_Pulse], now: list[float]) -> np.ndarray:
    """Frames in segment files; returns the true session time of every stored frame."""
    rng = np.random.default_rng([cfg.seed, 99])
    dev, phys, seg = _samples(clock, cfg.fps, cfg.duration, cfg.restart_gap_s, rng)
    numbers = np.zeros(len(dev), np.int64)
    for s in np.unique(seg):
        m = seg == s
        numbers[m] = np.arange(1, int(m.sum()) + 1)
    keep = np.ones(len(dev), bool)
    if cfg.dropped_frames:
        keep[rng.choice(np.arange(10, len(dev) - 10), cfg.dropped_frames, replace=False)] = False
    seen = _device_pulses(pulses, cfg, rng)
    gpi = (_levels(phys, seen) & CAMERA_LINE) != 0
    delay = 1 / cfg.fps + cfg.latency_s + rng.gamma(2.0, cfg.jitter_s / 2.0, len(dev))
    host = cfg.t0 + np.maximum.accumulate(phys + delay)
    info = CameraInfo("melab offline sync sim", f"SYNC{cfg.seed:04d}", cfg.width, cfg.height,
                      "mono8", cfg.fps, {"gpi_sync_mask": 1, "simulated": True,
                                         "exposure_us": int(0.8e6 / cfg.fps)})
    image = np.zeros((cfg.height, cfg.width), np.uint8)
    bounds = np.arange(0.0, cfg.duration, cfg.segment_length_s)
    truths = []
    for index, start in enumerate(bounds, 1):
        sel = np.flatnonzero(keep & (phys >= start) & (phys < start + cfg.segment_length_s))
        if not len(sel):
            continue
        name = f"segment{index:03d}"
        now[0] = cfg.t0 + start
        segment = writer.start_segment(name, info, trial=index)
        for i in sel:
            segment.push_frame(Frame(image, int(numbers[i]), float(dev[i]), float(host[i]),
                                     int(gpi[i])), timeout=30.0)
        now[0] = cfg.t0 + min(cfg.duration, start + cfg.segment_length_s)
        writer.stop_segment(name)
        truths.append(cfg.t0 + phys[sel])
    return np.concatenate(truths) if truths else np.zeros(0)
