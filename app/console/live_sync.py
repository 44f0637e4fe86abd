"""The console's live sync health, Qt-free: the rig's trigger inputs, taps, and the monitor.

The recorder's device threads only put references into the taps; the status timer (GUI
thread) drains them into recordings/live_sync.py's LiveSyncMonitor and asks for its health.
"""

from __future__ import annotations

from app.console.taps import ChunkTap, FrameTimes
from app.rig import Rig
from core.trigger_channel import TriggerChannel, find_trigger_channel
from recordings.live_sync import BOX_ROLE, LiveSyncMonitor, SyncHealth
from recordings.recorder import SYNC_PERIOD_S


def trigger_inputs(rig: Rig) -> dict[str, TriggerChannel]:
    """The continuous streams' trigger channels (streams without one are not watched)."""
    out = {}
    for role, stream in rig.streams.items():
        info = stream.info
        if info.channel_format == "string" or info.nominal_rate <= 0:
            continue
        channel = find_trigger_channel(info.channel_labels, info.channel_types)
        if channel is not None:
            out[role] = channel
    return out


class LiveSync:
    """Taps for the recorder and the monitor they feed."""

    def __init__(self, rig: Rig, sync_period: float = SYNC_PERIOD_S) -> None:
        triggers = trigger_inputs(rig)
        camera = rig.camera
        mask = int(camera.info.settings.get("gpi_sync_mask", 1) or 0) if camera else 0
        fps = camera.info.frame_rate if camera is not None else 0.0
        self.monitor = LiveSyncMonitor(
            triggers, {r: rig.streams[r].info.nominal_rate for r in triggers},
            camera_mask=mask, camera_fps=fps, box=rig.trigger is not None,
            sync_period=sync_period)
        self.chunks = ChunkTap([*triggers, BOX_ROLE])
        self.frames = FrameTimes()

    def health(self, now: float) -> dict[str, SyncHealth]:
        """Move what the taps hold into the monitor; each device's health at time now."""
        for role in self.monitor.tracks:
            if role == "camera":
                self.monitor.add_frames(self.frames.drain())
                continue
            for chunk in self.chunks.drain(role):
                self.monitor.add_chunk(role, chunk)
        return self.monitor.health(now)
