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

# Qt Multimedia needs libpulse0 to import; the serial tests need socat for pty pairs.
missing=()
ldconfig -p 2>/dev/null | grep -q 'libpulse.so.0' || missing+=(libpulse0)
command -v socat >/dev/null 2>&1 || missing+=(socat)
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
