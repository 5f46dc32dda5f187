#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian/Ubuntu/Pi OS machine, then run them.
# Works as root (no sudo needed) and as a user with sudo (tools/apt_install.sh).
#   bash tests/run.sh            # full suite
#   bash tests/run.sh -k wav     # extra arguments go to pytest
# Environment: VENV (default .venv), SKIP_APT=1 to skip the apt step.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
source tools/apt_install.sh
apt_install portaudio19-dev python3-venv python3-dev gcc pulseaudio pulseaudio-utils \
  libasound2-plugins espeak-ng sox mosquitto openssl chromium chromium-driver

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "== creating $VENV"
  python3 -m venv "$VENV"
fi
echo "== pip: requirements-train.txt + test tools"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -r requirements-train.txt -e ".[test]"

echo "== pytest"
exec "$VENV/bin/python" -m pytest -q "$@"
