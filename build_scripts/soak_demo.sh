#!/usr/bin/env bash
# The whole built-in demo in the real window under Xvfb, start to end, then Quit (Ctrl+Q): the
# window must live to the end and exit with code 0 and no fatal error in its log. Takes minutes.
#   build_scripts/soak_demo.sh [OUTPUT.png]    (a screenshot of the finished run; default: none)
#   PRESET=cue-failure   TIMEOUT=1800 (seconds for the whole demo)
set -euo pipefail

cd "$(dirname "$0")/.."
output="${1:-}"
[ -n "$output" ] && output="$(realpath -m "$output")"
timeout_s="${TIMEOUT:-1800}"
python="${PYTHON:-.venv/bin/python}"
for tool in Xvfb xdotool xwininfo; do
  command -v "$tool" >/dev/null || { echo "soak_demo.sh needs $tool (apt-get install -y xvfb xdotool x11-utils)" >&2; exit 1; }
done
[ -n "$output" ] && ! command -v import >/dev/null && { echo "soak_demo.sh needs imagemagick for a screenshot" >&2; exit 1; }

work="$(mktemp -d)"
display_number=$(( 90 + RANDOM % 100 ))
cleanup() {
  [ -n "${app_pid:-}" ] && kill "$app_pid" 2>/dev/null || true
  [ -n "${xvfb_pid:-}" ] && kill "$xvfb_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
Xvfb ":$display_number" -screen 0 1600x1000x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 50); do xwininfo -display ":$display_number" -root >/dev/null 2>&1 && break; sleep 0.1; done

export DISPLAY=":$display_number" XDG_CONFIG_HOME="$work/config" QT_QPA_PLATFORM=xcb
"$python" -X faulthandler -m gui.app --demo --preset "${PRESET:-kd-gain}" --out "$work/run" >"$work/app.log" 2>&1 &
app_pid=$!
start=$SECONDS
echo "soak: the whole '${PRESET:-kd-gain}' demo in the window (up to ${timeout_s}s)…"
until grep -q '"finished": true' "$work/run/state.json" 2>/dev/null; do
  if ! kill -0 "$app_pid" 2>/dev/null; then
    echo "soak: FAILED, the app died after $((SECONDS - start))s; its log:" >&2; cat "$work/app.log" >&2; exit 1
  fi
  [ $((SECONDS - start)) -ge "$timeout_s" ] && { echo "soak: FAILED, the demo did not finish in ${timeout_s}s" >&2; exit 1; }
  sleep 2
done
sleep 3  # the last frame and metrics reach the panels
echo "soak: demo finished after $((SECONDS - start))s with the window alive"
window_id="$(xdotool search --name 'KD Lens' | head -n 1)"
[ -n "$output" ] && import -window "${window_id:-root}" "$output" && echo "soak: saved $output"
xdotool windowfocus --sync "$window_id"  # no window manager here: focus it directly
xdotool key --clearmodifiers ctrl+q
for _ in $(seq 60); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$app_pid" 2>/dev/null; then echo "soak: FAILED, the window did not close on Ctrl+Q" >&2; exit 1; fi
set +e; wait "$app_pid"; code=$?; set -e
app_pid=""
if [ "$code" != 0 ] || grep -qE "Fatal Python error|Segmentation fault|Traceback" "$work/app.log"; then
  echo "soak: FAILED, exit code $code; log:" >&2; cat "$work/app.log" >&2; exit 1
fi
echo "soak: passed, exit code 0 after $((SECONDS - start))s; nothing fatal in the log"
