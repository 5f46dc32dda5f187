#!/usr/bin/env bash
# Regenerate the example recordings. They are synthesised with espeak-ng (the speech a program
# outputs is not covered by the program's licence), so the project may redistribute them.
# Needs: apt install espeak-ng sox
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
espeak-ng -v en-us -s 150 -p 55 -w "$tmp/a.wav" \
  "Kids are talking by the door. Dogs are sitting by the door."
espeak-ng -v en-us -s 185 -p 80 -a 180 -w "$tmp/b.wav" \
  "I can't believe it! Kids are talking by the door!"
# 16 kHz mono 16-bit, 0.3 s of silence before each part (PulseAudio drops ~60 ms at the start)
sox -v 0.7 "$tmp/a.wav" -r 16000 -c 1 -b 16 "$tmp/a16.wav" pad 0.3 0.5
sox -v 0.7 "$tmp/b.wav" -r 16000 -c 1 -b 16 "$tmp/b16.wav" pad 0.3 0.5
sox "$tmp/a16.wav" "$tmp/b16.wav" hello.wav
soxi hello.wav
