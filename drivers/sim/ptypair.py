"""A real serial byte stream between two pseudo-terminals, made by socat."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from core.devices import DeviceError


class PtyPair:
    """socat linking two ptys: `a` for the host driver, `b` for the simulated device."""

    def __init__(self, folder: str | Path | None = None, timeout: float = 5.0) -> None:
        socat = shutil.which("socat")
        if socat is None:
            raise DeviceError(
                "the simulated trigger box needs socat for its serial line: "
                "install it (apt-get install socat)"
            )
        self._tmp = None if folder else tempfile.TemporaryDirectory(prefix="melab-pty-")
        base = Path(folder or self._tmp.name)  # type: ignore[union-attr]
        self.a, self.b = str(base / "ttyA"), str(base / "ttyB")
        log = base / "socat.log"  # socat's notices; read only to explain a failure
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [socat, "-d", "-d", f"pty,raw,echo=0,link={self.a}",
                 f"pty,raw,echo=0,link={self.b}"],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        while not (Path(self.a).exists() and Path(self.b).exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise DeviceError("socat did not create the pty pair for the simulated box: "
                                  + log.read_text(errors="replace").strip()[-500:])
            time.sleep(0.01)

    def close(self) -> None:
        """Stop socat (both ptys disappear) and remove the temporary folder."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
