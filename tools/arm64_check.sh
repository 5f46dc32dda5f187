#!/usr/bin/env bash
# Prove that the edge install works on a Raspberry-Pi-class CPU with no TensorFlow.
#
# Builds (or reuses) an emulated Debian Bookworm arm64 root under qemu-user, copies the project in,
# runs the README's set-up command there as root with no sudo (`bash tools/setup_edge.sh --no-run`:
# apt packages, a fresh venv with requirements-edge.txt), then checks, under
# QEMU_CPU=cortex-a72 (Pi 4) with a Pi-style /proc/cpuinfo bind-mounted:
#   - `import tensorflow` fails, `edge-ser --help` and `edge-ser features --show-config` work;
#   - `edge-ser classify WAV --models DIR --json` gives the host's (x86) result: same label and
#     windows, probabilities identical or within ARM64_TOLERANCE (see below why not always identical);
#   - every .tflite model gives the host's raw int8 outputs, bit for bit or within one int8 step
#     (tools/arm64/raw_outputs.py); a broken emulated CPU (the SME trap) gives gross differences.
# Why not always bit-identical: NumPy's float front end rounds differently on aarch64 (MFCC/log-mel
# differ by ~1e-6 relative, which can move an int8 input by one step), and TFLite's int8 kernels are
# not bit-exact across architectures: measured with identical int8 inputs, SOFTMAX outputs (aarch64
# builds use another kernel, TFLITE_SOFTMAX_USE_UINT16_LUT in optimized_ops.h) and one CONV_2D
# output moved by one step. The SME trap, by contrast, changes outputs by tens of steps.
# See the testbed notes (TESTBEDS.md), "An emulated Raspberry Pi (Debian Bookworm arm64) for the edge install".
#
# Usage: sudo tools/arm64_check.sh [--clean] [--rebuild]
#   --clean    delete the arm64 root at the end (default: keep it for the next run)
#   --rebuild  delete the arm64 root first and build it from scratch
# Environment:
#   ARM64_ROOT        where the arm64 root lives           (default /var/tmp/edge-ser-arm64)
#   ARM64_QEMU_CPU    cortex-a72 (Pi 4) or cortex-a76 (Pi 5) (default cortex-a72)
#   ARM64_MIRROR      Debian mirror        (default: the host's apt source for bookworm)
#   ARM64_PIP_INDEX   PyPI index for the root (default: the host's pip index-url, else PyPI)
#   ARM64_HOST_VENV   x86 venv with edge-ser for the reference run (default: the project's .venv)
#   ARM64_MODELS      model folder, relative to the project (default edge/models/default if it has
#                     a manifest.json, else tests/fixtures/models/tiny)
#   ARM64_WAIT_MODELS seconds to wait for that model folder to appear (default 600)
#   ARM64_WAV         WAV file (default examples/hello.wav, else one made with espeak-ng + sox)
#   ARM64_LOG         full log of the noisy steps (default $ARM64_ROOT.log)
#   ARM64_TOLERANCE   largest |delta p| accepted between the x86 and arm64 classify results when they
#                     are not identical (default 0.004: one int8 output step, 1/256, plus rounding)
#   ARM64_STRICT      1: demand bit-identical classify results and raw outputs (default 0)
#   PI_ARCH           arm64 (default) or armhf: 32-bit Pi OS, which tools/armv7_check.sh runs
#                     (tflite-runtime 2.14, Debian's NumPy 1.24 and PyAudio, QEMU_CPU cortex-a7)
# Exit status: 0 only if every check passed. Needs root (debootstrap, chroot, mount).
set -euo pipefail

PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PI_ARCH="${PI_ARCH:-arm64}"
case "$PI_ARCH" in
  arm64) QEMU=qemu-aarch64; MACHINE=aarch64; DEFAULT_CPU=cortex-a72; LITERT=ai_edge_litert ;;
  armhf) QEMU=qemu-arm; MACHINE=armv7l; DEFAULT_CPU=cortex-a7; LITERT=tflite_runtime ;;
  *) echo "PI_ARCH must be arm64 or armhf (got '$PI_ARCH')" >&2; exit 2 ;;
