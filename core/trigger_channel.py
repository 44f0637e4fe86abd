"""Which channels of a continuous stream carry the trigger box's lines (docs/sync.md).

One rule, used by sync (recordings/sync/synchronize.py) to find the edges and by the recorder
at connect time to name a stream that has none: an explicit choice first, then the channel
type the sender declares in its LSL header (`desc/channels/channel/type`), then a list of
labels amplifiers and bridges commonly give that channel.

The trigger arrives either as one channel holding the 8-bit code (SynAmps TRIGGER, a BIOPAC
bridge that combines the digital inputs) or as one channel per line (the MP160's D1..D8 as
eight channels): then line k (bit k) is the k-th of them, in channel order (or, found by
label, in the order of their numbers D1..D8).

A line is "on" where it differs from its idle level: 0 for most senders, 65280 (0xFF00) for
Curry's trigger word, 65535 for a Neuroscan Acquire bridge. A rig profile states the idle
level and the bit mask of the box's lines (docs/rig-profiles.md); without one, the idle level
is the channel's most common value and the mask the low 8 bits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Declared channel types (case-insensitive) that mean "the trigger lines": XDF/MNE `stim`,
# and what LSL senders write for digital inputs and event channels.
TRIGGER_TYPES = ("stim", "trigger", "trig", "digital", "marker", "markers", "event", "events")
# Labels (compared without case, spaces, '_' or '-') of a channel holding the code: SynAmps /
# Curry TRIGGER, BIOPAC bridges DIGITAL, Neuromag STI 014 / STI 101, BioSemi Status, EGI DIN,
# and the generic names.
TRIGGER_LABELS = ("TRIGGER", "TRIG", "TRG", "DIGITAL", "STIM", "STI 014", "STI 101", "STATUS",
                  "EVENT", "EVENTS", "MARKER", "MARKERS", "DIN")
# Labels of single-line channels, one per box line, numbered from 1 (the MP160's D1..D8).
LINE_LABEL = re.compile(r"^(?:D|DI|DIN|DIGITAL|LINE|TTL)0?([1-8])$")
BOX_LINES = 8  # the trigger box drives 8 lines: at most 8 single-line channels
BOX_MASK = 0xFF  # the box's lines in a code channel: bits 0..7 unless a rig profile says
LINE_SEPARATOR = ","  # an explicit choice of single-line channels: "D1,D2,...,D8"


@dataclass(frozen=True)
class TriggerChannel:
    """A stream's trigger: one code channel, or single lines (bit k = columns[k])."""

    columns: tuple[int, ...]
    labels: tuple[str, ...]
    found_by: str  # choice | type | label | profile
    idle: float | None = None  # the lines' level at rest; None: the most common value
    mask: int = BOX_MASK  # bits of a code channel that are the box's lines

    @property
    def is_code(self) -> bool:
        """True when one channel holds the whole code (not one channel per line)."""
        return len(self.columns) == 1

    @property
    def label(self) -> str:
        """The channel label, or the lines' labels joined as an explicit choice writes them."""
        return LINE_SEPARATOR.join(self.labels)


def _label_key(label: str) -> str:
    """A label compared without case, spaces, underscores or hyphens ('Sti_014' = 'STI 014')."""
    return re.sub(r"[\s_\-]+", "", label).upper()


_KNOWN_LABELS = frozenset(_label_key(label) for label in TRIGGER_LABELS)


def is_trigger_type(channel_type: str) -> bool:
    """True when a declared channel type means the trigger lines."""
    return channel_type.strip().lower() in TRIGGER_TYPES


def is_trigger_label(label: str) -> bool:
    """True when a channel label is one of TRIGGER_LABELS."""
    return _label_key(label) in _KNOWN_LABELS


def find_trigger_channel(labels: Sequence[str], types: Sequence[str] = (),
                         chosen: str | None = None) -> TriggerChannel | None:
    """The trigger: the chosen channel(s), else by declared type, else by label; None if none.

    By label: a known code label, else single lines labelled D1, D2, ... (bit 0 = line 1).
    By type: one channel of a trigger type is the code channel; among several, one with a
    known label is (Neuromag: STI 101 next to the single lines STI 001..016); several without
    a known label are single lines, bit 0 first (the first BOX_LINES). `chosen` names one
    label, or single lines as "L1,L2,..." (bit 0 first); case-insensitive; ValueError if a
    label is not the stream's.
    """
    if chosen is not None:
        columns = tuple(_index_of(labels, part) for part in chosen.split(LINE_SEPARATOR))
        return _channel(labels, columns, "choice")
    typed = [i for i, t in enumerate(types) if is_trigger_type(t)]
    named = [i for i in typed if is_trigger_label(labels[i])]
    if named:
        return _channel(labels, (named[0],), "type")
    if len(typed) == 1:
        return _channel(labels, (typed[0],), "type")
    if typed:
        return _channel(labels, tuple(typed[:BOX_LINES]), "type")
    known = [i for i, label in enumerate(labels) if is_trigger_label(label)]
    if known:
        return _channel(labels, (known[0],), "label")
    lines = _line_columns(labels)
    return _channel(labels, lines, "label") if lines else None


def _line_columns(labels: Sequence[str]) -> tuple[int, ...]:
    """Single-line channels by label (D1..D8, DIN1, ...), bit 0 first; () unless line 1 is one."""
    numbered = {}
    for index, label in enumerate(labels):
        match = LINE_LABEL.match(_label_key(label))
        if match:
            numbered.setdefault(int(match.group(1)), index)
    count = 0
    while count + 1 in numbered:
        count += 1
    return tuple(numbered[k] for k in range(1, count + 1))


def _channel(labels: Sequence[str], columns: tuple[int, ...], found_by: str) -> TriggerChannel:
    if len(columns) > BOX_LINES:
        raise ValueError(f"at most {BOX_LINES} single-line trigger channels (the box has "
                         f"{BOX_LINES} lines), got {len(columns)}")
    return TriggerChannel(columns, tuple(labels[i] for i in columns), found_by)


def _index_of(labels: Sequence[str], chosen: str) -> int:
    """Index of the label `chosen` names; ValueError listing the labels when none does."""
    wanted = chosen.strip().lower()
    for index, label in enumerate(labels):
        if label.strip().lower() == wanted:
            return index
    raise ValueError(f"trigger channel {chosen.strip()!r} is not one of the stream's channels "
                     f"({', '.join(labels) or 'none'})")
