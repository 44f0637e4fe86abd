"""Device panel rows and warnings from the recorder's status, Qt-free (tests drive it directly)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from recordings.camera_losses import dropped_text
from recordings.live_sync import SyncHealth
from recordings.recorder import RecorderStatus

OK, WARN, ERROR, IDLE = "ok", "warning", "error", "idle"
QUEUE_WARNING = 0.5  # a writer queue half full means the disk is falling behind
RATE_TOLERANCE = 0.9  # a stream below 90 % of its nominal rate is suspicious
SETTLE_S = 3.0  # rates need a few seconds after the start before they mean anything


@dataclass(frozen=True)
class DeviceRow:
    """One line of the device panel."""

    role: str
    name: str
    state: str
    rate: str = ""
    last_sample: str = ""
    dropped: str = ""
    queue: str = ""
    level: str = OK  # ok | warning | error | idle
    sync: str = ""  # live sync health (recordings/live_sync.py)


def age_text(age: float | None) -> str:
    """Seconds since the last sample, '-' before any."""
    if age is None or (isinstance(age, float) and math.isnan(age)):
        return "-"
    return f"{age * 1000:.0f} ms" if age < 10 else f"{age:.0f} s"


def connection_rows(names: dict[str, str], results: dict[str, tuple[bool, str]]) -> list[DeviceRow]:
    """Rows before the recording: each device's name and whether it connected."""
    rows = []
    for role, name in names.items():
        if role not in results:
            rows.append(DeviceRow(role, name, "not connected", level=IDLE))
            continue
        ok, detail = results[role]
        rows.append(DeviceRow(role, name, "connected" if ok else f"missing: {detail}",
                              level=OK if ok else ERROR))
    return rows


def recording_rows(status: RecorderStatus, names: dict[str, str], nominal: dict[str, float],
                   camera_fps: float | None, trigger: bool,
                   sync: Mapping[str, SyncHealth] | None = None) -> list[DeviceRow]:
    """Rows while recording: state, rate, last-sample age, dropped/lost, queue fill, and
    each device's live sync health (a lost sync train makes the row red)."""
    settled = status.elapsed >= SETTLE_S
    queue = f"{status.queue_fill:.0%}"
    rows = []
    for s in status.streams:
        expected = nominal.get(s.name, 0.0)
        level = OK
        state = "recording"
        if not s.connected:
            state, level = "no data (reconnecting automatically)", ERROR
        elif settled and expected and s.rate < RATE_TOLERANCE * expected:
            level = WARN
        if s.samples_lost:
            level = ERROR
        rows.append(DeviceRow(
            s.name, names.get(s.name, s.name), state, f"{s.rate:.0f} / {expected:g} Hz",
            age_text(s.last_sample_age), f"lost {s.samples_lost} samples" if s.samples_lost
            else "0", queue, level))
    if camera_fps is not None:
        level = OK
        if status.dropped_frames or status.lost_frames:
            level = ERROR
        elif settled and status.camera_fps < RATE_TOLERANCE * camera_fps:
            level = WARN
        rows.append(DeviceRow(
            "camera", names.get("camera", "camera"), "recording",
            f"{status.camera_fps:.0f} / {camera_fps:g} fps", f"{status.frames} frames",
            f"{dropped_text(status.dropped_frames, status.camera_losses)}, "
            f"{status.lost_frames} lost", queue, level))
    if trigger:
        failed = [m for m in status.messages if m.startswith("trigger box")]
        rows.append(DeviceRow("trigger", names.get("trigger", "trigger box"),
                              "failing" if failed else "sync pulses running",
                              level=ERROR if failed else OK))
    if status.queue_fill >= QUEUE_WARNING:
        rows = [r if r.level == ERROR else replace(r, level=WARN) for r in rows]
    return [with_sync(r, (sync or {}).get(r.role)) for r in rows]


