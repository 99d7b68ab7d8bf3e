#!/usr/bin/env bash
# `make bundle`: build the one-folder KD Lens app (dist/kdlens/kdlens) from the pinned .venv,
# strip torch's shared libraries, then print the bundle's size and its 15 largest parts.
# KDLENS_VENV picks another environment; KDLENS_BUNDLE_FULL=1 skips the size reductions.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${KDLENS_VENV:-.venv}
if [[ ! -x $venv/bin/python || ! -x $venv/bin/pyinstaller ]]; then
    echo "make bundle: no pinned environment with PyInstaller at $venv; run 'make test' first" \
         "(it creates $venv from constraints.txt)." >&2
    exit 2
fi

started=$(date +%s)
rm -rf dist/kdlens
"$venv/bin/pyinstaller" --noconfirm --log-level WARN \
    --distpath dist --workpath build/pyinstaller build_scripts/kdlens.spec

bundle=dist/kdlens
if [[ ${KDLENS_BUNDLE_FULL:-0} != 1 ]]; then
    # torch ships its libraries with full symbol tables; the dynamic symbols stay. Not the
    # spec's strip=True, which also strips libraries (scipy's OpenBLAS) that break when stripped.
    if command -v strip >/dev/null; then
        strip --strip-unneeded "$bundle"/_internal/torch/lib/*.so*
    else
        echo "make bundle: 'strip' (binutils) not found; torch's libraries stay unstripped." >&2
    fi
fi
test -x "$bundle/_internal/torch/bin/torch_shm_manager" \
    || { echo "make bundle: torch/bin/torch_shm_manager is missing from the bundle." >&2; exit 1; }

"$venv/bin/python" build_scripts/bundle_size.py "$bundle" --top 15
echo "built $bundle/kdlens in $(( $(date +%s) - started )) s"
