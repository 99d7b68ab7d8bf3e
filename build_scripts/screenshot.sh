#!/usr/bin/env bash
# Start KD Lens on the demo under a virtual X server (Xvfb) and save a PNG of the window once the
# first epoch's heatmaps are drawn.
#   build_scripts/screenshot.sh [OUTPUT.png]        (default: kdlens-screenshot.png)
#   QUICK=1   use the quick demo (a couple of steps per role; seconds instead of minutes)
#   TIMEOUT=900  seconds to wait for the first epoch
#   SIZE=1280x720  screen and window size (default 1600x1000)
set -euo pipefail

cd "$(dirname "$0")/.."
output="$(realpath -m "${1:-kdlens-screenshot.png}")"
timeout_s="${TIMEOUT:-900}"
python="${PYTHON:-.venv/bin/python}"

missing=()
command -v Xvfb >/dev/null || missing+=("xvfb")
command -v import >/dev/null || missing+=("imagemagick")
command -v xwininfo >/dev/null || missing+=("x11-utils")
/sbin/ldconfig -p | grep -q libxcb-icccm.so.4 || missing+=("libxcb-icccm4")
/sbin/ldconfig -p | grep -q libxcb-keysyms.so.1 || missing+=("libxcb-keysyms1")
if [ ${#missing[@]} -gt 0 ]; then
  echo "screenshot.sh needs: ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
[ -x "$python" ] || { echo "screenshot.sh: $python not found; run 'make test' once to create .venv" >&2; exit 1; }

work="$(mktemp -d)"
display_number=$(( 90 + RANDOM % 100 ))
cleanup() {
  [ -n "${app_pid:-}" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null || true
  [ -n "${xvfb_pid:-}" ] && kill "$xvfb_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

size="${SIZE:-1600x1000}"
Xvfb ":$display_number" -screen 0 "${size}x24" -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 50); do xwininfo -display ":$display_number" -root >/dev/null 2>&1 && break; sleep 0.1; done

quick_flag=()
[ "${QUICK:-0}" = "1" ] && quick_flag=(--quick)
# fresh settings so a remembered window layout does not change the picture
DISPLAY=":$display_number" XDG_CONFIG_HOME="$work/config" QT_QPA_PLATFORM=xcb \
  "$python" -m gui.app --demo --out "$work/run" --size "$size" "${quick_flag[@]}" >"$work/app.log" 2>&1 &
app_pid=$!

echo "waiting for the first epoch's heatmaps (up to ${timeout_s}s)…"
start=$SECONDS
until [ -f "$work/run/probe/epoch_0001.npz" ]; do
  if ! kill -0 "$app_pid" 2>/dev/null; then
    echo "screenshot.sh: the app exited early; its log:" >&2; cat "$work/app.log" >&2; exit 1
  fi
  if [ $((SECONDS - start)) -ge "$timeout_s" ]; then
    echo "screenshot.sh: no first epoch after ${timeout_s}s" >&2; exit 1
  fi
  sleep 1
done
sleep 4  # the frame is drawn within ~30 ms; leave time for the metrics of the epoch as well

window_id="$(xwininfo -display ":$display_number" -root -tree | awk '/"KD Lens — / && !/has no name/ {print $1; exit}')"
xwininfo -display ":$display_number" -root -tree | grep -i "kd lens" >&2 || true
if [ -n "$window_id" ]; then
  import -display ":$display_number" -window "$window_id" "$output"
else
  import -display ":$display_number" -window root "$output"
fi
echo "saved $output after $((SECONDS - start))s"