def with_sync(row: DeviceRow, health: SyncHealth | None) -> DeviceRow:
    """The row with its sync column; red when the device's sync train stopped arriving."""
    if health is None:
        return row
    if row.role == "trigger":
        text = health.text().replace(" edges,", " sync pulses received,").replace(
            " edge,", " sync pulse received,")
        state = "sync train stopped" if health.lost else row.state
        return replace(row, state=state, sync=text, level=ERROR if health.lost else row.level)
    return replace(row, sync=health.text(), level=ERROR if health.lost else row.level)


def stopped_rows(rows: list[DeviceRow]) -> list[DeviceRow]:
    """The last rows of a recording once it closed: names and final counts, state 'stopped'."""
    return [replace(r, state="stopped (session closed)", rate="", last_sample="", queue="",
                    level=IDLE) for r in rows]


@dataclass
class ConsoleWarning:
    """A warning in the panel; it stays until the experimenter acknowledges it."""

    id: int
    key: str  # the condition: a repeat of an unacknowledged one updates it, no new line
    text: str
    first: float  # session elapsed seconds it was raised
    count: int = 1
    acknowledged: bool = False


@dataclass
class WarningBoard:
    """Warnings raised by conditions; visible until acknowledged, even once the cause is gone."""

    warnings: list[ConsoleWarning] = field(default_factory=list)
    _next_id: int = 1

    def raise_warning(self, key: str, text: str, elapsed: float = 0.0) -> ConsoleWarning:
        """Add a warning, or update the open one of the same condition."""
        for w in self.warnings:
            if w.key == key and not w.acknowledged:
                w.text, w.count = text, w.count + 1
                return w
        warning = ConsoleWarning(self._next_id, key, text, elapsed)
        self._next_id += 1
        self.warnings.append(warning)
        return warning

    def acknowledge(self, warning_id: int) -> None:
        """The experimenter has seen this warning."""
        for w in self.warnings:
            if w.id == warning_id:
                w.acknowledged = True

    def acknowledge_all(self) -> None:
        """The experimenter has seen every warning."""
        for w in self.warnings:
            w.acknowledged = True

    @property
    def active(self) -> list[ConsoleWarning]:
        """Warnings not acknowledged yet, oldest first."""
        return [w for w in self.warnings if not w.acknowledged]


@dataclass
class StatusWatcher:
    """Turns changes between successive recorder statuses into warnings."""

    board: WarningBoard
    planned_s: float = 0.0  # the session's planned length (disk running out before it ends)
    _dropped: int = 0
    _lost_frames: int = 0
    _lost: dict[str, int] = field(default_factory=dict)
    _out: set[str] = field(default_factory=set)
    _messages: int = 0

    def update(self, status: RecorderStatus) -> None:
        """Raise warnings for what got worse since the last status."""
        t, board = status.elapsed, self.board
        if status.dropped_frames > self._dropped:
            board.raise_warning("camera-dropped", f"camera dropped frames: "
                                f"{status.dropped_frames} so far", t)
        if status.lost_frames > self._lost_frames:
            board.raise_warning("camera-lost", f"frames lost (writer queue full): "
                                f"{status.lost_frames} so far", t)
        self._dropped, self._lost_frames = status.dropped_frames, status.lost_frames
        for s in status.streams:
            if s.samples_lost > self._lost.get(s.name, 0):
                board.raise_warning(f"lost-{s.name}", f"{s.name}: {s.samples_lost} samples "
                                    "lost (writer queue full)", t)
            self._lost[s.name] = s.samples_lost
            if not s.connected and s.name not in self._out:
                board.raise_warning(f"out-{s.name}", f"{s.name}: no data; waiting for the "
                                    "stream to come back", t)
                self._out.add(s.name)
            elif s.connected:
                self._out.discard(s.name)
        if status.queue_fill >= QUEUE_WARNING:
            board.raise_warning("queue", f"writer queue {status.queue_fill:.0%} full: the disk "
                                "is not keeping up", t)
        left = self.planned_s - status.elapsed
        if left > 0 and status.recording_time_left < left:
            board.raise_warning("disk", f"the disk fills in {status.recording_time_left / 60:.0f}"
                                f" min; the session needs {left / 60:.0f} more", t)
        for message in status.messages[self._messages:]:
            board.raise_warning(f"message-{message}", message, t)
        self._messages = len(status.messages)
