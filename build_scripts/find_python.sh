#!/usr/bin/env bash
# Print the path of a Python >= 3.12 for `make` to build .venv with (3.12 first, then 3.13).
# Looks on PATH, then in pyenv's versions (pyenv's shims refuse versions that are not active).
set -u
ok() { "$1" -c 'import sys; sys.exit(not (3, 12) <= sys.version_info[:2] < (3, 14))' >/dev/null 2>&1; }
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for candidate in python3.12 python3.13 \
    "$root"/versions/3.12*/bin/python3.12 "$root"/versions/3.13*/bin/python3.13 \
    /usr/local/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.13 /usr/bin/python3.13 python3; do
  if ok "$candidate"; then
    command -v "$candidate" 2>/dev/null || echo "$candidate"
    exit 0
  fi
done
echo "KD Lens needs Python 3.12 (or 3.13) and none was found; install it (e.g. 'pyenv install 3.12'," \
  "or your distribution's python3.12 with venv), or run: make PYTHON=/path/to/python3.12" >&2
exit 1
