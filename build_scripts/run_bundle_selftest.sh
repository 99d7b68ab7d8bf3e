#!/usr/bin/env bash
# CI, after `make test` and `make bundle`: prove the built bundle works, and exit with its code.
#   1. --bundle-check: the packaged stack imports and runs (torch, safetensors, Qt, pyqtgraph);
#   2. --self-test: the main window offscreen, a two-step demo job, one heatmap frame;
#   3. no display and no --self-test: one clear line and exit 1, not a Qt abort.
# KDLENS_BUNDLE overrides the executable, KDLENS_SELFTEST_TIMEOUT the seconds per step (300).
set -uo pipefail
cd "$(dirname "$0")/.."

bundle=${KDLENS_BUNDLE:-dist/kdlens/kdlens}
limit=${KDLENS_SELFTEST_TIMEOUT:-300}
if [[ ! -x $bundle ]]; then
    echo "bundle self-test: $bundle not found; build it with 'make bundle' first." >&2
    exit 2
fi

run_step() {  # name, then the command; returns the command's exit code
    local name=$1 rc
    shift
    timeout --kill-after=10 "$limit" "$@"
    rc=$?
    if (( rc == 124 || rc == 137 )); then
        echo "bundle self-test: '$name' did not finish within ${limit} s." >&2
    elif (( rc != 0 )); then
        echo "bundle self-test: '$name' failed with exit code $rc." >&2
    fi
    return "$rc"
}

QT_QPA_PLATFORM=offscreen run_step "--bundle-check" "$bundle" --bundle-check || exit
QT_QPA_PLATFORM=offscreen run_step "--self-test" "$bundle" --self-test || exit

output=$(env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM timeout --kill-after=10 "$limit" "$bundle" 2>&1)
rc=$?
lines=$(printf '%s\n' "$output" | grep -c .)
if (( rc != 1 || lines != 1 )); then
    echo "bundle self-test: without a display the app must print one line and exit 1;" \
         "it exited $rc after printing:" >&2
    printf '%s\n' "$output" >&2
    exit 1
fi
echo "bundle self-test passed ($bundle)"
