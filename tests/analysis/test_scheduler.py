"""analysis.scheduler: tasks run in this process, failures named, progress figures from tqdm."""

from __future__ import annotations

import io
import re
import threading

import pytest

from analysis import AnalysisCancelled
from analysis.scheduler import Engine, Failure, RunOptions, Task, TaskProgress, open_engine


def _square(x: int) -> int:
    if x == 3:
        raise ValueError("three is unreadable")
    return x * x


def test_in_process_engine_names_a_failed_task_and_runs_the_others() -> None:
    tasks = [Task(f"S01/trial00{i}", "S01", _square, (i,)) for i in range(1, 5)]
    results: dict[str, int] = {}
    events: list[tuple[float, str]] = []
    ticker = TaskProgress(len(tasks), lambda f, m: events.append((f, m)))
    failures = Engine().run(tasks, lambda t, r: results.__setitem__(t.label, r), ticker)
    assert failures == [Failure("S01/trial003", "ValueError: three is unreadable")]
    assert results == {"S01/trial001": 1, "S01/trial002": 4, "S01/trial004": 16}
    assert [f for f, _ in events] == [0.0, 0.25, 0.5, 0.75, 1.0]
    # Elapsed is whatever the clock said (a busy machine may be past 00:00); the format is fixed.
    assert re.match(r"0/4 tasks, \d\d:\d\d elapsed, ETA \?\nstarting", events[0][1])
    assert events[-1][1].startswith("4/4 tasks, ") and "ETA 00:00\nfinished S01/trial004" in (
        events[-1][1])


def test_the_bar_and_the_callback_show_the_same_figures() -> None:
    bar = io.StringIO()
    seen: list[str] = []
    ticker = TaskProgress(2, lambda _f, m: seen.append(m), bar)
    ticker.done("S01/trial001")
    ticker.line("session S01 done")
    ticker.close()
    printed = bar.getvalue()
    assert "1/2" in printed and "session S01 done\n" in printed  # tqdm's bar and its line
    assert seen[-1].startswith("1/2 tasks, ") and seen[-1].endswith("\nsession S01 done")


def test_a_set_cancel_event_stops_before_the_next_task() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(AnalysisCancelled):
        Engine().run([Task("a", "g", _square, (1,))], lambda t, r: None, TaskProgress(1, None),
                     cancel)


def test_one_worker_runs_here_and_zero_is_refused() -> None:
    with open_engine(RunOptions(workers=1)) as engine:
        assert type(engine) is Engine and engine.map(_square, [1, 2]) == [1, 4]
    with pytest.raises(ValueError, match="workers must be 1 or more"), open_engine(
            RunOptions(workers=0)):
        pass
