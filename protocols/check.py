"""`melab protocol check`: validate a protocol file and print every problem with file and line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from protocols.loader import read_protocol, resolve_protocol_path
from protocols.problems import errors


def check_command(file: str | Path, stimuli: str | Path | None = None,
                  out: TextIO | None = None) -> int:
    """Print the check's result; 0 when the protocol can run, 1 when it has errors."""
    out = out if out is not None else sys.stdout
    path = resolve_protocol_path(file)
    protocol, problems = read_protocol(path, stimuli)
    for problem in problems:
        print(problem, file=out)
    failed = errors(problems)
    warnings = len(problems) - len(failed)
    if failed or protocol is None:
        print(f"{path}: {len(failed)} error(s), {warnings} warning(s): the protocol cannot run",
              file=out)
        return 1
    trials = len(protocol.practice) + len(protocol.main)
    print(f"{path}: OK ({warnings} warning(s)): {protocol.name!r}, {len(protocol.practice)} "
          f"practice + {len(protocol.main)} main trials ({trials} in all), clips in "
          f"{protocol.stimulus_folder}", file=out)
    return 0