esac
ARM64_ROOT="${ARM64_ROOT:-/var/tmp/edge-ser-$PI_ARCH}"
ARM64_ROOT="${ARM64_ROOT%/}"
QCPU="${ARM64_QEMU_CPU:-$DEFAULT_CPU}"
HOST_VENV="${ARM64_HOST_VENV:-$PROJECT/.venv}"
WAIT_MODELS="${ARM64_WAIT_MODELS:-600}"
LOG="${ARM64_LOG:-$ARM64_ROOT.log}"
TOLERANCE="${ARM64_TOLERANCE:-0.004}"
STRICT="${ARM64_STRICT:-0}"
SUITE=bookworm
READY="$ARM64_ROOT/.edge-ser-root-ready"
APP=/opt/edge-ser                     # inside the root: src/, venv/, hello.wav
ROOT_PACKAGES=(python3 ca-certificates)  # the rest is tools/setup_edge.sh's job

CLEAN=0
REBUILD=0
for arg in "$@"; do
  case "$arg" in
    --clean) CLEAN=1 ;;
    --rebuild) REBUILD=1 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

case "$PI_ARCH/$QCPU" in
  arm64/cortex-a72) CPUINFO="$PROJECT/tools/arm64/cpuinfo-pi4" ;;
  arm64/cortex-a76) CPUINFO="$PROJECT/tools/arm64/cpuinfo-pi5" ;;
  armhf/cortex-a7) CPUINFO="$PROJECT/tools/arm64/cpuinfo-pi2-armv7" ;;
  arm64/*) echo "ARM64_QEMU_CPU must be cortex-a72 or cortex-a76 (the default CPU corrupts int8)" >&2; exit 2 ;;
  *) echo "ARM64_QEMU_CPU must be cortex-a7 for armhf (a Pi 2 / 32-bit Pi OS core)" >&2; exit 2 ;;
esac
if [[ -z "$ARM64_ROOT" || "$ARM64_ROOT" == / || "$ARM64_ROOT" != /* ]]; then
  echo "ARM64_ROOT must be an absolute path other than / (got '$ARM64_ROOT')" >&2; exit 2
fi
if [[ $EUID -ne 0 ]]; then
  echo "run as root (debootstrap, chroot and mount need it): sudo $0 $*" >&2; exit 2
fi

# ---------------------------------------------------------------- bookkeeping
STEP_NAMES=()
STEP_SECS=()
CURRENT_STEP="start"
STEP_T0=$EPOCHREALTIME
RUN_T0=$EPOCHREALTIME
VERDICT_DETAIL=""
WORK="$(mktemp -d /tmp/edge-ser-arm64-check.XXXXXX)"
exec 3>&1 4>&2  # the real stdout/stderr: finish() uses them even if a signal lands mid-redirect
: >"$LOG"

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '%s\n' "$*"; printf '%s\n' "$*" >>"$LOG"; }
die() { say "ERROR: $*"; exit 1; }

step() {  # step NAME FUNCTION [ARGS...]: run, time, record
  CURRENT_STEP="$1"
  shift
  STEP_T0=$EPOCHREALTIME
  say ""
  say "== $CURRENT_STEP"
  "$@"
  STEP_NAMES+=("$CURRENT_STEP")
  STEP_SECS+=("$(elapsed "$STEP_T0" "$EPOCHREALTIME")")
  say "   ($(elapsed "$STEP_T0" "$EPOCHREALTIME") s)"
}

logged() {  # logged CMD...: run with output to the log; on failure show its tail
  local rc=0
  printf '+ %s\n' "$*" >>"$LOG"
  "$@" >>"$LOG" 2>&1 || rc=$?
  if ((rc != 0)); then
    echo "---- last 40 lines of $LOG ----"
    tail -n 40 "$LOG"
    echo "----"
    echo "command failed ($rc): $*"
  fi
  return "$rc"
}

mounts_under_root() {  # every mount point at or below $ARM64_ROOT, deepest first
  awk -v r="$ARM64_ROOT" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

unmount_root() {
  local mp
  while IFS= read -r mp; do
    [[ -n "$mp" ]] || continue
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || echo "warning: could not unmount $mp" >&2
  done < <(mounts_under_root)
}

remove_root() {
  unmount_root
  if [[ -n "$(mounts_under_root)" ]]; then
    say "ERROR: mounts remain under $ARM64_ROOT; not deleting it"
    return 1
  fi
  rm -rf --one-file-system "$ARM64_ROOT"
}

finish() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  exec 1>&3 2>&4
  unmount_root
  rm -rf "$WORK"
  if ((rc != 0)); then
    STEP_NAMES+=("$CURRENT_STEP (FAILED)")
    STEP_SECS+=("$(elapsed "$STEP_T0" "$EPOCHREALTIME")")
  elif ((CLEAN)); then
    remove_root && echo "removed $ARM64_ROOT (--clean)" || rc=1
  fi
  echo ""
  echo "== timings"
  local i
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %-54s %7s s\n' "${STEP_NAMES[$i]}" "${STEP_SECS[$i]}"
  done
  printf '  %-54s %7s s\n' "total" "$(elapsed "$RUN_T0" "$EPOCHREALTIME")"
  echo "   full log: $LOG"
  if ((rc == 0)); then
    echo "pi_check ($PI_ARCH): PASS - edge install on emulated Pi ($QCPU, Debian $SUITE $PI_ARCH), no TensorFlow, $VERDICT_DETAIL"
  else
    echo "pi_check ($PI_ARCH): FAIL at step '$CURRENT_STEP' (exit $rc); see above and $LOG"
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command inside the root as a fresh login-less root, in directory $1, CPU pinned.
in_root_at() {
  local dir="$1"
  shift
  QEMU_CPU="$QCPU" chroot "$ARM64_ROOT" /usr/bin/env -i -C "$dir" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive QEMU_CPU="$QCPU" "$@"
}
in_root() { in_root_at / "$@"; }

# ---------------------------------------------------------------- steps
host_setup() {
  local need=() p
  for p in qemu-user-static binfmt-support debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
  done
  if ((${#need[@]})); then
    say "   apt-get install ${need[*]}"
    logged apt-get update
    logged env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
  else
    say "   qemu-user-static, binfmt-support, debootstrap already installed"
  fi
  if [[ ! -e /proc/sys/fs/binfmt_misc/status ]]; then
    say "   mounting binfmt_misc"
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  if [[ ! -e /proc/sys/fs/binfmt_misc/$QEMU ]]; then
    logged update-binfmts --import "$QEMU" || true
  fi
  logged update-binfmts --enable "$QEMU" || true
  grep -qx enabled "/proc/sys/fs/binfmt_misc/$QEMU" || die "$QEMU binfmt is not enabled"
  say "   binfmt $QEMU: $(tr '\n' ' ' <"/proc/sys/fs/binfmt_misc/$QEMU" | grep -o 'interpreter [^ ]*\|flags: [A-Z]*' | tr '\n' ' ')"
  say "   $("/usr/bin/$QEMU-static" --version | head -n 1)"
}

host_mirror() {  # the Debian mirror of the host's bookworm (non-security) apt source
  local m=""
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    m="$(awk '
      function flush() { if (uri != "" && suites ~ /(^| )bookworm( |$)/ && uri !~ /security/ && !done) { print uri; done = 1 } uri = ""; suites = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { suites = $0; sub(/^Suites:[[:space:]]*/, "", suites) }
      END { flush() }' /etc/apt/sources.list.d/*.sources)"
  fi
  if [[ -z "$m" && -f /etc/apt/sources.list ]]; then
    m="$(awk '$1 == "deb" && $0 !~ /security/ && $0 ~ / bookworm / { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list)"
  fi
  printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

