"""A problem found in a TOML file a user wrote (protocol, stimulus manifest, rig profile):
where (file, line) and what."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or doubtful) in a file: protocol, stimulus manifest, rig profile."""

    file: Path
    line: int | None
    message: str
    severity: str = "error"  # "error" stops the protocol from running; "warning" does not

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        return f"{where}: {self.severity}: {self.message}"
