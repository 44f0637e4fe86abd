"""`melab camera info`: what the XIMEA camera reports and whether its USB link carries the rate."""

from __future__ import annotations

import argparse

from app.cli import checks

_pixels = checks.int_in(0, 8192, "a whole number of pixels from 0 to 8192")
_size = checks.int_in(1, 8192, "a whole number of pixels from 1 to 8192")


def add_camera_commands(sub: argparse._SubParsersAction) -> None:
    """camera info: open the XIMEA camera and print model, CFA, bandwidth and frame-rate limit."""
    camera = sub.add_parser("camera", help="check the XIMEA camera")
    camera_sub = camera.add_subparsers(dest="camera_command", required=True)
    info = camera_sub.add_parser(
        "info", help="model, serial, CFA, sensor, USB bandwidth, max frame rate at the ROI",
        description="Open the XIMEA camera with the ROI and exposure melab would use, print what "
                    "it reports, and whether the frame rate fits its USB link (exit 1 if not).")
    info.add_argument("--serial", help="serial number (default: the first camera)")
    info.add_argument("--width", type=_size, help="ROI width (default: the sensor's)")
    info.add_argument("--height", type=_size, help="ROI height (default: the sensor's)")
    info.add_argument("--offset-x", type=_pixels, default=0, help="ROI left edge (even)")
    info.add_argument("--offset-y", type=_pixels, default=0, help="ROI top edge (even)")
    info.add_argument("--fps", type=checks.frame_rate, default=150.0,
                      help="frame rate to check (default 150)")
    info.add_argument("--exposure-us", type=checks.int_in(1, 1_000_000, "1 to 1000000 us"),
                      default=5000, help="exposure in microseconds (default 5000)")
    info.set_defaults(func=camera_info)


def camera_info(args: argparse.Namespace) -> int:
    """Print the camera's report; 1 when the frame rate does not fit, 0 when it does."""
    from drivers.ximea import XimeaCamera, XimeaSettings

    settings = XimeaSettings(serial=args.serial, width=args.width, height=args.height,
                             offset_x=args.offset_x, offset_y=args.offset_y,
                             frame_rate=args.fps, exposure_us=args.exposure_us)
    report = XimeaCamera(settings).report()
    print("\n".join(report.lines()))
    return 0 if report.rate_problem() is None else 1
