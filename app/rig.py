"""The devices the console records from (simulated lab or real rig) and connecting them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.devices import DeviceError
from drivers.interfaces import Camera, ContinuousStream, TriggerBox
from drivers.lsl_markers import MarkerOutlet, default_source_id
from drivers.lsl_query import StreamQuery
from recordings.rigs.profile import RigProfile, load_profile

# Simulated EEG and physiology are computed ahead for the whole lab (about 0.26 MB and
# 11 ms per second; a reactive lab keeps 0.16 MB more of EEG sources): a 42-trial CMRR session
# would need 1.3 GB, so the lab is capped.
MAX_SIMULATED_S = 900.0
RIGS_DIR = Path(__file__).resolve().parents[1] / "rigs"
SIMULATED_PROFILE = RIGS_DIR / "simulated-lab.toml"  # the simulated lab's own rig profile


@dataclass
class Rig:
    """Streams, camera and trigger box for one session; the simulated lab when simulated."""

    streams: dict[str, ContinuousStream]
    camera: Camera | None = None
    trigger: TriggerBox | None = None
    simulated: bool = False
    lab: Any = None  # drivers.sim.lab.SimulatedLab when simulated
    notes: list[str] = field(default_factory=list)  # preflight remarks (e.g. the lab's limit)
    profile: RigProfile | None = None  # what each stream carries (None: the defaults)
    # The `melab-markers` outlet the recorder publishes every event on (made with the rig, so
    # LabRecorder can subscribe before the session starts).
    markers: MarkerOutlet | None = None

    def devices(self) -> dict[str, Any]:
        """Every device by role: eeg, physio, ..., camera, trigger."""
        devices: dict[str, Any] = dict(self.streams)
        if self.camera is not None:
            devices["camera"] = self.camera
        if self.trigger is not None:
            devices["trigger"] = self.trigger
        return devices

    def ground_truth(self) -> dict[str, Any] | None:
        """The simulation's ground truth (None for a real rig)."""
        return self.lab.ground_truth() if self.lab is not None else None

    def stimulus_onset(self, session_time: float, emotion: str, seconds: float,
                       trial: int = -1) -> None:
        """A clip began on the participant's screen: a reactive simulated participant reacts
        (expressions inside the clip, seen by camera, EEG and physiology); else nothing."""
        lab = self.lab
        if lab is not None and lab.config.reactive:
            start = session_time - lab.t0
            lab.stimulus(emotion, start, start + seconds, trial)

    def close(self) -> None:
        """Stop the simulated lab and the marker outlet (devices are closed by the recorder)."""
        if self.lab is not None:
            self.lab.stop()
            self.lab = None
        if self.markers is not None:
            self.markers.close()


RigFactory = Callable[[float], Rig]  # planned session seconds -> rig


@dataclass(frozen=True)
class DeviceCheck:
    """Outcome of connecting one device."""

    role: str
    name: str
    ok: bool
    detail: str


def simulated_rig(duration: float, seed: int = 1, width: int = 640, height: int = 480,
                  fps: float = 150.0, prefix: str = "", reactive: bool = False,
                  shape: str = "", profile: RigProfile | None = None,
                  flat_eeg: tuple[str, ...] = ()) -> Rig:
    """Start a simulated lab lasting the planned session (capped) and hand out its drivers.

    prefix goes before the LSL stream names (tests running several labs in turn use one, so
    an inlet never finds the outlet of a lab that is still closing). reactive: the simulated
    participant shows expressions in the clips the protocol plays (the console tells it of
    each stimulus onset, Rig.stimulus_onset) instead of on the lab's own scenario timeline.
    shape: the lab's streams shaped like a real sender (drivers.sim.rig_shapes); profile:
    what they carry (default: the simulated lab's own, rigs/simulated-lab.toml). Its streams
    are connected by their source_id: the profile's queries name the usual stream names.
    flat_eeg: EEG channel labels whose electrode is off (a constant signal).
    """
    from drivers.sim.lab import SimLabConfig, SimulatedLab

    seconds = min(MAX_SIMULATED_S, duration + 30.0)
    lab = SimulatedLab(SimLabConfig(seed=seed, duration=seconds, width=width, height=height,
                                    fps=fps, name_prefix=prefix, reactive=reactive,
                                    shape=shape, flat_eeg=tuple(flat_eeg)))
    lab.start()
    notes = []
    if duration + 30.0 > MAX_SIMULATED_S:
        notes.append(f"the simulated lab produces {MAX_SIMULATED_S / 60:.0f} min of EEG and "
                     f"physiology; the session may last {duration / 60:.0f} min")
    if profile is None and not shape:
        profile = load_profile(SIMULATED_PROFILE)
    from drivers.lsl import LslInlet

    infos = {"eeg": lab.eeg_info, "physio": lab.physio_info}
    if lab.shaped is not None and lab.shaped.markers is not None:
        # Under the key the profile gives its marker stream (a trigger source may name it).
        key = next((k for k, d in (profile.devices if profile else {}).items()
                    if d.role == "markers"), "markers")
        infos[key] = lab.shaped.markers
    streams: dict[str, ContinuousStream] = {
        role: LslInlet(source_id=info.source_id, options=inlet_options(profile, role))
        for role, info in infos.items()}
    return Rig(streams, lab.camera(), lab.trigger_box(), simulated=True, lab=lab, notes=notes,
               profile=profile, markers=MarkerOutlet(default_source_id(prefix)))


