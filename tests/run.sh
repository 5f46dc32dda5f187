#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian/Ubuntu/Pi OS machine, then run them.
#   bash tests/run.sh            # full suite
#   bash tests/run.sh -k wav     # extra arguments go to pytest
# Environment: VENV (default .venv), SKIP_APT=1 to skip the apt step.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
APT_PACKAGES=(portaudio19-dev python3-venv python3-dev gcc pulseaudio pulseaudio-utils
              libasound2-plugins espeak-ng sox)

if [[ "${SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    echo "== apt: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "== creating $VENV"
  python3 -m venv "$VENV"
fi
echo "== pip: requirements-train.txt + test tools"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -r requirements-train.txt -e ".[test]"

echo "== pytest"
exec "$VENV/bin/python" -m pytest -q "$@"
