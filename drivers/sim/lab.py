"""The simulated lab: one physical timeline driving LSL outlets, a camera and a trigger box.

Every simulated device reaches melab the way the real one does: the "SynAmps" and "MP160"
streams are real LSL outlets on loopback, the trigger box is a SerialTriggerBox talking over
a real pty pair (socat) to a simulated box, and the camera implements drivers.interfaces.Camera.
Physical time t is the session clock minus the lab's start time t0.

By default the participant follows the lab's own scenario timeline (drivers.sim.scenario).
A reactive lab (SimLabConfig.reactive) instead starts with a calm participant and reacts to
the clips a protocol really plays: stimulus() draws expressions inside each clip window, and
the face, the EEG and the physiology all answer them (see stimulus()).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from bisect import bisect_right
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.clock import local_clock
from core.codes import CAMERA_LINE
from core.devices import CameraInfo, CameraLosses, Frame
from core.expressions import EMOTION_AUS
from drivers.lsl import LslInlet
from drivers.lsl_outlet import LslOutlet
from drivers.outlet_threads import OutletThreads
from drivers.sim.clocks import DeviceClock
from drivers.sim.eeg import EegRhythms, eeg_stream_info, simulate_eeg, simulate_eeg_rhythms
from drivers.sim.expression import Expression
from drivers.sim.face import FaceRenderer
from drivers.sim.physio import physio_stream_info, simulate_physio, trigger_channel
from drivers.sim.ptypair import PtyPair
from drivers.sim.rig_shapes import shaped_streams
from drivers.sim.scenario import (
    Episode,
    Scenario,
    expressions_for_clip,
    expressions_on_camera,
    make_scenario,
)
from drivers.sim.trigger_box import Edge, SimTriggerBox
from drivers.trigger import SerialTriggerBox

log = logging.getLogger(__name__)

BODY_LAG_S = 1.0  # the body's tonic answer to a clip starts this long after its onset
REACTION_MARGIN_S = 1.0  # no expression starts sooner than this after the lab hears of a clip

FLAT_EEG_UV = 12.5  # what a channel without its electrode sends (a constant offset)


@dataclass
class SimLabConfig:
    """What to simulate; everything random is drawn from `seed`."""

    seed: int = 1
    duration: float = 60.0  # seconds of scenario (the lab stops producing after it)
    width: int = 640
    height: int = 480
    fps: float = 150.0
    pixel_format: str = "bayer_rg8"
    eeg_channels: int = 64
    rate: float = 1000.0
    chunk_interval: float = 0.02  # seconds between LSL pushes
    micro_per_minute: float = 3.0
    macro_per_minute: float = 1.0
    name_prefix: str = ""  # distinguishes concurrent labs (tests)
    clocks: dict[str, DeviceClock] = field(default_factory=dict)
    # True: no scenario timeline; expressions come only in answer to stimulus() (protocol clips),
    # at micro/macro_per_minute of clip time, at least one ME per clip.
    reactive: bool = False
    reaction_lead: float = 1.5  # seconds into a clip before its first expression may start
    # "": the lab's own SynAmps and MP160 streams; else a real sender's shape
    # (drivers.sim.rig_shapes.SHAPES: curry, neuroscan, acqknowledge).
    shape: str = ""
    # EEG channels (labels) whose electrode is off: they send a constant FLAT_EEG_UV, as a
    # disconnected input does (to try the console's channel flags, docs/console.md).
    flat_eeg: tuple[str, ...] = ()

    def clock(self, role: str) -> DeviceClock:
        """The given clock for a device, or one drawn from the seed."""
        if role in self.clocks:
            return self.clocks[role]
        rng = np.random.default_rng([self.seed, sum(map(ord, role))])
        return DeviceClock(
            offset_s=float(rng.uniform(10, 1000)),
            drift_ppm=float(rng.uniform(-50, 50)),
            latency_s={"camera": 0.004, "trigger": 0.0}.get(role, 0.02),
            jitter_s={"camera": 0.001, "trigger": 0.0}.get(role, 0.005),
        )


class SimulatedLab:
    """Runs the simulated devices in real time; hand its drivers to the Recorder."""

    def __init__(self, config: SimLabConfig | None = None) -> None:
        self.config = cfg = config or SimLabConfig()
        if cfg.reactive:  # a calm participant until the first clip (see stimulus())
            self.scenario = Scenario(cfg.seed, float(cfg.duration))
        else:
            self.scenario = make_scenario(
                cfg.seed, cfg.duration, micro_per_minute=cfg.micro_per_minute,
                macro_per_minute=cfg.macro_per_minute,
            )
        self.clocks = {role: cfg.clock(role) for role in ("eeg", "physio", "camera", "trigger")}
        prefix = cfg.name_prefix
        # A unique source_id per lab: inlets find this lab's streams even when another
        # process on the machine runs a simulated lab with the same stream names.
        instance = uuid.uuid4().hex[:8]
        self.eeg_info = eeg_stream_info(f"{prefix}SynAmps",
                                        f"{prefix}sim-synamps-{cfg.seed}-{instance}",
                                        cfg.eeg_channels, cfg.rate)
        self.physio_info = physio_stream_info(f"{prefix}MP160",
                                              f"{prefix}sim-mp160-{cfg.seed}-{instance}", cfg.rate)
        self.shaped = (shaped_streams(cfg.shape, prefix, self.eeg_info, self.physio_info)
                       if cfg.shape else None)
        if self.shaped is not None:
            self.eeg_info, self.physio_info = self.shaped.eeg, self.shaped.physio
        self._marker_outlet: LslOutlet | None = None
        # What the devices sample: the scenario itself, or (reactive) the body's version of it.
        self._drive_episodes: list[Episode] = []  # in the order added: fixes their random draws
        self._drive_expressions: list[Expression] = []
        self._rhythms: EegRhythms | None = None
        if cfg.reactive:
            eeg, self._rhythms = simulate_eeg_rhythms(self._drive(), cfg.rate, cfg.eeg_channels)
            physio = simulate_physio(self._drive(), cfg.rate)[0]
        else:
            eeg = simulate_eeg(self.scenario, cfg.rate, cfg.eeg_channels)
            physio = simulate_physio(self.scenario, cfg.rate)[0]
        self._signals = {"eeg": eeg, "physio": physio}
        labels = [label.lower() for label in self.eeg_info.channel_labels]
        unknown = [c for c in cfg.flat_eeg if c.lower() not in labels[:-1]]
        if unknown:
            raise ValueError(f"flat_eeg: no EEG channel {', '.join(unknown)} (channels: "
                             f"{', '.join(self.eeg_info.channel_labels[:-1])})")
        self._flat_eeg = [labels.index(c.lower()) for c in cfg.flat_eeg]
        self._signal_lock = threading.Lock()  # the push loops against signal updates
        self._sent = {"eeg": 0, "physio": 0}  # samples pushed so far: never changed again
        self._scenario_lock = threading.Lock()
        self._face: tuple[tuple[Expression, ...], list[float], float] = ((), [], 0.0)
        self._publish_face()
        self._react_rng = np.random.default_rng([cfg.seed, 0x5245])  # own stream: 'RE'
        self._placed: list[tuple[float, float]] = []
        self._updates = ThreadPoolExecutor(1, thread_name_prefix="sim-react")
        self._pending: list[Future[None]] = []
        self.reactions: list[dict[str, Any]] = []  # one per clip reacted to (ground truth)
        self.late_samples = {"eeg": 0, "physio": 0}  # pushed before their update (should be 0)
        self._stopped = False
        self._edges: list[Edge] = []
        self._edge_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] = (
            np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
        self._edge_lock = threading.Lock()
        self.t0 = 0.0
        self._feeds = OutletThreads("sim")
        self._paused: dict[str, float] = {}  # role -> physical time its outage ends
        self._pty: PtyPair | None = None
        self._box: SimTriggerBox | None = None

    # --- running -----------------------------------------------------------------------
    def start(self) -> None:
        """Open the LSL outlets, start the simulated box and begin physical time."""
        self.t0 = local_clock()
        self._feeds.open({"eeg": self.eeg_info, "physio": self.physio_info})
        if self.shaped is not None and self.shaped.markers is not None:
            self._marker_outlet = LslOutlet(self.shaped.markers)
        self._pty = PtyPair()
        box_clock = self.clocks["trigger"]
        self._box = SimTriggerBox(self._pty.b, on_edge=self._on_edge,
                                  box_offset=box_clock.offset_s, drift_ppm=box_clock.drift_ppm)
        self._box.start()
        self._feeds.start(self._push_loop)

    def stop(self) -> None:
        """Stop producing; close outlets, the box and the pty pair."""
        with self._scenario_lock:  # no reaction is submitted after this
            self._stopped = True
        self._updates.shutdown(wait=True)
        self._feeds.stop()
        if self._box is not None:
            self._box.stop()
        if self._pty is not None:
            self._pty.close()
        if self._marker_outlet is not None:
            self._marker_outlet.close()

    def interrupt(self, role: str, seconds: float) -> None:
        """Make a stream vanish for `seconds` (like an unplugged amplifier), then come back."""
        self._paused[role] = self.now() + seconds

    def now(self) -> float:
        """Physical time (seconds since start)."""
        return local_clock() - self.t0

    # --- the drivers melab records from ------------------------------------------------
    def eeg_stream(self) -> LslInlet:
        """An LSL inlet for the simulated SynAmps."""
        return LslInlet(source_id=self.eeg_info.source_id)

    def physio_stream(self) -> LslInlet:
        """An LSL inlet for the simulated MP160."""
        return LslInlet(source_id=self.physio_info.source_id)

    def trigger_box(self) -> SerialTriggerBox:
        """The real serial trigger-box driver, wired to the simulated box."""
        assert self._pty is not None, "start() the lab first"
        return SerialTriggerBox(self._pty.a)

    def camera(self) -> SimCamera:
        """The simulated face camera."""
        return SimCamera(self)

    # --- signal generation -------------------------------------------------------------
    def _on_edge(self, edge: Edge) -> None:
        with self._edge_lock:
            self._edges.append(edge)
        outlet = self._marker_outlet
        if outlet is not None:  # the bridge stamps each code on the physiology's clock
            stamp = self.clocks["physio"].device_time(np.array([edge.host_time - self.t0]))
            outlet.push([[str(edge.code)]], stamp)

    def edges(self) -> list[tuple[float, int, float]]:
        """(physical time, code, width) of every TTL pulse so far."""
        with self._edge_lock:
            return [(e.host_time - self.t0, e.code, e.width) for e in self._edges]

    def level_at(self, t_phys: np.ndarray, mask: int = 0xFF) -> np.ndarray:
        """The trigger lines (masked) at physical times; pulses never overlap (the box's rule)."""
        with self._edge_lock:
            if len(self._edge_arrays[0]) != len(self._edges):
                self._edge_arrays = (
                    np.array([e.host_time - self.t0 for e in self._edges]),
                    np.array([e.code for e in self._edges], dtype=np.int64),
                    np.array([e.width for e in self._edges]),
                )
            starts, codes, widths = self._edge_arrays
        return trigger_channel(starts, codes & mask, t_phys, widths)

    def trigger_settled(self) -> float:
        """Physical time up to which the trigger lines are known (no box: no limit)."""
        box = self._box
        return math.inf if box is None or not box.running else box.settled_until() - self.t0

    def wait_trigger_settled(self, t_phys: float, timeout: float) -> bool:
        """Wait until the trigger lines are known at t_phys; False after timeout seconds."""
        deadline = time.monotonic() + timeout
        while self.trigger_settled() <= t_phys:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)
        return True

    def sample_times(self, role: str, first: int, count: int) -> np.ndarray:
        """Physical times of samples first..first+count of a device ticking on its own clock."""
        rate = self.config.rate * self.clocks[role].rate
        return (first + np.arange(count)) / rate

    def _push_loop(self, role: str) -> None:
        cfg = self.config
        clock = self.clocks[role]
        outlet = self._feeds.outlets[role]
        rng = np.random.default_rng([cfg.seed, 7, len(role)])
        sent = 0
        while not self._feeds.stopping.is_set():
            if role in self._paused:  # an outage: the outlet disappears, samples are lost
                outlet.close()
                while self.now() < self._paused[role] and not self._feeds.stopping.is_set():
                    time.sleep(cfg.chunk_interval)
                del self._paused[role]
                sent = int(self.now() * cfg.rate * clock.rate)
                outlet = self._feeds.outlets[role] = LslOutlet(outlet.info)
            # Samples reach the host `latency + jitter` after they were taken.
            delay = clock.latency_s + float(rng.exponential(clock.jitter_s or 1e-9))
            with self._signal_lock:  # a reactive lab may be updating the samples not yet sent
                signal = self._signals[role]
                # Only samples the trigger lines are settled for: a starved box thread raises
                # a pulse late at its scheduled time, and a sample sent is never changed.
                until = min(self.now() - delay, self.trigger_settled())
                # -inf until the box thread first ran (a busy host): nothing is due yet.
                due = int(until * cfg.rate * clock.rate) - sent if math.isfinite(until) else 0
                due = min(due, len(signal) - sent)
                if due > 0:
                    part = signal[sent: sent + due].copy()
                    if role == "eeg":
                        part[:, self._flat_eeg] = FLAT_EEG_UV
                self._sent[role] = max(sent + max(due, 0), self._sent[role])
            if due > 0:
                t = self.sample_times(role, sent, due)
                outlet.push(self._samples(role, part, self.level_at(t)), clock.device_time(t))
                sent += due
            elif sent >= len(signal):
                return
            time.sleep(cfg.chunk_interval)

    def _samples(self, role: str, signal: np.ndarray, level: np.ndarray) -> np.ndarray:
        """What the device's outlet sends: its signals, then its trigger lines."""
        if self.shaped is None:
            return np.column_stack([signal, level])
        if role == "eeg":
            return self.shaped.eeg_block(signal, level)
        return self.shaped.physio_block(signal, level)

    # --- a reactive participant --------------------------------------------------------
    def stimulus(self, emotion: str, start: float, end: float, trial: int = -1
                 ) -> list[Expression]:
        """A clip of `emotion` plays over physical [start, end): the participant reacts.

        Draws the clip's expressions (drivers.sim.scenario.expressions_for_clip: at least one
        ME, none sooner than REACTION_MARGIN_S from now) and adds them, with the clip as an
        episode, to the scenario: the camera renders them from now on and ground_truth() lists
        them. The EEG and physiology not yet sent are updated in the background (EegRhythms.change
        for the EEG, ~10 ms; the physiology simulated again whole, 0.2-0.5 s for a 4-15 min lab,
        within REACTION_MARGIN_S). Returns the expressions
        (none for a neutral clip, or once the lab stopped).
        """
        cfg = self.config
        if not cfg.reactive:
            raise RuntimeError("this simulated lab follows its scenario; set reactive=True")
        if emotion not in EMOTION_AUS:
            return []
        with self._scenario_lock:
            if self._stopped:
                return []
            # A late notice (a busy GUI) moves the reaction later, never into samples sent.
            earliest = self.now() + REACTION_MARGIN_S
            lead = max(cfg.reaction_lead, earliest - start)
            new = expressions_for_clip(
                self._react_rng, emotion, start, end, micro_per_minute=cfg.micro_per_minute,
                macro_per_minute=cfg.macro_per_minute, placed=self._placed, lead=lead)
            before = self._drive()
            episode = Episode(trial, emotion, start, end, end, end)
            self.scenario.episodes.append(episode)
            self.scenario.expressions = sorted([*self.scenario.expressions, *new],
                                               key=lambda e: e.onset)
            body_start = min(max(start + BODY_LAG_S, earliest), end)
            self._drive_episodes.append(Episode(trial, emotion, body_start, end, end, end))
            self._drive_expressions += new
            after = self._drive()
            self._publish_face()
            self.reactions.append({"trial": trial, "emotion": emotion, "start": start,
                                   "end": end, "heard_at": self.now(), "expressions": len(new)})
            self._pending.append(self._updates.submit(self._update_signals, before, after,
                                                      len(self.reactions) - 1))
        return new

    def _drive(self) -> Scenario:
        """The scenario the body (EEG, physiology) follows, episodes and expressions in the
        order they were added (each draws its own random response: physio_drive)."""
        return Scenario(self.config.seed, float(self.config.duration),
                        list(self._drive_episodes), list(self._drive_expressions))

    def _update_signals(self, before: Scenario, after: Scenario, reaction: int) -> None:
        """Make the samples not yet sent follow `after` instead of `before` (worker thread).

        A failure is logged and noted in the reaction's ground truth, never raised: the
        recording goes on with the signals as they were.
        """
        began = time.perf_counter()
        try:
            assert self._rhythms is not None
            lo, delta = self._rhythms.change(before, after)
            new_physio = simulate_physio(after, self.config.rate)[0]
            old_physio = self._signals["physio"]  # only this thread replaces it
            differs = np.flatnonzero(np.any(new_physio != old_physio, axis=1))
            first = int(differs[0]) if differs.size else len(new_physio)
            with self._signal_lock:
                eeg = self._signals["eeg"]
                late_eeg = min(max(0, self._sent["eeg"] - lo), len(delta))
                eeg[lo + late_eeg: lo + len(delta)] += delta[late_eeg:]
                late_physio = max(0, self._sent["physio"] - first)
                self._signals["physio"] = new_physio  # rows already sent are never read again
                self.late_samples["eeg"] += late_eeg
                self.late_samples["physio"] += late_physio
        except Exception as exc:
            log.exception("simulated lab: the EEG and physiology did not follow a clip")
            self.reactions[reaction]["error"] = repr(exc)
            return
        self.reactions[reaction]["update_s"] = round(time.perf_counter() - began, 4)
        if late_eeg or late_physio:
            log.warning("simulated lab: %d EEG and %d physiology samples went out before the "
                        "reaction to a clip reached them", late_eeg, late_physio)

    def _publish_face(self) -> None:
        """Hand the camera the current expressions (sorted by onset), as one swap."""
        expressions = tuple(sorted(self.scenario.expressions, key=lambda e: e.onset))
        longest = max((e.offset - e.onset for e in expressions), default=0.0)
        self._face = (expressions, [e.onset for e in expressions], longest)

    def face_track(self) -> tuple[tuple[Expression, ...], list[float], float]:
        """Expressions by onset, their onsets and the longest duration (the camera's view)."""
        return self._face

    def wait_for_updates(self) -> None:
        """Wait until every reaction has reached the EEG and physiology."""
        for future in list(self._pending):
            future.result()

    # --- ground truth ------------------------------------------------------------------
    def ground_truth(self) -> dict[str, Any]:
        """Everything a scorer needs: scenario, clocks, edges, frame timing (session clock)."""
        cfg = self.config
        if cfg.reactive and not self._stopped:
            self.wait_for_updates()
        with self._scenario_lock:
            scenario = expressions_on_camera(self.scenario.to_dict(), cfg.fps, self.t0)
        truth = {
            "t0": self.t0,
            "scenario": scenario,
            "clocks": {role: c.to_dict() for role, c in self.clocks.items()},
            "sample_rate": {role: cfg.rate * self.clocks[role].rate for role in ("eeg", "physio")},
            "camera": {"fps": cfg.fps, "frame_time": "t_phys = (frame_number - 1) / fps",
                       "width": cfg.width, "height": cfg.height},
            "edges": self.edges(),
            "streams": {"eeg": self.eeg_info.name, "physio": self.physio_info.name},
        }
        if cfg.reactive:  # expressions answer the protocol's clips, not a scenario timeline
            truth["reactive"] = {"clips": [dict(r) for r in self.reactions],
                                 "late_samples": dict(self.late_samples),
                                 "body_lag_s": BODY_LAG_S}
        return truth


