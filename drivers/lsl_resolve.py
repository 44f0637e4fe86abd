"""Resolving LSL streams: the ones a query selects, and every one visible in this scope."""

from __future__ import annotations

import logging

from core.clock import configure_lsl, lsl_scope
from core.devices import DeviceError
from drivers.lsl_query import StreamQuery

# The configuration must precede pylsl's first call in this process.
configure_lsl()

import pylsl  # noqa: E402

log = logging.getLogger(__name__)

# Only listing visible streams in an error message waits this long (resolve_streams always
# waits its full time), so the happy path never pays it.
_LIST_WAIT = 1.0


def find_streams(query: StreamQuery, timeout: float) -> list[pylsl.StreamInfo]:
    """Streams matching the query; returns as soon as one answers (or after timeout)."""
    criteria = query.criteria()
    if not criteria:
        raise DeviceError(
            "No LSL stream selector given: pass at least one of name, type, source_id or "
            "hostname (source_id is the unambiguous choice when several devices share a type)."
        )
    if len(criteria) == 1:
        ((prop, value),) = criteria.items()
        # resolve_byprop returns as soon as a match answers, not after the full timeout.
        return list(pylsl.resolve_byprop(prop, value, 1, timeout))
    return list(pylsl.resolve_bypred(query.predicate(), 1, timeout))


def visible_streams(wait_time: float = _LIST_WAIT) -> list[tuple[str, str, str, str]]:
    """(name, type, source_id, hostname) of every LSL stream visible in this process's scope."""
    return [(i.name(), i.type(), i.source_id(), i.hostname())
            for i in pylsl.resolve_streams(wait_time)]


def resolve_stream_info(query: StreamQuery, timeout: float = 5.0) -> pylsl.StreamInfo:
    """Find one LSL stream matching the query; DeviceError when none shows up."""
    found = find_streams(query, timeout)
    if found:
        if len(found) > 1:
            log.warning(
                "%d LSL streams match %s; using the first (source_id %r). Select by "
                "source_id to choose.", len(found), query.describe(), found[0].source_id())
        return found[0]
    scope = lsl_scope() or "machine"
    where = "on this machine" if scope == "machine" else f"in LSL resolve scope {scope!r}"
    visible = visible_streams()
    if visible:
        listing = "; ".join(f"name={n!r} type={t!r} source_id={s!r} hostname={h!r}"
                            for n, t, s, h in visible)
        seen = f"Streams visible {where}: {listing}."
    else:
        seen = f"No LSL streams at all are visible {where}."
    if scope == "machine":
        reach = ("that the sender runs on this computer (melab looks on this machine only; "
                 "for a sender on another PC use --lsl-scope site)")
    else:
        reach = (f"that the sender's computer is reachable in scope {scope!r} (same network, "
                 "firewall open for LSL's UDP 16571 and TCP 16572-16603)")
    raise DeviceError(
        f"No LSL stream with {query.describe()} appeared within {timeout:g} s. {seen} "
        "Check that the sending program (e.g. Curry's LSL output for EEG, the AcqKnowledge "
        "bridge for Physio) is running with its LSL output switched on, that the selector "
        f"matches exactly (case-sensitive), and {reach}."
    )
