#!/usr/bin/env bash
# The device install in one command, then the main job: the bundled int8 ensemble on the
# bundled example recording, played as if it were a microphone.
#   bash tools/setup_edge.sh            # set up .venv, then edge-ser listen --source examples/hello.wav
#   bash tools/setup_edge.sh --no-run   # set up only
# Works as root (no sudo needed) and as a user with sudo. Installs the Debian packages the
# runtime needs, a venv with requirements-edge.txt (NumPy, click, PyAudio, the TFLite
# interpreter; never TensorFlow). On 32-bit Pi OS (armv7l) NumPy and PyAudio come from Debian
# (PyPI has no armv7l wheels for them; tflite-runtime 2.14 needs NumPy < 2 and Python 3.11).
# Environment: VENV (default .venv), SKIP_APT=1 to skip the apt step.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/apt_install.sh
VENV="${VENV:-.venv}"
RUN=1
for arg in "$@"; do
  case "$arg" in
    --no-run) RUN=0 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "setup_edge.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

venv_opts=()
case "$(uname -m)" in
  armv7l | armv6l)
    apt_install python3-venv python3-numpy python3-pyaudio
    venv_opts=(--system-site-packages)
    py="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    if [[ "$py" != 3.11 ]]; then
      echo "setup_edge.sh: 32-bit ARM needs Python 3.11 (tflite-runtime 2.14), this is $py:" \
        "use Pi OS Bookworm, or the 64-bit Pi OS" >&2
      exit 6
    fi ;;
  *) apt_install python3-venv python3-dev gcc portaudio19-dev ;;
esac

[[ -x "$VENV/bin/python" ]] || python3 -m venv "${venv_opts[@]}" "$VENV"
echo "== pip: requirements-edge.txt into $VENV"
"$VENV/bin/python" -m pip install -q -r requirements-edge.txt
# The project is installed editable: compile its runtime's bytecode now, as `pip install`
# does for a wheel, so the service user (who may not write here) never compiles it at start.
"$VENV/bin/python" -m compileall -q edge firmware_config >/dev/null
if ((RUN)); then
  echo "== $VENV/bin/edge-ser listen --source examples/hello.wav"
  exec "$VENV/bin/edge-ser" listen --source examples/hello.wav
fi
echo "set up: $VENV/bin/edge-ser"