class SimCamera:
    """A simulated 150 fps face camera implementing drivers.interfaces.Camera."""

    def __init__(self, lab: SimulatedLab) -> None:
        cfg = lab.config
        self._lab = lab
        self._clock = lab.clocks["camera"]
        self._renderer = FaceRenderer(cfg.width, cfg.height, cfg.pixel_format, seed=cfg.seed)
        self._next = 0
        self._dropped = 0
        self._info = CameraInfo(
            model="melab simulated camera", serial=f"SIM{cfg.seed:04d}", width=cfg.width,
            height=cfg.height, pixel_format=cfg.pixel_format, frame_rate=cfg.fps,
            settings={"gpi_sync_mask": 1, "exposure_us": int(0.8e6 / cfg.fps), "simulated": True},
        )

    @property
    def info(self) -> CameraInfo:
        """Camera description."""
        return self._info

    @property
    def dropped_frames(self) -> int:
        """Frames skipped because nobody read them in time (like a full camera buffer)."""
        return self._dropped

    def losses(self) -> CameraLosses:
        """The skipped frames as a camera's driver counts a full buffer (api_skipped)."""
        return CameraLosses(api_skipped=self._dropped)

    def open(self) -> None:
        """Nothing to open: the lab is already running."""

    def start(self) -> None:
        """Begin with the next frame period of physical time."""
        self._next = int(np.ceil(self._lab.now() * self._info.frame_rate))

    def stop(self) -> None:
        """Stop acquisition (nothing to release)."""

    def close(self) -> None:
        """Close the camera (nothing to release)."""

    def active(self, t: float) -> list[Expression]:
        """Expressions under way at physical time t (a reactive lab adds them as clips play)."""
        expressions, onsets, longest = self._lab.face_track()
        first = bisect_right(onsets, t - longest)
        last = bisect_right(onsets, t)
        return [e for e in expressions[first:last] if e.onset <= t <= e.offset]

    def read(self, timeout: float) -> Frame | None:
        """The next frame once its exposure has ended, or None after timeout seconds."""
        fps = self._info.frame_rate
        now = self._lab.now()
        behind = int(now * fps) - self._next
        if behind > fps:  # the reader stalled for over a second: the buffer overflowed
            self._dropped += behind
            self._next += behind
        t_exposure = self._next / fps
        ready = t_exposure + 1 / fps + self._clock.latency_s
        if ready - now > timeout:
            time.sleep(timeout)
            return None
        if ready > now:
            time.sleep(ready - now)
        if not self._lab.wait_trigger_settled(t_exposure, timeout):
            return None
        image = self._renderer.render(t_exposure, self.active(t_exposure))
        gpi = int(self._lab.level_at(np.array([t_exposure]), CAMERA_LINE)[0] > 0)
        frame = Frame(image, self._next + 1, float(self._clock.device_time(t_exposure)),
                      local_clock(), gpi)
        self._next += 1
        return frame
