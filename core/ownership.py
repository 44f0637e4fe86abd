"""Who owns a file or process melab leaves while it runs, so a later start can tell the
leftovers of a killed melab (SIGKILL, power cut) from those of one still running.

An owner is a process id plus that process's start time: a pid the system has since reused
for another program is not mistaken for the owner.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_TAG = re.compile(r"pid=(\d+) started=(\d+)")


def _start_time(pid: int) -> int | None:
    """A process's start time (clock ticks after boot), or None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":  # exited, not yet reaped: it owns nothing any more
        return None
    return int(fields[19])  # field 22 of the whole line


@dataclass(frozen=True)
class Owner:
    """A process, recognisable again even after its pid was reused."""

    pid: int
    started: int

    @classmethod
    def of(cls, pid: int) -> Owner | None:
        """The running process with this pid (None when there is none)."""
        started = _start_time(pid)
        return None if started is None else cls(pid, started)

    @classmethod
    def this_process(cls) -> Owner | None:
        """The calling process (None without /proc, i.e. not on Linux: nothing is marked)."""
        return cls.of(os.getpid())

    def tag(self) -> str:
        """The text stored beside what this process owns."""
        return f"pid={self.pid} started={self.started}"

    @classmethod
    def from_tag(cls, text: str) -> Owner | None:
        """The owner a stored tag names (None when the text holds no tag)."""
        found = _TAG.search(text)
        return cls(int(found[1]), int(found[2])) if found else None

    def alive(self) -> bool:
        """True while this very process runs."""
        return _start_time(self.pid) == self.started
