#!/usr/bin/env bash
# build.sh [BUILD_DIR [MESON_OPTION...]] — configure (once) and build.
#   scripts/build.sh                      release build in build/
#   scripts/build.sh build-asan -Db_sanitize=address,undefined
# Set CC/CXX for another compiler (the fuzz build uses clang).
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$top/build}"
shift || true
[[ "$dir" = /* ]] || dir="$top/$dir"
if [[ ! -f "$dir/build.ninja" ]]; then
    meson setup "$dir" "$top" "$@"
elif (($#)); then
    meson configure "$dir" "$@"
fi
ninja -C "$dir" ${NINJA_TARGETS:-}