host_pip_index() {  # the index the host's pip uses (its index-url, else PyPI)
  local idx="${PIP_INDEX_URL:-}" py
  if [[ -z "$idx" ]]; then
    for py in "$HOST_VENV/bin/python" python3; do
      if "$py" -m pip --version >/dev/null 2>&1; then
        idx="$("$py" -m pip config list 2>/dev/null | sed -n "s/^[a-z:]*\.index-url='\(.*\)'$/\1/p" | head -n 1)"
        break
      fi
    done
  fi
  printf '%s\n' "${idx:-https://pypi.org/simple}"
}

build_root() {
  if ((REBUILD)) && [[ -e "$ARM64_ROOT" ]]; then
    say "   --rebuild: removing $ARM64_ROOT"
    remove_root || die "cannot remove $ARM64_ROOT"
  fi
  if [[ -f "$READY" ]]; then
    say "   reusing $ARM64_ROOT (built $(cat "$READY")); --rebuild to start over"
    return 0
  fi
  if [[ -e "$ARM64_ROOT" ]]; then
    say "   $ARM64_ROOT exists but is incomplete: removing it"
    remove_root || die "cannot remove $ARM64_ROOT"
  fi
  local mirror
  mirror="${ARM64_MIRROR:-$(host_mirror)}"
  say "   debootstrap --arch=$PI_ARCH --foreign --variant=minbase $SUITE $ARM64_ROOT $mirror"
  local t0=$EPOCHREALTIME
  logged debootstrap --arch="$PI_ARCH" --foreign --variant=minbase "$SUITE" "$ARM64_ROOT" "$mirror"
  say "   first stage: $(elapsed "$t0" "$EPOCHREALTIME") s"
  install -m 0755 "/usr/bin/$QEMU-static" "$ARM64_ROOT/usr/bin/$QEMU-static"
  t0=$EPOCHREALTIME
  if ! logged in_root /debootstrap/debootstrap --second-stage; then
    [[ -f "$ARM64_ROOT/debootstrap/debootstrap.log" ]] && tail -n 30 "$ARM64_ROOT/debootstrap/debootstrap.log"
    die "debootstrap second stage failed"
  fi
  say "   second stage (emulated): $(elapsed "$t0" "$EPOCHREALTIME") s"
  unmount_root  # the second stage mounts /proc and /sys itself; make sure nothing is left
  printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$SUITE" "$mirror" "$SUITE" \
    >"$ARM64_ROOT/etc/apt/sources.list"
  cp -L /etc/resolv.conf "$ARM64_ROOT/etc/resolv.conf"
  mount_root
  t0=$EPOCHREALTIME
  logged in_root apt-get update
  logged in_root apt-get install -y --no-install-recommends "${ROOT_PACKAGES[@]}"
  logged in_root apt-get clean
  say "   apt-get install ${ROOT_PACKAGES[*]} (emulated): $(elapsed "$t0" "$EPOCHREALTIME") s"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$READY"
}

