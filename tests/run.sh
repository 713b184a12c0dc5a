#!/usr/bin/env bash
# The test command: install the package (not editable) with its test extras, then run pytest
# against the installed package (from inside tests/, so the source tree does not shadow it).
# The real-server tests start Dovecot and an SMTP server themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --upgrade ".[test]"
cd tests
exec python3 -m pytest -p no:cacheprovider -q "$@" .
