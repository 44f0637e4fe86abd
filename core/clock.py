"""The session clock (the host's LSL clock) and the loopback-only LSL configuration.

The configuration is applied before any LSL call in every melab process.
"""

from __future__ import annotations

import threading

# liblsl multicasts (IPv4 and IPv6) off the machine by default; melab must never do that.
LSL_LOOPBACK_CONFIG = "[ports]\nIPv6 = disable\n[multicast]\nResolveScope = machine\n"

_lock = threading.Lock()
_applied = False


def configure_lsl() -> None:
    """Apply the loopback-only LSL configuration once per process (idempotent)."""
    global _applied
    with _lock:
        if _applied:
            return
        import pylsl

        pylsl.set_config_content(LSL_LOOPBACK_CONFIG)
        _applied = True


def is_configured() -> bool:
    """Tell whether this process applied the loopback-only configuration."""
    return _applied


def local_clock() -> float:
    """Session clock: the host's LSL clock in seconds (configures LSL first)."""
    configure_lsl()
    import pylsl

    return pylsl.local_clock()