mount_root() {  # /proc (with a Pi cpuinfo over it), /sys, /dev; all undone by finish()
  if ! mountpoint -q "$ARM64_ROOT/proc"; then
    mount -t proc proc "$ARM64_ROOT/proc"
    mount --bind "$CPUINFO" "$ARM64_ROOT/proc/cpuinfo"
  fi
  mountpoint -q "$ARM64_ROOT/sys" || mount -t sysfs sysfs "$ARM64_ROOT/sys"
  mountpoint -q "$ARM64_ROOT/dev" || mount --bind /dev "$ARM64_ROOT/dev"
}

prepare_root() {
  mount_root
  cp -L /etc/resolv.conf "$ARM64_ROOT/etc/resolv.conf"
  # Local CA certificates (an egress proxy's CA, for one): pip verifies PyPI against them.
  local dst="$ARM64_ROOT/usr/local/share/ca-certificates" changed=0 f
  mkdir -p "$dst"
  for f in /usr/local/share/ca-certificates/*.crt; do
    [[ -f "$f" ]] || continue
    if ! cmp -s "$f" "$dst/$(basename "$f")"; then cp "$f" "$dst/"; changed=1; fi
  done
  if ((changed)) || [[ ! -s "$ARM64_ROOT/etc/ssl/certs/ca-certificates.crt" ]]; then
    logged in_root update-ca-certificates
    say "   local CA certificates installed: $(cd "$dst" && echo ./*.crt)"
  fi
  # A minimal pip configuration (not the host's: its find-links and file:// indexes are x86/host-only).
  local index
  index="${ARM64_PIP_INDEX:-$(host_pip_index)}"
  printf '[global]\nindex-url = %s\ncert = /etc/ssl/certs/ca-certificates.crt\ntimeout = 180\ndisable-pip-version-check = true\n' \
    "$index" >"$ARM64_ROOT/etc/pip.conf"
  say "   pip index for the root: $index"
  say "   pinned CPU: QEMU_CPU=$QCPU, /proc/cpuinfo: $(grep -m1 '^Model' "$ARM64_ROOT/proc/cpuinfo" | sed 's/.*: //')"
  local auxv hwcap2
  auxv="$(in_root env LD_SHOW_AUXV=1 /bin/true)"
  hwcap2="$(awk '$1 == "AT_HWCAP2:" { print $2 }' <<<"$auxv")"
  say "   inside: $(in_root uname -m), $(in_root python3 --version), AT_HWCAP $(awk '$1 == "AT_HWCAP:" { print $2 }' <<<"$auxv"), AT_HWCAP2 ${hwcap2:-absent}"
  # HWCAP2_SME is bit 23 (arm64): the emulated SME of qemu 7.2 corrupts int8 kernels.
  if [[ "$PI_ARCH" == arm64 && -n "$hwcap2" ]] && (((16#${hwcap2#0x} >> 23) & 1)); then
    die "the emulated CPU advertises SME (AT_HWCAP2=$hwcap2): QEMU_CPU was not applied"
  fi
}

pick_models() {
  if [[ -n "${ARM64_MODELS:-}" ]]; then
    MODELS="$ARM64_MODELS"
  elif [[ -f "$PROJECT/edge/models/default/manifest.json" ]]; then
    MODELS=edge/models/default
  else
    MODELS=tests/fixtures/models/tiny
    local waited=0
    while [[ ! -f "$PROJECT/$MODELS/manifest.json" ]]; do
      ((waited < WAIT_MODELS)) || die "no $MODELS/manifest.json after ${WAIT_MODELS} s"
      ((waited % 60 == 0)) && say "   waiting for $MODELS/manifest.json (${waited}/${WAIT_MODELS} s)"
      sleep 10
      waited=$((waited + 10))
    done
  fi
  [[ -f "$PROJECT/$MODELS/manifest.json" ]] || die "$MODELS has no manifest.json"
  say "   models: $MODELS ($(cd "$PROJECT/$MODELS" && echo ./*.tflite))"

  if [[ -n "${ARM64_WAV:-}" ]]; then
    WAV="$(realpath "$ARM64_WAV")"
  elif [[ -f "$PROJECT/examples/hello.wav" ]]; then
    WAV="$PROJECT/examples/hello.wav"
  else
    local p
    for p in espeak-ng sox; do
      command -v "$p" >/dev/null || logged env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$p"
    done
    WAV="$WORK/hello.wav"
    espeak-ng -w "$WORK/hello-22k.wav" "Hello. I am so happy to finally meet you, this is wonderful news."
    sox "$WORK/hello-22k.wav" -r 16000 -c 1 -b 16 "$WAV"
  fi
  say "   wav: $WAV ($(soxi -D "$WAV" 2>/dev/null || echo '?') s)"
}

copy_project() {
  local dst="$ARM64_ROOT$APP/src"
  rm -rf "$dst"
  mkdir -p "$dst"
  if git -C "$PROJECT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked and untracked-but-not-ignored files; skip ones deleted from the work tree.
    (cd "$PROJECT" && git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do if [[ -f "$f" ]]; then printf '%s\0' "$f"; fi; done |
      tar --null -T - -cf -) | tar -C "$dst" -xf -
  else
    tar -C "$PROJECT" --exclude=.git --exclude='.venv*' --exclude=__pycache__ \
      --exclude='*.egg-info' --exclude=build --exclude=dist -cf - . | tar -C "$dst" -xf -
  fi
  # The model folder must be there even if it is not (yet) known to git.
  mkdir -p "$dst/$MODELS"
  cp -a "$PROJECT/$MODELS/." "$dst/$MODELS/"
  cp "$WAV" "$ARM64_ROOT$APP/hello.wav"
  say "   copied $(find "$dst" -type f | wc -l) files ($(du -sh "$dst" | cut -f1)) to $APP/src"
}

pip_install() {
  rm -rf "$ARM64_ROOT$APP/venv"
  say "   VENV=$APP/venv bash tools/setup_edge.sh --no-run (as root, no sudo in the root: $(in_root sh -c 'command -v sudo || echo none'))"
  if ! logged in_root_at "$APP/src" env VENV="$APP/venv" bash tools/setup_edge.sh --no-run; then
    grep -n -i -E 'error|no matching distribution|could not find|requires-python|not supported' "$LOG" | tail -n 15 || true
    die "tools/setup_edge.sh failed on $MACHINE (see the errors above)"
  fi
  in_root "$APP/venv/bin/python" -m pip list --format=freeze 2>/dev/null >"$WORK/freeze.txt"
  cat "$WORK/freeze.txt" >>"$LOG"
  say "   installed: $(grep -i -E '^(numpy|click|pyaudio|ai[-_]edge[-_]litert|tflite[-_]runtime|edge[-_]ser)=' "$WORK/freeze.txt" | tr '\n' ' ')"
}

check_inside() {
  local py="$APP/venv/bin/python" es="$APP/venv/bin/edge-ser" out rc=0
  out="$(in_root "$py" -c 'import tensorflow' 2>&1)" || rc=$?
  ((rc != 0)) || die "import tensorflow succeeded inside the edge install"
  say "   import tensorflow fails as it should: $(tail -n 1 <<<"$out")"
  out="$(in_root "$py" -c "import platform, numpy, $LITERT; print(platform.machine(), 'numpy', numpy.__version__, '$LITERT')")"
  [[ "$out" == "$MACHINE "* ]] || die "expected a $MACHINE Python inside, got: $out"
  say "   python: $out"
  out="$(in_root "$es" --help)"
  say "   edge-ser --help: commands $(awk '/^Commands:/ { c = 1; next } c && /^  [[:lower:]]/ { printf "%s ", $1 }' <<<"$out")"
  grep -q '^  classify ' <<<"$out" || die "edge-ser has no classify command yet"
  out="$(in_root "$es" features --show-config)"
  python3 -c 'import json, sys; json.loads(sys.stdin.read())' <<<"$out" || die "features --show-config did not print JSON"
  say "   edge-ser features --show-config: JSON, $(wc -l <<<"$out") lines"
  in_root_at "$APP/src" "$es" features "$APP/hello.wav" --kind mfcc >"$WORK/features.txt" 2>&1 ||
    die "edge-ser features hello.wav failed: $(tail -n 3 "$WORK/features.txt")"
  say "   edge-ser features hello.wav: $(head -n 1 "$WORK/features.txt")"
}

classify_both() {
  local t0=$EPOCHREALTIME
  in_root_at "$APP/src" "$APP/venv/bin/edge-ser" classify "$APP/hello.wav" --models "$MODELS" --json \
    >"$WORK/arm64.json" 2>>"$LOG" || die "edge-ser classify failed inside the arm64 root (see $LOG)"
  say "   $PI_ARCH classify: $(elapsed "$t0" "$EPOCHREALTIME") s (emulated)"
  in_root_at "$APP/src" "$APP/venv/bin/python" tools/arm64/raw_outputs.py "$MODELS" \
    >"$WORK/arm64-raw.jsonl" 2>>"$LOG" || die "raw_outputs.py failed inside the arm64 root (see $LOG)"

  [[ -x "$HOST_VENV/bin/edge-ser" ]] || die "no $HOST_VENV/bin/edge-ser for the x86 reference run"
  # The host runs the very snapshot copied into the root (others may be editing the project now).
  local snap="$ARM64_ROOT$APP/src"
  (cd "$snap" && PYTHONPATH="$snap" "$HOST_VENV/bin/edge-ser" classify "$WAV" --models "$MODELS" --json) \
    >"$WORK/x86.json" 2>>"$LOG" || die "edge-ser classify failed on the host (see $LOG)"
  # Raw outputs are compared interpreter version to interpreter version: 32-bit Pi OS runs
  # tflite-runtime 2.14, whose int8 kernels differ from ai-edge-litert 2.3's by up to 2 steps
  # on x86 too (measured); so for armhf the x86 reference is tflite-runtime 2.14 as well.
  local raw_py="$HOST_VENV/bin/python"
  if [[ "$PI_ARCH" == armhf ]]; then
    local ref="$ARM64_ROOT-x86-tflite-runtime"
    if [[ ! -x "$ref/bin/python" ]] || ! "$ref/bin/python" -c 'import tflite_runtime' 2>/dev/null; then
      logged python3 -m venv "$ref"
      logged "$ref/bin/python" -m pip install 'tflite-runtime==2.14.0' 'numpy<2' ||
        die "cannot install the x86 tflite-runtime 2.14 reference in $ref"
    fi
    raw_py="$ref/bin/python"
  fi
  (cd "$snap" && PYTHONPATH="" "$raw_py" tools/arm64/raw_outputs.py "$MODELS") \
    >"$WORK/x86-raw.jsonl" 2>>"$LOG" || die "raw_outputs.py failed on the host (see $LOG)"
  say "   x86 raw-output reference: $("$raw_py" -m pip list --format=freeze 2>/dev/null | grep -i -E '^(numpy|ai[-_]edge[-_]litert|tflite[-_]runtime)=' | tr '\n' ' ')"
  say "   x86 (host venv $HOST_VENV, same source snapshot): $("$HOST_VENV/bin/python" -m pip list --format=freeze 2>/dev/null | grep -i -E '^(numpy|ai[-_]edge[-_]litert)=' | tr '\n' ' ')"
}

compare() {
  local verdict
  verdict="$(python3 - "$WORK" "$QCPU" "$TOLERANCE" "$STRICT" <<'EOF' | tee -a "$LOG"
import json, sys
from pathlib import Path

work, qcpu, tol, strict = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1"
x86 = json.loads((work / "x86.json").read_text())
arm = json.loads((work / "arm64.json").read_text())
labels = list(x86["probabilities"])
w = max(len(lbl) for lbl in labels)
print(f"   {'label':<{w}}  {'x86_64 (host)':>14}  {'emulated ' + qcpu:>20}  {'delta':>8}")
worst = 0.0
for lbl in labels:
    a, b = x86["probabilities"][lbl], arm["probabilities"].get(lbl, float("nan"))
    d = abs(a - b)
    worst = max(worst, d) if d == d else float("inf")
    print(f"   {lbl:<{w}}  {a:>14.4f}  {b:>20.4f}  {'same' if a == b else f'{b - a:+.4f}':>8}")
for name, d in (("x86_64 ", x86), ("emulated", arm)):
    print(f"   {name}: label={d['label']} confidence={d['confidence']} "
          f"windows={d['windows']} speech_windows={d['speech_windows']}")
strip = lambda d: {k: v for k, v in d.items() if k not in ("file", "probabilities", "confidence")}
if {k: v for k, v in x86.items() if k != "file"} == {k: v for k, v in arm.items() if k != "file"}:
    json_state = "IDENTICAL"
elif not strict and strip(x86) == strip(arm) and set(arm["probabilities"]) == set(labels) and worst <= tol:
    json_state = f"WITHIN TOLERANCE (same label, max |delta p| {worst:.4f} <= {tol:g})"
else:
    json_state = f"DIFFERENT (max |delta p| {worst:.4f}, labels {x86['label']}/{arm['label']})"

rx = {r["model"]: r for r in (json.loads(line) for line in (work / "x86-raw.jsonl").read_text().splitlines() if line.strip())}
ra = {r["model"]: r for r in (json.loads(line) for line in (work / "arm64-raw.jsonl").read_text().splitlines() if line.strip())}
raw_ok, raw_identical = set(rx) == set(ra), set(rx) == set(ra)
for m in sorted(rx):
    p, q = rx[m], ra.get(m)
    if q is None:
        print(f"   raw {m}: missing on arm64")
        continue
    vx = [v for run in p["outputs"] for v in run]
    va = [v for run in q["outputs"] for v in run]
    diffs = [abs(a - b) for a, b in zip(vx, va)] if len(vx) == len(va) else [float("inf")]
    n, big = sum(d > 0 for d in diffs), max(diffs)
    integer = all(t.startswith(("int", "uint")) for t in p["out_dtype"].split(","))
    if n == 0:
        state = "bit-identical"
    elif integer and big <= 1 and not strict:
        state = f"{n} of {len(diffs)} values differ by 1 int8 step"
        raw_identical = False
    else:
        state = f"DIFFERENT: {n} of {len(diffs)} values, max |delta| {big:g}"
        raw_ok = raw_identical = False
    print(f"   raw {m:<20} {p['out_dtype']:<6} sha256 x86 {p['sha256'][:12]} arm64 {q['sha256'][:12]}  {state}")
print(f"   classify --json (all fields but 'file'): {json_state}")
print(f"   raw member outputs (16 fixed random inputs each): "
      f"{'BIT-IDENTICAL' if raw_identical else ('WITHIN ONE INT8 STEP' if raw_ok else 'DIFFERENT')}")
ok = json_state.startswith(("IDENTICAL", "WITHIN")) and raw_ok
print("RESULT " + ("PASS" if ok else "FAIL") + " " + ("identical" if json_state == "IDENTICAL" and raw_identical else "tolerance"))
EOF
)"
  printf '%s\n' "$verdict" | grep -v '^RESULT '
  say "   x86_64 : $(cat "$WORK/x86.json")"
  say "   $MACHINE: $(cat "$WORK/arm64.json")"
  local result
  result="$(tail -n 1 <<<"$verdict")"
  if [[ "$result" != "RESULT PASS"* ]]; then
    say "   comparison: FAIL"
    if [[ "$STRICT" == 1 ]]; then
      die "the arm64 results are not bit-identical to the x86 results (ARM64_STRICT=1)"
    fi
    die "the arm64 results differ from the x86 results beyond what x86/aarch64 arithmetic explains"
  fi
  local how="identical to x86"
  if [[ "$result" == *tolerance ]]; then
    how="equal to x86 within ${TOLERANCE} (not bit-identical)"
    say "   note: aarch64 and x86 legitimately differ in the last bits: NumPy's float front end rounds"
    say "         differently (can move an int8 input by one step), and TFLite's int8 kernels are not"
    say "         bit-exact across architectures (aarch64 builds use another SOFTMAX kernel,"
    say "         TFLITE_SOFTMAX_USE_UINT16_LUT). ARM64_STRICT=1 demands bit-identical results."
  fi
  say "   comparison: PASS ($how)"
  VERDICT_DETAIL="classify --json $how (label $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["label"], d["confidence"])' "$WORK/arm64.json")), models $MODELS"
}

# ---------------------------------------------------------------- main
say "edge-ser $PI_ARCH check: project $PROJECT, root $ARM64_ROOT, QEMU_CPU=$QCPU, log $LOG"
unmount_root  # leftovers of an interrupted run
step "1. host packages + binfmt" host_setup
step "2. $PI_ARCH root (build or reuse)" build_root
step "3. prepare root (mounts, CA, pip.conf)" prepare_root
step "4. pick models + wav" pick_models
step "5. copy project into root" copy_project
step "6. bash tools/setup_edge.sh --no-run (as root)" pip_install
step "7. checks inside (no TF, --help, features)" check_inside
step "8. classify on $PI_ARCH and on x86" classify_both
step "9. compare" compare
