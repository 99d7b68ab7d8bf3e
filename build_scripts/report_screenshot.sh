#!/usr/bin/env bash
# Make a tiny analysis report (seeded random-weight teacher/student/base on the built-in shapes),
# check that its index.html fetches nothing, and render it with headless Chromium into a PNG.
#   build_scripts/report_screenshot.sh [OUTPUT.png]   (default: kdlens-report-screenshot.png)
#   REPORT=DIR          screenshot this existing report or run folder instead (index.html inside)
#   FAITHFULNESS_N=8    ROAD images (0 skips ROAD: ~10 s instead of ~1-2 min on 2 cores)
#   SIZE=1280,2400      browser window (width,height): the screenshot shows the page's top part
#   KEEP=1              keep the temporary report folder (its path is printed)
set -euo pipefail

cd "$(dirname "$0")/.."
output="$(realpath -m "${1:-kdlens-report-screenshot.png}")"
python="${PYTHON:-.venv/bin/python}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
[ -n "$browser" ] || { echo "report_screenshot.sh needs chromium: sudo apt-get install -y chromium" >&2; exit 1; }
[ -x "$python" ] || { echo "report_screenshot.sh: $python not found; run 'make test' once to create .venv" >&2; exit 1; }

work="$(mktemp -d)"
cleanup() { if [ "${KEEP:-0}" = "1" ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

if [ -n "${REPORT:-}" ]; then
  report="$(realpath "$REPORT")"
  [ -f "$report/index.html" ] || "$python" -m engine.cli report "$report"
else
  report="$work/report"
  "$python" - "$work" <<'EOF'
import sys
from pathlib import Path

import torch

from engine.checkpoints import ModelCard, save_checkpoint
from engine.data.shapes import SHAPE_NAMES
from engine.models import build_model

root, classes = Path(sys.argv[1]), tuple(SHAPE_NAMES[:4])
for seed, (role, arch) in enumerate((("teacher", "large_cnn"), ("student", "small_cnn"), ("base", "small_cnn"))):
    torch.manual_seed(seed + 1)
    card = ModelCard(arch=arch, num_classes=len(classes), class_names=classes, input_size=32)
    save_checkpoint(build_model(arch, len(classes)), root / f"{role}.safetensors", card)
EOF
  "$python" -m engine.cli analyze --teacher "$work/teacher.safetensors" --student "$work/student.safetensors" \
    --base "$work/base.safetensors" --data shapes --out "$report" --probe 8 --metrics-n 32 --repeats 4 \
    --localisation-n 16 --faithfulness-n "${FAITHFULNESS_N:-8}" --device cpu 2>"$work/analyze.log" ||
    { cat "$work/analyze.log" >&2; exit 1; }
fi

page="$report/index.html"
# offline: no remote address anywhere outside the inline images, no scripts or style sheets
if sed -E 's#data:image/png;base64,[A-Za-z0-9+/=]+##g' "$page" | grep -Eio 'https?:[^" ]*|<script|<link|@import|url\(' ; then
  echo "report_screenshot.sh: $page refers to something outside itself (listed above)" >&2
  exit 1
fi
echo "offline: $page refers to nothing outside itself ($(grep -o 'data:image/png' "$page" | wc -l) inline figures)"

"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --host-resolver-rules="MAP * ~NOTFOUND" \
  --user-data-dir="$work/browser" --screenshot="$output" --window-size="${SIZE:-1280,2400}" \
  "file://$page" >"$work/browser.log" 2>&1 || { cat "$work/browser.log" >&2; exit 1; }
[ -s "$output" ] || { echo "report_screenshot.sh: chromium wrote no screenshot" >&2; cat "$work/browser.log" >&2; exit 1; }
echo "saved $output"
