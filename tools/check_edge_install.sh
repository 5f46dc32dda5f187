#!/usr/bin/env bash
# Prove that `pip install -r requirements-edge.txt` alone gives a working edge-ser with no
# TensorFlow, Keras, librosa or scipy, and that train/convert say what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${EDGE_VENV:-.venv-edge}"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
log="$(mktemp)"; trap 'rm -f "$log"' EXIT
"$VENV/bin/python" -m pip install -q -r requirements-edge.txt 2>&1 | tee "$log"
# Building edge-ser itself must not rely on anything its build backend has deprecated.
if grep -i -E 'deprecat' "$log" >&2; then
  echo "building edge-ser printed a deprecation warning (above): fix pyproject.toml" >&2; exit 1
fi
for pkg in tensorflow tf_keras keras librosa scipy sklearn; do
  if "$VENV/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('$pkg') is None)"; then
    echo "edge install unexpectedly contains $pkg" >&2; exit 1
  fi
done
"$VENV/bin/edge-ser" --help >/dev/null
"$VENV/bin/edge-ser" features --show-config >/dev/null
for cmd in train convert; do
  set +e; out=$("$VENV/bin/edge-ser" "$cmd" 2>&1); rc=$?; set -e
  if [[ $rc -eq 0 || $(printf '%s\n' "$out" | wc -l) -ne 1 || "$out" != *requirements-train.txt* ]]; then
    echo "edge-ser $cmd without TensorFlow should fail with one line naming requirements-train.txt, got ($rc): $out" >&2
    exit 1
  fi
done
if [[ -f edge/models/default/manifest.json && -f examples/hello.wav ]]; then
  "$VENV/bin/edge-ser" classify examples/hello.wav
fi
echo "edge-only install OK: no TensorFlow, edge-ser works, train/convert explain what to install"
