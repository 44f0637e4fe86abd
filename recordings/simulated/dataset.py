"""Simulated datasets for the analysis: sessions written from the simulation, faster than real time.

`melab record --simulate` records the simulated lab in real time through the recorder. An
analysis dataset needs many participants, so this module computes the same simulation
(scenario, EEG, physiology, face camera, trigger edges) at once and writes each session
through the same SessionWriter, with one video segment per trial's stimulus window and the
ground truth stored both as simulation ground truth and as annotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.codes import CAMERA_LINE
from core.devices import CameraInfo, Chunk, Frame, StreamInfo
from drivers.sim.eeg import eeg_stream_info, simulate_eeg
from drivers.sim.expression import DEFAULT_INTENSITY, Expression
from drivers.sim.face import FaceRenderer
from drivers.sim.physio import physio_stream_info, simulate_physio, trigger_channel
from drivers.sim.scenario import expressions_on_camera, make_scenario
from recordings.store.ground_truth import write_ground_truth
from recordings.store.metadata import SessionMetadata, TrialRecord
from recordings.store.session_writer import SessionWriter

T0 = 1000.0  # session clock at the simulation's physical time 0


@dataclass
class DatasetConfig:
    """Size and content of a simulated dataset."""

    participants: int = 6
    # 7 trials of ~30 s clips: long enough that a clip's mean heart-rate slope is a
    # baseline (the Candidate Clip Filter compares each apex with it)
    duration: float = 420.0  # seconds per session
    trials: int = 7  # one clip per emotion
    width: int = 640
    height: int = 480
    fps: float = 50.0  # analysis needs no more; the live rig records 150 fps
    rate: float = 1000.0
    eeg_channels: int = 64
    micro_per_minute: float = 8.0
    macro_per_minute: float = 2.0
    intensity_scale: float = 1.0  # multiplies the renderer's default expression amplitudes
    seed: int = 100


def _stream_infos(cfg: DatasetConfig) -> tuple[StreamInfo, StreamInfo]:
    return (eeg_stream_info("SynAmps", "sim-synamps", cfg.eeg_channels, cfg.rate),
            physio_stream_info("MP160", "sim-mp160", cfg.rate))


def write_participant(folder: Path, participant: str, seed: int, cfg: DatasetConfig) -> Path:
    """Write one simulated session (streams, per-trial video, trials, ground truth)."""
    scenario = make_scenario(seed, cfg.duration, trials=cfg.trials,
                             micro_per_minute=cfg.micro_per_minute,
                             macro_per_minute=cfg.macro_per_minute, outside_fraction=0.0)
    scenario.expressions = [
        Expression(e.onset, e.apex, e.offset, e.kind, e.emotion, e.aus,
                   (e.intensity or DEFAULT_INTENSITY[e.kind]) * cfg.intensity_scale)
        for e in scenario.expressions
    ]
    edge_t, edge_code = scenario.trigger_arrays()
    eeg_info, physio_info = _stream_infos(cfg)
    clock_now = [T0]
    writer = SessionWriter(folder, SessionMetadata(participant, simulated=True,
                                                   notes="simulated analysis dataset"),
                           [eeg_info, physio_info], clock=lambda: clock_now[0])
    signals = {
        eeg_info.name: simulate_eeg(scenario, cfg.rate, cfg.eeg_channels),
        physio_info.name: simulate_physio(scenario, cfg.rate)[0],
    }
    for name, values in signals.items():
        t = np.arange(len(values)) / cfg.rate
        levels = trigger_channel(edge_t, edge_code, t, scenario.pulse_width)
        block = np.column_stack([values, levels]).astype(np.float32)
        for start in range(0, len(block), int(cfg.rate)):
            part = slice(start, start + int(cfg.rate))
            writer.push_chunk(name, Chunk(block[part], T0 + t[part], T0 + t[part] + 0.02))
    renderer = FaceRenderer(cfg.width, cfg.height, "bayer_rg8", seed=seed)
    camera = CameraInfo("melab simulated camera", f"SIM{seed}", cfg.width, cfg.height,
                        "bayer_rg8", cfg.fps, {"gpi_sync_mask": 1, "simulated": True})
    for episode in scenario.episodes:
        writer.add_event("stimulus_onset", T0 + episode.start, trial=episode.trial)
        segment = writer.start_segment(f"trial{episode.trial + 1:03d}", camera,
                                       trial=episode.trial)
        first, last = int(np.ceil(episode.start * cfg.fps)), int(episode.end * cfg.fps)
        active = [e for e in scenario.expressions
                  if e.offset >= episode.start and e.onset <= episode.end]
        times = np.arange(first, last) / cfg.fps
        gpi = trigger_channel(edge_t, edge_code & CAMERA_LINE, times, scenario.pulse_width) > 0
        for n, t, line in zip(range(first, last), times.tolist(), gpi.tolist(), strict=True):
            now = [e for e in active if e.onset <= t <= e.offset]
            segment.push_frame(Frame(renderer.render(t, now), n + 1, T0 + t, T0 + t + 0.005,
                                     int(line)), timeout=30.0)
        clock_now[0] = T0 + episode.end
        writer.stop_segment(segment.name)
        writer.add_event("stimulus_offset", T0 + episode.end, trial=episode.trial)
        writer.add_trial(TrialRecord(episode.trial, "main", f"clip_{episode.emotion}",
                                     episode.emotion, T0 + episode.start, T0 + episode.end))
    clock_now[0] = T0 + cfg.duration
    writer.close()
    truth = ground_truth(scenario.to_dict(), cfg)
    write_ground_truth(folder, truth)
    from recordings.store.annotations import annotations_from_ground_truth, store_annotations

    store_annotations(folder, annotations_from_ground_truth(truth, participant, 1),
                      source="ground_truth")
    return folder


def ground_truth(scenario: dict[str, Any], cfg: DatasetConfig) -> dict[str, Any]:
    """The simulation's ground truth in the layout of drivers.sim.lab (frames 1-based)."""
    return {
        "t0": T0,
        "scenario": expressions_on_camera(scenario, cfg.fps, T0),
        "camera": {"fps": cfg.fps, "width": cfg.width, "height": cfg.height},
        "clocks": {},
        "offline": True,
    }


def write_dataset(out: str | Path, cfg: DatasetConfig, progress: Any = None) -> list[Path]:
    """Write cfg.participants sessions S01.. into out; returns their folders."""
    out = Path(out)
    folders = []
    for i in range(cfg.participants):
        participant = f"S{i + 1:02d}"
        folder = out / f"{participant}_s01"
        write_participant(folder, participant, cfg.seed + i, cfg)
        folders.append(folder)
        if progress is not None:
            progress(i + 1, cfg.participants)
    return folders
