"""A real serial byte stream between two pseudo-terminals, made by socat."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from core.devices import DeviceError
from core.ownership import Owner

PREFIX = "melab-pty-"  # the temporary folders melab makes (and may remove when stale)
OWNER_FILE = "owner"  # in each: "melab <tag>" and "socat <tag>" (core.ownership)


class PtyPair:
    """socat linking two ptys: `a` for the host driver, `b` for the simulated device."""

    def __init__(self, folder: str | Path | None = None, timeout: float = 5.0) -> None:
        socat = shutil.which("socat")
        if socat is None:
            raise DeviceError(
                "the simulated trigger box needs socat for its serial line: "
                "install it (apt-get install socat)"
            )
        remove_stale_pty_pairs()
        self._tmp = None if folder else tempfile.TemporaryDirectory(prefix=PREFIX)
        base = Path(folder or self._tmp.name)  # type: ignore[union-attr]
        self.a, self.b = str(base / "ttyA"), str(base / "ttyB")
        log = base / "socat.log"  # socat's notices; read only to explain a failure
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [socat, "-d", "-d", f"pty,raw,echo=0,link={self.a}",
                 f"pty,raw,echo=0,link={self.b}"],
                stdout=subprocess.DEVNULL,
                stderr=err,
                # Its own session: Ctrl-C or a closing terminal signals melab, which closes
                # the recording first and socat after, not socat under a running recording.
                start_new_session=True,
            )
        self._mark_owners(base)
        # Stops socat on every way out of the interpreter that skipped close(); after a
        # SIGKILL the next PtyPair (any melab start) removes it (remove_stale_pty_pairs).
        self._finalizer = weakref.finalize(self, _stop_socat, self.proc, self._tmp)
        deadline = time.monotonic() + timeout
        while not (Path(self.a).exists() and Path(self.b).exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise DeviceError("socat did not create the pty pair for the simulated box: "
                                  + log.read_text(errors="replace").strip()[-500:])
            time.sleep(0.01)

    def _mark_owners(self, base: Path) -> None:
        """Write who owns the folder and the socat process (read by remove_stale_pty_pairs)."""
        melab, socat = Owner.this_process(), Owner.of(self.proc.pid)
        if melab is None:  # no /proc: stale folders cannot be told apart, so none is marked
            return
        lines = [f"melab {melab.tag()}"] + ([f"socat {socat.tag()}"] if socat else [])
        (base / OWNER_FILE).write_text("\n".join(lines) + "\n")

    def close(self) -> None:
        """Stop socat (both ptys disappear) and remove the temporary folder."""
        self._finalizer()


def _stop_socat(proc: subprocess.Popen[bytes], tmp: tempfile.TemporaryDirectory[str] | None,
                ) -> None:
    """Terminate socat (kill it if it lingers) and remove the temporary folder."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if tmp is not None:
        tmp.cleanup()


def remove_stale_pty_pairs(base: str | Path | None = None) -> list[Path]:
    """Remove the pty folders (and stop the socat processes) melab processes that no longer
    run left in the temporary folder; returns the folders removed.

    Only folders named melab-pty-* whose owner file names a melab process that has ended are
    touched, and only the socat process that file names (same pid and start time).
    """
    removed = []
    for folder in Path(base or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            lines = (folder / OWNER_FILE).read_text().splitlines()
        except OSError:  # not marked (yet, or by an older melab): not provably stale
            continue
        owners = {line.split(" ", 1)[0]: Owner.from_tag(line) for line in lines if " " in line}
        melab = owners.get("melab")
        if melab is None or melab.alive():
            continue
        socat = owners.get("socat")
        if socat is not None and socat.alive():
            _end_process(socat)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _end_process(owner: Owner, grace_s: float = 2.0) -> None:
    """SIGTERM a process, SIGKILL it if it is still there after grace_s."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(owner.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while owner.alive():
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(owner.pid, signal.SIGKILL)
            return
        time.sleep(0.01)
