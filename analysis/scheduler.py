"""Where the analysis' tasks run: in this process, on a local Dask cluster, or on a remote one.

`open_engine` gives an Engine for the run options: `workers=1` runs every task here in
order (the debugging path); otherwise dask.distributed runs them, on a LocalCluster of one
single-threaded worker process per core by default, or on the scheduler at `scheduler`
(workers on other machines that see the same session files). A task that raises, or whose
worker died too often (Dask reschedules the tasks of a dead worker by itself), becomes a
Failure naming it; the other tasks go on.
"""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from analysis import AnalysisCancelled

Progress = Callable[[float, str], None]
TICK_S = 1.0  # how often the elapsed time and ETA are refreshed while tasks run


@dataclass(frozen=True)
class RunOptions:
    """Where and how the tasks run (docs/analysis.md, "Many sessions")."""

    workers: int | None = None  # None: one worker process per core; 1: in this process
    scheduler: str | None = None  # address of a running Dask scheduler (tcp://host:8786)
    resume: bool = False  # keep sessions whose stored results match their inputs


@dataclass(frozen=True)
class Task:
    """One independent piece of work, named by what it analyses (session/clip)."""

    label: str
    group: str  # the session it belongs to
    fn: Callable[..., Any]
    args: tuple


@dataclass(frozen=True)
class Failure:
    """A task that did not complete and why."""

    label: str
    error: str


Done = Callable[[Task, Any], None]


class TaskProgress:
    """A tqdm bar over the tasks (the CLI's) and the same figures, as text, for a progress
    callback (the console's dialog): tasks done of all, elapsed time, ETA."""

    def __init__(self, total: int, progress: Progress | None, file: Any = None) -> None:
        self.progress, self.file = progress, file
        # smoothing=0: the ETA from the mean rate so far, as figures() computes it
        self.bar = tqdm(total=total, unit="task", desc="analyze", file=file or io.StringIO(),
                        mininterval=0, smoothing=0, dynamic_ncols=True)
        self.last = "starting"
        self.tell()

    def figures(self) -> str:
        """'3/12 tasks, 00:42 elapsed, ETA 01:10' (tqdm's own clock and formatting)."""
        d = self.bar.format_dict
        n, total, elapsed = d["n"], d["total"], d["elapsed"]
        eta = tqdm.format_interval((total - n) * elapsed / n) if n else "?"
        return f"{n}/{total} tasks, {tqdm.format_interval(elapsed)} elapsed, ETA {eta}"

    def tell(self, message: str | None = None) -> None:
        """Refresh the bar; hand its figures and the latest event to the callback."""
        self.last = message or self.last
        self.bar.refresh()
        if self.progress is not None:
            fraction = self.bar.n / self.bar.total if self.bar.total else 1.0
            self.progress(fraction, f"{self.figures()}\n{self.last}")

    def done(self, label: str) -> None:
        """One more task finished."""
        self.bar.update(1)
        self.tell(f"finished {label}")

    def line(self, text: str) -> None:
        """A line of its own above the bar (a finished session)."""
        if self.file is not None:
            self.bar.write(text, file=self.file)
        self.tell(text)

    def close(self) -> None:
        """Leave the bar at its last state."""
        self.bar.close()


class Engine:
    """Runs tasks in this process, one after the other."""

    workers = 1

    def run(self, tasks: Sequence[Task], done: Done, ticker: TaskProgress,
            cancel: threading.Event | None = None) -> list[Failure]:
        """Run every task; `done` receives each result as it comes; the failures are returned."""
        failures = []
        for task in tasks:
            check_cancel(cancel)
            try:
                result = task.fn(*task.args)
            except Exception as exc:  # named, and the other tasks go on
                failures.append(Failure(task.label, _describe(exc)))
                ticker.done(task.label)
            else:
                ticker.done(task.label)
                done(task, result)
        return failures

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """fn over items, results in order."""
        return [fn(item) for item in items]


class DaskEngine(Engine):
    """Runs tasks on a dask.distributed cluster through a Client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))

    def run(self, tasks: Sequence[Task], done: Done, ticker: TaskProgress,
            cancel: threading.Event | None = None) -> list[Failure]:
        """Submit every task; handle results as they complete, refreshing the ETA meanwhile."""
        from distributed import wait

        futures = {self.client.submit(t.fn, *t.args, key=_key(t.label), pure=False): t
                   for t in tasks}
        pending, failures = set(futures), []
        try:
            while pending:
                check_cancel(cancel)
                try:
                    finished, pending = wait(pending, timeout=TICK_S, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    ticker.tell()
                    continue
                for future in finished:
                    task = futures.pop(future)
                    ticker.done(task.label)
                    if future.status == "finished":
                        done(task, future.result())
                    else:
                        failures.append(Failure(task.label, _describe(future.exception())))
                    future.release()
        finally:
            if pending:
                self.client.cancel(list(pending))
        return failures

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """fn over items on the cluster, results in order."""
        return self.client.gather(self.client.map(fn, items, pure=False))


@contextmanager
def open_engine(run: RunOptions) -> Iterator[Engine]:
    """The engine for the run options, closed (with its local cluster) afterwards."""
    if run.workers is not None and run.workers < 1:
        raise ValueError(f"workers must be 1 or more, not {run.workers}")
    if run.scheduler is None and run.workers == 1:
        yield Engine()
        return
    from distributed import Client, LocalCluster

    if run.scheduler is not None:
        try:
            _reachable(run.scheduler)
            client = Client(run.scheduler, timeout="10s")
        except OSError as exc:
            raise ValueError(f"no Dask scheduler answers at {run.scheduler} ({exc}); start "
                             "one (dask-scheduler) or leave out --scheduler") from None
        with client:
            yield DaskEngine(client)
        return
    with LocalCluster(n_workers=run.workers or os.cpu_count() or 1, threads_per_worker=1,
                      processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield DaskEngine(client)


def _reachable(address: str) -> None:
    """Fail at once (OSError) when nothing listens at a tcp:// address: Dask's client would
    retry a refused connection until its timeout."""
    match = re.fullmatch(r"(?:tcp://)?\[?([^\]]+?)\]?:(\d+)", address)
    if match:
        socket.create_connection((match[1], int(match[2])), timeout=10).close()


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise AnalysisCancelled once the user set the cancel event."""
    if cancel is not None and cancel.is_set():
        raise AnalysisCancelled("analysis cancelled")


def _key(label: str) -> str:
    """A unique Dask key that still names the task on a dashboard."""
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)}-{uuid.uuid4().hex[:8]}"


def _describe(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}" if exc is not None else "cancelled"
