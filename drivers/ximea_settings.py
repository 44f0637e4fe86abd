"""How melab finds and configures a XIMEA camera (XimeaSettings), checked when created."""

from __future__ import annotations

from dataclasses import dataclass

from core.devices import DeviceError

IMAGE_FORMATS = {"RAW8": "XI_RAW8", "MONO8": "XI_MONO8"}
TRIGGER_MODES = ("free_run", "hardware")
# XI_BP_UNSAFE hands over xiAPI's own buffer, which get_image_data_numpy() copies once into a
# fresh array; XI_BP_SAFE makes xiAPI copy every frame first (one more copy of ~2.2 MB).
BUFFER_POLICIES = ("XI_BP_UNSAFE", "XI_BP_SAFE")


@dataclass(frozen=True)
class XimeaSettings:
    """How to find and configure the XIMEA camera; checked when created.

    The Bayer pattern is not a setting: the camera reports it (get_cfa) when opened.
    """

    serial: str | None = None  # open this serial number; None: open by index
    index: int = 0
    image_format: str = "RAW8"  # RAW8 (Bayer as the sensor sees it) or MONO8
    exposure_us: int = 5000
    gain_db: float = 0.0
    frame_rate: float | None = 150.0  # free run: the rate; hardware: the expected trigger rate
    offset_x: int = 0
    offset_y: int = 0
    width: int | None = None  # None: the sensor width minus offset_x
    height: int | None = None  # None: the sensor height minus offset_y
    trigger_mode: str = "free_run"  # free_run or hardware (one frame per rising edge)
    trigger_gpi_port: int = 1
    # Input wired to the trigger box's sync line, sampled into each frame's GPI_level with the
    # input in XI_GPI_OFF mode (XI_GPI_EXT_EVENT is "not implemented" in xiAPI); None: none.
    sync_gpi_port: int | None = 1
    sync_gpi_mask: int | None = None  # bit of GPI_level carrying sync; None: 1 << (port - 1)
    buffer_policy: str = "XI_BP_UNSAFE"
    # ~0.85 s at 150 fps: absorbs the 0.3-0.8 s reader stalls seen on the target machines.
    buffers_queue_size: int = 128

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise DeviceError("Invalid XIMEA camera settings: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Each setting that cannot work, with what to do about it."""
        out: list[str] = []
        if self.serial is not None and not str(self.serial).strip():
            out.append("serial is empty: give the serial number or None to open by index")
        if self.index < 0:
            out.append(f"index={self.index} must be >= 0")
        if self.image_format not in IMAGE_FORMATS:
            out.append(f"image_format={self.image_format!r} must be one of {list(IMAGE_FORMATS)}")
        if self.exposure_us <= 0:
            out.append(f"exposure_us={self.exposure_us} must be > 0")
        if self.frame_rate is not None and self.frame_rate <= 0:
            out.append(f"frame_rate={self.frame_rate} must be > 0 (or None)")
        elif self.frame_rate and self.exposure_us > 1e6 / self.frame_rate:
            out.append(
                f"exposure_us={self.exposure_us} is longer than one frame at {self.frame_rate}"
                f" fps ({1e6 / self.frame_rate:.0f} us): shorten the exposure or lower frame_rate"
            )
        out += self._geometry_problems() + self._io_problems()
        if self.buffer_policy not in BUFFER_POLICIES:
            out.append(f"buffer_policy={self.buffer_policy!r} must be one of {BUFFER_POLICIES}")
        if self.buffers_queue_size < 1:
            out.append(f"buffers_queue_size={self.buffers_queue_size} must be >= 1")
        return out

    def _geometry_problems(self) -> list[str]:
        out = []
        for name in ("offset_x", "offset_y", "width", "height"):
            value = getattr(self, name)
            if value is not None and (value < 0 or (name in ("width", "height") and value == 0)):
                out.append(f"{name}={value} must be positive")
        # An odd offset would shift the stored Bayer phase away from the camera's CFA.
        if self.image_format == "RAW8" and (self.offset_x % 2 or self.offset_y % 2):
            out.append(
                f"offset_x={self.offset_x}, offset_y={self.offset_y} must be even for RAW8, "
                "or the Bayer pattern of the stored frames changes"
            )
        return out

    def _io_problems(self) -> list[str]:
        out = []
        if self.trigger_mode not in TRIGGER_MODES:
            out.append(f"trigger_mode={self.trigger_mode!r} must be one of {TRIGGER_MODES}")
        if self.trigger_mode == "hardware" and not self.frame_rate:
            out.append("trigger_mode='hardware' needs frame_rate: the trigger rate to expect "
                       "(checked against what the camera and its USB link can carry)")
        for name in ("trigger_gpi_port", "sync_gpi_port"):
            port = getattr(self, name)
            if port is not None and not 1 <= port <= 12:
                out.append(f"{name}={port} must be a GPI port number 1-12")
        if self.trigger_mode == "hardware" and self.sync_gpi_port == self.trigger_gpi_port:
            out.append(
                f"trigger and sync cannot share GPI port {self.trigger_gpi_port}: wire the sync "
                "line to another input or set sync_gpi_port=None (the xiQ has one input: "
                "in hardware-trigger mode it carries the trigger)"
            )
        return out

    @property
    def gpi_mask(self) -> int:
        """Bit of Frame.gpi_level that carries the sync line (0 when none is wired)."""
        if self.sync_gpi_port is None:
            return 0
        if self.sync_gpi_mask is not None:
            return self.sync_gpi_mask
        return 1 << (self.sync_gpi_port - 1)

    @property
    def target(self) -> str:
        """Which camera, in words, for messages."""
        return f"serial number {self.serial}" if self.serial else f"index {self.index}"

    def ports(self) -> dict[str, int]:
        """The GPI ports these settings use, by setting name."""
        used = {"sync_gpi_port": self.sync_gpi_port}
        if self.trigger_mode == "hardware":
            used["trigger_gpi_port"] = self.trigger_gpi_port
        return {name: port for name, port in used.items() if port is not None}
