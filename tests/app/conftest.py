"""Builders the app tests share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import unique_prefix


@pytest.fixture
def sim_rigs() -> Iterator[Callable[..., Any]]:
    """`sim_rigs(seed=, width=, height=, **options)` -> the rig factory the console calls
    (planned seconds -> app.rig.Rig on a running simulated lab, as `melab demo` builds it).

    Every rig gets LSL names no other lab on the machine uses; rigs the console did not close
    (a failed test) are closed when the test ends.
    """
    from app.rig import Rig, simulated_rig

    made: list[Rig] = []

    def factory(*, seed: int, width: int, height: int, **options: Any) -> Callable[[float], Rig]:
        def make(seconds: float) -> Rig:
            rig = simulated_rig(seconds, seed=seed, width=width, height=height,
                                prefix=unique_prefix("console"), **options)
            made.append(rig)
            return rig

        return make

    yield factory
    for rig in made:
        rig.close()
