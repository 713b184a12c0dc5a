#!/bin/sh
# Install mailprofiles (and optional extras, e.g. "[test]") into a virtual environment, ./.venv by
# default. Never installs into the system Python: on Debian and Ubuntu that Python refuses it
# (PEP 668, "externally-managed-environment"). Works with any python3 >= 3.10 (PYTHON=... to choose).
set -eu
cd "$(dirname "$0")"
python=${PYTHON:-python3}
venv=${MAILPROFILES_VENV:-.venv}
extras=${1:-}

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "install.sh: $python is missing or older than 3.10; set PYTHON=/path/to/python3.10+" >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$venv"
    if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
        # Debian and Ubuntu ship venv's pip bootstrap separately (python3-venv).
        rm -rf "$venv"
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            "$python" -m venv "$venv"
        else
            echo "install.sh: $python cannot create a virtual environment." >&2
            echo "  On Debian or Ubuntu: sudo apt-get install python3-venv   (then run install.sh again)" >&2
            exit 1
        fi
    fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade ".$extras"
echo "mailprofiles installed in $venv: run $venv/bin/mailprofiles"
