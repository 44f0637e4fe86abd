"""Trigger codes and their timing, as the box, the protocols and sync all read them."""

from __future__ import annotations

EVENT_CODE_MIN, EVENT_CODE_MAX = 1, 254
SYNC_CODE = 255  # all 8 lines high: never an event code
# The recorder's clock probes (docs/sync.md); 127 leaves line 8, the camera's, low.
PROBE_CODE = 127
# Line 8 (bit 7) is wired to the camera's GPI: codes with it set reach the camera.
CAMERA_LINE = 0x80
DEFAULT_PULSE_WIDTH_MS = 10
PULSE_WIDTH_RANGE_MS = (1, 1000)
SYNC_PERIOD_RANGE_MS = (10, 60_000)
DEFAULT_SYNC_PERIOD_S = 1.0
