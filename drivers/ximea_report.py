"""What an opened XIMEA camera reports about itself, and whether it can carry the frame rate."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.devices import DeviceError

# xiAPI's colour filter arrays -> melab's stored pixel formats (drivers/imaging.py demosaics
# each). XI_CFA_NONE is a mono sensor.
CFA_FORMATS = {
    "XI_CFA_BAYER_RGGB": "bayer_rg8",
    "XI_CFA_BAYER_GRBG": "bayer_gr8",
    "XI_CFA_BAYER_GBRG": "bayer_gb8",
    "XI_CFA_BAYER_BGGR": "bayer_bg8",
    "XI_CFA_NONE": "mono8",
}


def pixel_format(image_format: str, cfa: str) -> str:
    """Stored pixel format of frames in this image format from a sensor with this CFA."""
    if image_format == "MONO8":
        return "mono8"
    if cfa not in CFA_FORMATS:
        raise DeviceError(f"this XIMEA camera reports colour filter array {cfa}, which melab "
                          "cannot demosaic: use image_format MONO8")
    return CFA_FORMATS[cfa]


def needed_mbps(width: int, height: int, fps: float) -> float:
    """Megabits per second of 8-bit frames of this size at this rate."""
    return width * height * 8 * fps / 1e6


@dataclass(frozen=True)
class XimeaReport:
    """An opened camera, its link and its limits at the configured ROI and exposure."""

    model: str
    serial: str
    cfa: str
    pixel_format: str
    sensor_width: int
    sensor_height: int
    width: int
    height: int
    exposure_us: float
    available_mbps: int  # what xiAPI measured on this USB controller at open
    limit_mbps: int  # what xiAPI allows itself (by default 90 % of the measurement)
    max_frame_rate: float  # at this ROI, exposure and bandwidth limit
    frame_rate: float | None  # what melab is configured for (trigger rate in hardware mode)

    @property
    def needed_mbps(self) -> float:
        """Megabits per second the configured frame rate needs at this ROI."""
        return needed_mbps(self.width, self.height, self.frame_rate or self.max_frame_rate)

    def rate_problem(self) -> str | None:
        """Why the configured frame rate cannot be delivered, with what to do; None if it can."""
        fps = self.frame_rate
        if not fps or fps <= self.max_frame_rate * (1 + 1e-6):
            return None
        roi = f"{self.width}x{self.height}"
        if self.needed_mbps > self.limit_mbps:
            return (
                f"this USB controller measured {self.available_mbps:,} Mbit/s (xiAPI uses up to "
                f"{self.limit_mbps:,}); {fps:g} fps at {roi} needs {self.needed_mbps:,.0f}: use "
                "a dedicated USB3 controller (no hub, no other device on it), or reduce "
                f"height/rate (at most {self.max_frame_rate:.1f} fps at {roi})"
            )
        return (
            f"{fps:g} fps is above this camera's maximum of {self.max_frame_rate:.1f} fps at "
            f"{roi} with exposure {self.exposure_us:g} us: reduce height, exposure or frame_rate"
        )

    def lines(self) -> list[str]:
        """The report as `melab camera info` prints it."""
        rate = f"{self.frame_rate:g} fps" if self.frame_rate else "as fast as possible"
        problem = self.rate_problem()
        return [
            f"model            {self.model}",
            f"serial           {self.serial}",
            f"CFA              {self.cfa} (stored as {self.pixel_format})",
            f"sensor           {self.sensor_width}x{self.sensor_height}",
            f"ROI              {self.width}x{self.height}, exposure {self.exposure_us:g} us",
            f"bandwidth        measured {self.available_mbps:,} Mbit/s, "
            f"xiAPI limit {self.limit_mbps:,} Mbit/s",
            f"max frame rate   {self.max_frame_rate:.1f} fps at this ROI",
            f"configured rate  {rate}, needs {self.needed_mbps:,.0f} Mbit/s: "
            + ("OK" if problem is None else f"NOT POSSIBLE: {problem}"),
        ]

    def to_dict(self) -> dict[str, object]:
        """Plain values for the session file's camera settings."""
        return {**asdict(self), "needed_mbps": round(self.needed_mbps, 1)}
