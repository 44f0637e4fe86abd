"""Can Qt open its platform plugin here? Asked in a child process, before any QApplication.

When Qt cannot load its platform plugin (xcb without libxcb-cursor0, a DISPLAY nobody
serves) it aborts the whole process from inside the QApplication constructor, with a core
dump and a screen of text. So the console asks a short-lived child first: it creates a
QGuiApplication in the same environment, with Qt's plugin diagnostics on, and its output
names the library the dynamic loader could not load. The console then says so in one line,
with the apt command, instead of dying.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from app.cli.checks import CommandError

PROBE = ("import sys\nfrom PyQt6.QtGui import QGuiApplication\n"
         "app = QGuiApplication(sys.argv[:1])\nprint('platform', app.platformName())\n")
PROBE_TIMEOUT_S = 60.0  # a loaded machine starts Python and Qt in ~1 s; this is only a hang
_CANNOT_LOAD = re.compile(r'Cannot load library (\S+?): \(?(\S+?\.so[.\d]*): ([^)"\n]+)')
_PLUGIN = re.compile(r'Qt platform plugin "([^"]+)"')
_NO_DISPLAY = re.compile(r"could not connect to display ?(\S*)", re.IGNORECASE)
_NOT_FOUND = re.compile(r"^\s*(\S+\.so[.\d]*) => not found", re.MULTILINE)
BOOTSTRAP = "scripts/bootstrap.sh installs them when run as root"


class QtPlatformError(CommandError):
    """Qt's platform plugin cannot load here: one line naming the cause and what to do."""


def apt_package(soname: str) -> str:
    """The Debian package of a shared library by Debian's naming rule:
    libxcb-cursor.so.0 -> libxcb-cursor0, libxkbcommon-x11.so.0 -> libxkbcommon-x11-0."""
    name, _, version = Path(soname).name.partition(".so")
    version = version.lstrip(".").split(".")[0]
    name = name.lower()
    return f"{name}-{version}" if name[-1:].isdigit() else f"{name}{version}"


def apt_command(packages: list[str]) -> str:
    """The command that installs packages (with sudo unless we are root)."""
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install {' '.join(packages)}"


def platform_problem(env: Mapping[str, str] | None = None) -> str:
    """'' when a QGuiApplication starts in this environment; else one line saying why not
    (the missing library and the apt command, or the display that does not answer)."""
    environ = dict(os.environ if env is None else env)
    environ["QT_DEBUG_PLUGINS"] = "1"  # the loader's error names the missing library
    try:
        probe = subprocess.run([sys.executable, "-c", PROBE], env=environ, text=True,
                               capture_output=True, timeout=PROBE_TIMEOUT_S,
                               preexec_fn=_no_core_dump if os.name == "posix" else None)
    except subprocess.TimeoutExpired:
        return (f"Qt did not open its platform plugin within {PROBE_TIMEOUT_S:g} s; "
                "check DISPLAY, or run offscreen (QT_QPA_PLATFORM=offscreen)")
    if probe.returncode == 0 and "platform " in probe.stdout:
        return ""
    return explain_failure(probe.stderr, probe.returncode)


def _no_core_dump() -> None:
    """In the probe: Qt's abort must not leave a core file behind (it is expected)."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def explain_failure(output: str, returncode: int) -> str:
    """One line from the output of a Qt that could not start its platform plugin."""
    plugins = _PLUGIN.findall(output)
    platform = plugins[-1] if plugins else "platform"
    loaded = _CANNOT_LOAD.search(output)
    if loaded:
        plugin_file, library, reason = loaded.groups()
        missing = [Path(library).name, *missing_libraries(plugin_file)]
        packages = list(dict.fromkeys(apt_package(name) for name in missing))
        return (f"Qt cannot load its {platform} platform plugin: {Path(library).name} "
                f"cannot be loaded ({reason.strip()}); install Qt's system libraries: "
                f"{apt_command(packages)} ({BOOTSTRAP})")
    display = _NO_DISPLAY.search(output)
    if display:
        where = display.group(1) or os.environ.get("DISPLAY", "")
        return (f"Qt cannot open the display {where}: no X server answers there; check "
                "DISPLAY, or run offscreen (QT_QPA_PLATFORM=offscreen)")
    last = [line for line in output.splitlines() if line.strip() and "factoryloader" not in line]
    said = last[-1].strip() if last else f"exit code {returncode}"
    return f"Qt cannot start its {platform} platform plugin: {said}"


def missing_libraries(plugin_file: str) -> list[str]:
    """Every library `ldd` cannot find for a plugin (all of them, not only the first)."""
    ldd = shutil.which("ldd")
    if ldd is None or not Path(plugin_file).is_file():
        return []
    found = subprocess.run([ldd, plugin_file], text=True, capture_output=True, check=False)
    return _NOT_FOUND.findall(found.stdout)


def require_platform() -> None:
    """Raise QtPlatformError unless Qt's platform plugin starts here (call before the
    QApplication exists: Qt aborts the process when it cannot)."""
    problem = platform_problem()
    if problem:
        raise QtPlatformError(problem)
