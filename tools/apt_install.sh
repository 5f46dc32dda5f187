# Sourced by tools/setup_edge.sh and tests/run.sh: install missing Debian packages, as root
# directly or through sudo, so the same command works on a bare root shell (a container, a fresh
# Pi with no sudo) and for a normal user.
#   apt_install PKG...   installs those not yet installed; nothing to do → no apt, no sudo
# Environment: SKIP_APT=1 skips it (for machines set up by other means).

# Print the command prefix that runs a command as root: nothing for root, "sudo" for a user who
# has it; fail with one line otherwise.
as_root_prefix() {
  if [[ "$(id -u)" -eq 0 ]]; then
    return 0
  elif command -v sudo >/dev/null 2>&1; then
    printf 'sudo\n'
  else
    echo "edge-ser setup: installing Debian packages needs root: run this as root, or install sudo" >&2
    return 1
  fi
}

apt_install() {
  [[ "${SKIP_APT:-0}" == 1 ]] && return 0
  local missing=() p prefix
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  prefix="$(as_root_prefix)" || return 1
  echo "== apt: installing ${missing[*]}${prefix:+ (with $prefix)}"
  # sudo drops the environment: DEBIAN_FRONTEND goes through env, after sudo.
  $prefix env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $prefix env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}
