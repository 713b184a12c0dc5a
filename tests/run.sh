#!/usr/bin/env bash
# The test command: install the package (not editable) with its test extras into ./.venv, check the
# code (ruff; mypy, strict on generator/), then run pytest against the installed package (from inside
# tests/, so the source tree does not shadow it). The real-server tests start Dovecot and SMTP themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
sh install.sh "[test]"
venv=$(cd "${MAILPROFILES_VENV:-.venv}" && pwd)
"$venv/bin/ruff" check generator tests benchmarks
"$venv/bin/mypy"
cd tests
exec "$venv/bin/python" -m pytest -p no:cacheprovider -q "$@" .
