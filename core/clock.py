"""The session clock (the host's LSL clock) and the LSL configuration of this process.

liblsl reads its configuration once, at its first call, so the configuration is applied before
any LSL call in every melab process: the resolve scope `machine` (LSL traffic stays on this
computer) unless the real rig asks for a wider one (`melab record --lsl-scope site`).
"""

from __future__ import annotations

import threading

# liblsl's resolve scopes, narrowest first (the multicast TTL and addresses each one uses).
LSL_SCOPES = ("machine", "link", "site", "organization", "global")
DEFAULT_LSL_SCOPE = "machine"


class LslConfigError(RuntimeError):
    """LSL was asked for a configuration it cannot (or can no longer) take."""


def lsl_config_content(scope: str = DEFAULT_LSL_SCOPE) -> str:
    """The liblsl configuration melab applies for a resolve scope."""
    if scope not in LSL_SCOPES:
        raise LslConfigError(
            f"LSL resolve scope {scope!r} is not one of {', '.join(LSL_SCOPES)}."
        )
    # IPv6 stays off in every scope: liblsl would otherwise multicast on both families, and
    # the lab's senders are reachable over IPv4.
    return f"[ports]\nIPv6 = disable\n[multicast]\nResolveScope = {scope}\n"


# What the simulated lab, the tests and the benchmarks use: nothing leaves the machine.
LSL_LOOPBACK_CONFIG = lsl_config_content(DEFAULT_LSL_SCOPE)

_lock = threading.Lock()
_scope: str | None = None


def configure_lsl(scope: str | None = None) -> str:
    """Apply the LSL configuration once per process; returns the scope in force.

    scope None takes whatever this process already applied (`machine` when nothing was). A
    different scope after the first application raises LslConfigError: liblsl would go on
    with the first one.
    """
    global _scope
    with _lock:
        if _scope is not None:
            if scope is not None and scope != _scope:
                raise LslConfigError(
                    f"LSL already runs with resolve scope {_scope!r} in this process and "
                    f"cannot switch to {scope!r}: liblsl reads its configuration once, before "
                    "its first call. Choose the scope when the program starts."
                )
            return _scope
        wanted = scope or DEFAULT_LSL_SCOPE
        content = lsl_config_content(wanted)
        import pylsl

        pylsl.set_config_content(content)
        _scope = wanted
        return wanted


def is_configured() -> bool:
    """Tell whether this process applied its LSL configuration."""
    return _scope is not None


def lsl_scope() -> str | None:
    """The resolve scope this process applied, or None before configure_lsl()."""
    return _scope


def local_clock() -> float:
    """Session clock: the host's LSL clock in seconds (configures LSL first)."""
    configure_lsl()
    import pylsl

    return pylsl.local_clock()