def camera_from_spec(spec: str) -> Camera:
    """A camera driver from ximea[:SERIAL] | opencv:INDEX | file:PATH."""
    kind, _, value = spec.partition(":")
    if kind == "ximea":
        from drivers.ximea import XimeaCamera, XimeaSettings

        return XimeaCamera(XimeaSettings(serial=value or None))
    if kind == "opencv":
        from drivers.opencv_camera import OpenCVCamera

        return OpenCVCamera(int(value or 0))
    if kind == "file":
        from drivers.opencv_camera import OpenCVCamera

        return OpenCVCamera(value)
    raise ValueError(
        f"camera {spec!r} is not one of ximea[:SERIAL], opencv:INDEX, file:PATH "
        "(use --simulate for the simulated lab)"
    )


def stream_queries(eeg: str | None, physio: str | None,
                   streams: Sequence[str] = ()) -> dict[str, StreamQuery]:
    """The LSL streams to record by role: eeg, physio, and each --stream query as written."""
    queries = {role: StreamQuery.parse(text) for role, text in (("eeg", eeg), ("physio", physio))
               if text}
    for text in streams:
        query = StreamQuery.parse(text)
        if query.text() in queries:
            raise ValueError(f"--stream {text} is given twice; give each stream once")
        queries[query.text()] = query
    return queries


def inlet_options(profile: RigProfile | None, role: str) -> Any:
    """Inlet options for a profile's device: outage detection at the rate the profile states
    for a stream that advertises none (a bridge); None: the inlet's defaults."""
    from drivers.lsl import InletOptions, outage_threshold

    device = profile.devices.get(role) if profile is not None else None
    if device is None or device.rate is None:
        return None
    return InletOptions(outage_threshold=outage_threshold(device.rate))


def real_rig(camera: str | None, eeg: str | None, physio: str | None,
             trigger: str | None, streams: Sequence[str] = (),
             profile: RigProfile | None = None) -> Rig:
    """The lab's devices named as on `melab record`'s command line, and the profile's."""
    from drivers.lsl import LslInlet

    queries = {key: d.query for key, d in (profile.devices if profile else {}).items()}
    for role, query in stream_queries(eeg, physio, streams).items():
        if role in queries:
            raise ValueError(f"--{role} and the rig profile's [devices.{role}] both select "
                             "the stream; give it once")
        queries[role] = query
    inlets: dict[str, ContinuousStream] = {
        role: LslInlet(**query.criteria(), options=inlet_options(profile, role))
        for role, query in queries.items()}
    box = None
    if trigger:
        kind, _, port = trigger.partition(":")
        if kind != "serial" or not port:
            raise ValueError(f"trigger {trigger!r} must be serial:PORT")
        from drivers.trigger import SerialTriggerBox

        box = SerialTriggerBox(port)
    if not inlets and not camera:
        raise ValueError("nothing to record: give --camera, --eeg, --physio and/or --stream, "
                         "--rig, or --simulate")
    return Rig(inlets, camera_from_spec(camera) if camera else None, box, profile=profile,
               markers=MarkerOutlet())


def device_name(role: str, device: Any) -> str:
    """A device's name for the panel: stream name, camera model, trigger port."""
    if role == "camera":
        info = device.info
        return f"{info.model} {info.width}x{info.height} @ {info.frame_rate:g} fps"
    if role == "trigger":
        return f"trigger box {getattr(device, 'port', '')}".strip()
    try:
        info = device.info
    except DeviceError:  # an LSL inlet knows its name only once open
        return f"{role} stream (not connected)"
    return f"{info.name} ({info.type}, {info.channel_count} ch, {info.nominal_rate:g} Hz)"


def connect_device(role: str, device: Any, timeout: float = 5.0) -> DeviceCheck:
    """Open one device (again after a failure); opening an open device does nothing."""
    try:
        if role in ("camera", "trigger"):
            device.open()
        else:
            device.open(timeout)
    except DeviceError as exc:
        return DeviceCheck(role, device_name(role, device), False, str(exc))
    return DeviceCheck(role, device_name(role, device), True, "connected")


def connect_all(rig: Rig, timeout: float = 5.0) -> list[DeviceCheck]:
    """Open every device of the rig; each one's outcome."""
    return [connect_device(role, device, timeout) for role, device in rig.devices().items()]
