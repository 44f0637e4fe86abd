"""Problems found while checking a protocol: where (file, line) and what."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or doubtful) in a protocol or stimulus manifest file."""

    file: Path
    line: int | None
    message: str
    severity: str = "error"  # "error" stops the protocol from running; "warning" does not

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        return f"{where}: {self.severity}: {self.message}"


class ProtocolError(ValueError):
    """A protocol cannot run; carries every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        lines = "\n  ".join(str(p) for p in errors)
        super().__init__(f"protocol has {len(errors)} problem(s):\n  {lines}")


def errors(problems: Iterable[Problem]) -> list[Problem]:
    """Only the problems that prevent a run."""
    return [p for p in problems if p.severity == "error"]
