#!/usr/bin/env bash
# test.sh — the whole test suite on a fresh Debian 12 machine (run as root):
# installs dependencies, builds, and runs (the sanitizer and fuzz builds at
# -O1 -g1: line tables are all a report needs, and they compile 3-4x faster)
#   1. unit + pipeline + interop tests on the release build,
#   2. unit + pipeline tests again under AddressSanitizer/UBSan (leaks, overreads),
#   3. a bounded run of every libFuzzer target (clang build).
# Ends with "N passed, N failed" over all of them; exits non-zero on any failure.
set -uo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
"$top/scripts/deps.sh" || exit 1

total_ok=0
total_fail=0
log="$(mktemp /tmp/rampart-test.XXXXXX)"
trap 'rm -f "$log"' EXIT

# run_meson_tests LABEL BUILD_DIR [meson test args...] — run, then add its counts.
run_meson_tests() {
    local label="$1" dir="$2"; shift 2
    echo "=== $label (at ${SECONDS}s)"
    meson test -C "$dir" --no-rebuild --print-errorlogs "$@" 2>&1 | tee "$log"
    local ok fail skip timeout
    ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log" | tail -1)
    fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log" | tail -1)
    skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$log" | tail -1)
    timeout=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$log" | tail -1)
    if [[ -z "$ok" ]]; then  # meson itself failed
        total_fail=$((total_fail + 1))
        return
    fi
    # A skipped suite is not a pass.
    total_ok=$((total_ok + ok))
    total_fail=$((total_fail + ${fail:-0} + ${skip:-0} + ${timeout:-0}))
}

# build_or_count LABEL CMD... — a build failure counts as a failed test.
build_or_count() {
    local label="$1"; shift
    echo "=== build: $label (at ${SECONDS}s)"
    if ! "$@"; then
        echo "BUILD FAILED: $label"
        total_fail=$((total_fail + 1))
        return 1
    fi
}

jobs="$(nproc)"
if build_or_count release "$top/scripts/build.sh" build --buildtype=release; then
    run_meson_tests "release: unit, pipeline, interop" build
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_odr_violation=0"
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
if NINJA_TARGETS="tests/unit/unit-tests tests/unit/sav-tests tests/pipeline/pipeline-tests" \
    build_or_count "asan+ubsan" "$top/scripts/build.sh" build-asan --buildtype=plain -Db_ndebug=false \
    "-Dcpp_args=-O1 -g1" "-Dc_args=-O1 -g1" -Db_sanitize=address,undefined -Db_lundef=false; then
    run_meson_tests "asan+ubsan: unit, pipeline" build-asan --suite unit --suite pipeline
fi

if CC=clang CXX=clang++ NINJA_TARGETS="tests/fuzz/fuzz_packet tests/fuzz/fuzz_command tests/fuzz/fuzz_cli_protocol tests/fuzz/fuzz_netlink tests/fuzz/fuzz_esp tests/fuzz/fuzz_ike tests/fuzz/fuzz_mrt tests/fuzz/fuzz_rpki_json tests/fuzz/fuzz_rtr tests/fuzz/fuzz_bgp_message tests/fuzz/fuzz_bgp_attributes" \
    build_or_count "fuzz (clang, libFuzzer)" "$top/scripts/build.sh" build-fuzz --buildtype=plain -Db_ndebug=false \
    "-Dcpp_args=-O1 -g1" "-Dc_args=-O1 -g1" \
    -Dfuzz=true -Dtests=false -Db_sanitize=address -Db_lundef=false -Dfuzz_seconds="${RAMPART_FUZZ_SECONDS:-20}"; then
    ASAN_OPTIONS="detect_leaks=0" run_meson_tests "fuzz: bounded libFuzzer runs" build-fuzz --suite fuzz
fi

echo "=== done in ${SECONDS}s"
echo "${total_ok} passed, ${total_fail} failed"
((total_fail == 0))
