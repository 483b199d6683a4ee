#!/usr/bin/env bash
# run-fuzz.sh TARGET SEEDS_DIR SECONDS — a bounded libFuzzer run from the
# committed seeds; new inputs go to a scratch corpus that is removed after.
set -euo pipefail
target="$1" seeds="$2" seconds="$3"
corpus="$(mktemp -d /tmp/rampart-fuzz.XXXXXX)"
trap 'rm -rf "$corpus"' EXIT
cd "$corpus"  # crash artifacts land here too; they are printed below
if ! "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 "$corpus" "$seeds"; then
    for f in "$corpus"/crash-* "$corpus"/leak-* "$corpus"/timeout-*; do
        [[ -e "$f" ]] && { echo "artifact $f:"; od -An -tx1 "$f" | head -20; }
    done
    exit 1
fi
