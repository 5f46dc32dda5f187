#!/usr/bin/env bash
# Prove that the edge install works on 32-bit Raspberry Pi OS (armv7l) with no TensorFlow:
# tools/arm64_check.sh with PI_ARCH=armhf. An emulated Debian Bookworm armhf root (Python 3.11)
# under qemu-user with QEMU_CPU=cortex-a7 (a Pi 2 core; Pi 3/4 run the same ARMv7 code in 32-bit
# mode) and a Pi 2 /proc/cpuinfo; `bash tools/setup_edge.sh --no-run` as root there (Debian's
# python3-numpy 1.24 and python3-pyaudio, tflite-runtime 2.14.0's armv7l wheel from PyPI); then
# `edge-ser classify` and every model's raw int8 outputs compared with the x86 host's.
# Usage: tools/armv7_check.sh [--clean] [--rebuild]; the ARM64_* variables of arm64_check.sh
# apply (ARM64_ROOT defaults to /var/tmp/edge-ser-armhf). Needs root.
set -euo pipefail
PI_ARCH=armhf exec bash "$(dirname "${BASH_SOURCE[0]}")/arm64_check.sh" "$@"
