"""Problems found while checking a protocol: where (file, line) and what."""

from __future__ import annotations

from collections.abc import Iterable

from core.problems import Problem


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
