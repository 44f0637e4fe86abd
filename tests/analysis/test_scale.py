"""`melab analyze` on dask.distributed: a cluster by address, a killed worker, --resume."""

from __future__ import annotations

import logging
import os
import signal

import pytest

from analysis import AnalysisFailed
from analysis.compare import differing_results
from analysis.pipeline import analyze
from analysis.resume import FOLDER
from analysis.scheduler import RunOptions
from app.cli.main import main
from recordings.simulated.dataset import DatasetConfig, write_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("scale_dataset")
    write_dataset(out, DatasetConfig(participants=2, duration=30.0, trials=2, eeg_channels=4,
                                     fps=25.0))
    return out


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory):
    """The results of `--workers 1`: every task in the test's own process."""
    out = tmp_path_factory.mktemp("one_worker")
    assert main(["analyze", str(dataset), "--out", str(out), "--workers", "1"]) == 0
    return out


@pytest.fixture
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c


def test_a_cluster_given_by_address_gives_the_same_results(dataset, reference, cluster, tmp_path):
    out = tmp_path / "out"
    assert main(["analyze", str(dataset), "--out", str(out),
                 "--scheduler", cluster.scheduler_address]) == 0
    assert (out / "spotting.csv").stat().st_size > 0
    assert differing_results(reference, out) == []


def test_a_worker_killed_mid_run_is_replaced_and_nothing_is_lost(dataset, reference, cluster,
                                                                 tmp_path):
    from distributed import Client

    killed: list[int] = []
    with Client(cluster) as client:
        pids = client.run(os.getpid)

        def kill_a_busy_worker(_fraction: float, _message: str) -> None:
            busy = [w for w, keys in client.processing().items() if keys]
            if not killed and busy:
                killed.append(pids[busy[0]])
                os.kill(pids[busy[0]], signal.SIGKILL)

        out = tmp_path / "out"
        analyze([dataset], out, progress=kill_a_busy_worker,
                run=RunOptions(scheduler=cluster.scheduler_address))
        after = set(client.run(os.getpid).values())
    assert killed and killed[0] not in after  # a task's worker died; the nanny started another
    assert len(after) == 2
    assert differing_results(reference, out) == []


def test_a_failed_clip_is_named_and_resume_analyses_only_the_rest(dataset, reference, tmp_path,
                                                                  monkeypatch):
    import analysis.tasks as tasks

    read_clip = tasks.read_clip

    def unreadable(session, name, *args):
        if session.metadata.participant == "S02" and name == "trial001":
            raise OSError("simulated read error")
        return read_clip(session, name, *args)

    monkeypatch.setattr(tasks, "read_clip", unreadable)
    out = tmp_path / "out"
    with pytest.raises(AnalysisFailed) as failed:
        analyze([dataset], out, run=RunOptions(workers=1))
    message = str(failed.value)
    assert "1 analysis task(s) failed: S02_s01/trial001: OSError: simulated read error" in message
    assert "--resume" in message
    kept = sorted(p.name.split("-")[0] for p in (out / FOLDER).glob("*.pkl"))
    assert kept == ["S01_s01"]  # the complete session's results survived the failure
    assert not (out / "spotting.csv").exists()

    monkeypatch.setattr(tasks, "read_clip", read_clip)
    messages: list[str] = []
    analyze([dataset], out, run=RunOptions(workers=1, resume=True),
            progress=lambda _f, m: messages.append(m))
    assert any("1 of 2 sessions kept from an earlier run" in m for m in messages)
    assert not any("session S01_s01 done" in m for m in messages)
    assert any("session S02_s01 done" in m for m in messages)
    assert differing_results(reference, out) == []


def test_resume_analyses_a_session_again_when_its_files_changed(dataset, reference, tmp_path):
    out = tmp_path / "out"
    messages: list[str] = []
    analyze([dataset], out, run=RunOptions(workers=1), progress=lambda _f, m: messages.append(m))
    segment = dataset / "S01_s01" / "video" / "trial001.h5"
    stat = segment.stat()
    os.utime(segment, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    try:
        messages.clear()
        analyze([dataset], out, run=RunOptions(workers=1, resume=True),
                progress=lambda _f, m: messages.append(m))
    finally:
        os.utime(segment, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert any("1 of 2 sessions kept" in m for m in messages)
    assert any("session S01_s01 done" in m for m in messages)
    # The progress figures come from tqdm: tasks done of all, elapsed and the ETA.
    assert any(m.startswith("3/3 tasks, ") and " elapsed, ETA 00:00" in m for m in messages)
    assert differing_results(reference, out) == []
