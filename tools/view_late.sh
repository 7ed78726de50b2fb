#!/usr/bin/env bash
# Measures whether the terminal scene view slows recording: runs `record --device keyboard
# --view terminal` in a tmux pane of COLS x ROWS (default 140 x 44), drives the arm with
# held keys for SECONDS (default 60), then prints the panel's step and late-step counters
# (control steps that missed their 20 Hz deadline) and the view's drawn/posted frames.
#
#   tools/view_late.sh [SECONDS]     COLS=240 ROWS=70 tools/view_late.sh 30
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs="${1:-60}"
bin=build/release/tools/dreamforge
[[ -x "$bin" ]] || { echo "view_late: build first (tools/test.sh --build-only)" >&2; exit 2; }
command -v tmux >/dev/null || { echo "view_late: needs tmux (tools/setup.sh installs it)" >&2; exit 2; }
out="$(mktemp -d)"
sock="df_view_late_$$"
t() { tmux -L "$sock" -f /dev/null "$@"; }
trap 't kill-server 2>/dev/null || true; rm -rf "$out"' EXIT
t new-session -d -s rec -x "${COLS:-140}" -y "${ROWS:-44}" \
  "env -u DISPLAY -u WAYLAND_DISPLAY $bin record --task bottle_place --device keyboard --view terminal --out $out/demo.hdf5"
sleep 3
start=$(date +%s)
while (( $(date +%s) - start < secs )); do
  for k in w w w d d d s s s a a a r r f f; do t send-keys -t rec "$k"; sleep 0.1; done
done
sleep 1
t capture-pane -p -t rec | grep -E '^(RECORDING|input )' | sed 's/^/view_late: /'
t send-keys -t rec q
sleep 1
