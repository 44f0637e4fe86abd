"""Test set-up: Qt offscreen and loopback-only LSL before anything else loads."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia*=false")

from core.clock import configure_lsl

configure_lsl()
