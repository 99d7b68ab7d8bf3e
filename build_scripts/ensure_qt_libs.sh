#!/usr/bin/env bash
# Make sure the system libraries Qt's X11 (xcb) window needs are present (Linux only).
# Installs them with apt-get when run as root; otherwise prints the exact command and exits 0
# so that `make run` can go on (the app then says in one line what is missing).
set -euo pipefail

[ "$(uname -s)" = "Linux" ] || exit 0

# package -> a library file it provides
declare -A NEEDED=(
  [libxcb-icccm4]="libxcb-icccm.so.4"
  [libxcb-keysyms1]="libxcb-keysyms.so.1"
)

missing=()
for package in "${!NEEDED[@]}"; do
  if ! /sbin/ldconfig -p 2>/dev/null | grep -q "${NEEDED[$package]}"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing what Qt's window needs: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; }
else
  echo "Qt's window needs ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}"
fi
