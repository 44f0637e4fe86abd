"""When Qt cannot open its platform plugin, melab says why in one line instead of aborting.

Real cases, each in a process of its own: a DISPLAY no X server serves, and an Xvfb display
whose xcb plugin cannot load because libxcb-cursor.so.0 is hidden (a private mount namespace
lays an empty file over it, the way a machine without the package fails).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.qt_platform import apt_package, platform_problem

REPO = Path(__file__).resolve().parents[2]
XCB_LIBRARIES = {  # the list, as Debian names them
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1"}


def test_the_apt_package_of_each_library_qt_needs() -> None:
    assert {name: apt_package(name) for name in XCB_LIBRARIES} == XCB_LIBRARIES
    assert apt_package("/usr/lib/x86_64-linux-gnu/libxcb-cursor.so.0.0.0") == "libxcb-cursor0"


def unused_display() -> str:
    """An X display number no server listens on here."""
    number = 90
    while Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
        number += 1
    return f":{number}"


def display_env(display: str) -> dict[str, str]:
    """This environment on an X display, Qt choosing its platform itself (xcb)."""
    env = {**os.environ, "DISPLAY": display}
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "QT_LOGGING_RULES"):
        env.pop(name, None)
    return env


def test_a_display_nobody_serves_is_named() -> None:
    display = unused_display()
    said = platform_problem(display_env(display))
    assert said.startswith(f"Qt cannot open the display {display}: no X server answers")
    assert "\n" not in said


class Demo:
    """`melab demo` in a process of its own (argv may put a wrapper in front)."""

    def __init__(self, argv: list[str], env: dict[str, str], tmp_path: Path) -> None:
        self.out = tmp_path / "out"
        self.err = tmp_path / "demo.stderr"
        env = {**env, "MELAB_STIMULI_CACHE": str(tmp_path / "stimuli"),
               "TMPDIR": str(tmp_path)}
        with self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [*argv, sys.executable, "-m", "app.cli", "demo", "--out", str(self.out)],
                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        self.lines.extend(self.proc.stdout)

    def stop_once_recording(self) -> int:
        """SIGTERM once a trial's video is written (the offscreen console runs); exit code."""
        deadline = time.monotonic() + 300  # only against a hang
        while not any(self.out.glob("*/video/*.h5")):
            assert self.proc.poll() is None, self.err.read_text()[-3000:]
            assert time.monotonic() < deadline, "no trial recorded"
            time.sleep(0.1)
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=300)
        self._reader.join(timeout=10)
        return code

    def said(self) -> list[str]:
        """melab's own lines on stderr (liblsl's log lines left out)."""
        return [line for line in self.err.read_text().splitlines()
                if line.startswith("melab demo:")]


def assert_fell_back(demo: Demo, problem_start: str) -> str:
    """The one line, then the offscreen autopilot's session, closed by the SIGTERM."""
    assert demo.stop_once_recording() == 128 + signal.SIGTERM
    (line, stopped) = demo.said()
    assert line.startswith(f"melab demo: {problem_start}"), line
    assert line.endswith("; running offscreen instead")
    assert stopped.startswith("melab demo: stopped by SIGTERM; session closed: ")
    assert "offscreen, the autopilot playing the participant" in demo.lines[0]
    stderr = demo.err.read_text()
    assert "Traceback" not in stderr and "Aborted" not in stderr
    return line


@pytest.mark.slow
def test_the_demo_runs_offscreen_when_the_display_cannot_be_opened(tmp_path: Path) -> None:
    display = unused_display()
    demo = Demo([], display_env(display), tmp_path)
    assert_fell_back(demo, f"Qt cannot open the display {display}")


@pytest.fixture(scope="module")
def xvfb() -> Iterator[str]:
    """A running Xvfb display (`apt-get install xvfb`; scripts/bootstrap.sh does as root)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-nolisten", "tcp",
                               "-screen", "0", "1280x1024x24"], pass_fds=(write,),
                              stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as numbers:
        number = numbers.readline().strip()
    assert number, "Xvfb did not start"
    yield f":{number}"
    server.terminate()
    server.wait(timeout=30)


def hiding(library: str, tmp_path: Path) -> list[str]:
    """A command prefix that runs its command with `library` (a file name the loader finds
    through the xcb plugin) replaced by an empty file, in a private mount namespace."""
    from PyQt6.QtCore import QLibraryInfo

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    found = subprocess.run(["ldd", str(plugins / "platforms" / "libqxcb.so")],
                           capture_output=True, text=True, check=True).stdout
    paths = [line.split("=>")[1].split("(")[0].strip() for line in found.splitlines()
             if line.strip().startswith(library + " =>")]
    if not paths or not paths[0].startswith("/"):
        pytest.skip(f"{library} is not installed here")
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    if shutil.which("unshare") is None or subprocess.run(
            [*unshare, "true"], capture_output=True).returncode != 0:
        pytest.skip("no private mount namespace here (unshare)")
    empty = tmp_path / "empty.so"
    empty.touch()
    return [*unshare, "sh", "-c", f'mount --bind "{empty}" "{paths[0]}" && exec "$@"', "sh"]


@pytest.mark.slow
def test_xcb_without_libxcb_cursor_names_it_and_the_demo_runs_offscreen(
        xvfb: str, tmp_path: Path) -> None:
    env = display_env(xvfb)
    assert platform_problem(env) == ""  # Xvfb serves, the plugin loads: the real desktop
    wrapper = hiding("libxcb-cursor.so.0", tmp_path)
    gui = subprocess.run([*wrapper, sys.executable, "-m", "app.cli", "gui", "--simulate"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert gui.returncode == 2, gui.stderr[-3000:]
    (line,) = [x for x in gui.stderr.splitlines() if x.startswith("melab gui:")]
    assert line.startswith("melab gui: error: Qt cannot load its xcb platform plugin: "
                           "libxcb-cursor.so.0 cannot be loaded")
    assert "apt-get install libxcb-cursor0" in line
    demo = Demo(wrapper, env, tmp_path)
    said = assert_fell_back(demo, "Qt cannot load its xcb platform plugin: libxcb-cursor.so.0")
    assert "apt-get install libxcb-cursor0" in said
