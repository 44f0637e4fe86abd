#!/usr/bin/env bash
# Sets up everything melab needs on a fresh machine: system libraries (when run as root),
# a virtual environment in $VENV and melab installed into it in editable mode.
set -euo pipefail
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
    echo "melab needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)." >&2
    exit 1
}

# System packages: Qt Multimedia needs libpulse0 to import; the serial tests need socat for
# pty pairs; Qt's xcb platform plugin (the console on an X desktop) needs the xcb libraries
# below, without which Qt aborts at start; xvfb gives the desktop tests a real X display;
# chromium opens report.html headless in its test (screenshot, console errors, images).
SYSTEM_PACKAGES=(libpulse0 socat xvfb chromium
    libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
    libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for package in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$package")
    done
else  # not Debian: check what can be checked; the names are Debian's
    ldconfig -p 2>/dev/null | grep -q 'libpulse.so.0' || missing+=(libpulse0)
    command -v socat >/dev/null 2>&1 || missing+=(socat)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing system packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "warning: missing system packages ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]})" >&2
    fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[dev]'
