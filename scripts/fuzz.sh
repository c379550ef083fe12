#!/usr/bin/env bash
# Runs every target of one cargo-fuzz crate for N seconds each (default 60), one after the other.
#
#   scripts/fuzz.sh FUZZ_DIR [SECONDS] [extra libFuzzer flags...]
#   e.g. scripts/fuzz.sh crates/ryre-proto/fuzz 120
#
# cargo-fuzz needs nightly features: on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
# Install it once with `cargo install cargo-fuzz`. The corpus grows in <dir>/corpus/<target>
# (seeded from <dir>/seeds/<target>); crashes land in <dir>/artifacts/<target>; each target's
# log is /tmp/<crate>-fuzz-<target>.log. Exits non-zero if any target found a crash, or did not
# build or run to its end.
set -euo pipefail
dir="$(cd "$1" && pwd)"
shift
secs="${1:-60}"
shift || true
crate="$(basename "$(dirname "$dir")")"
cd "$dir"
export RUSTC_BOOTSTRAP=1
status=0
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target" "seeds/$target"
    log="/tmp/$crate-fuzz-$target.log"
    echo "=== $crate/$target: ${secs}s"
    cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$secs" -print_final_stats=1 "$@" >"$log" 2>&1 || true
    grep -aE '^(Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY|thread .* panicked)' "$log" || true
    if grep -aqE 'panicked|ERROR: libFuzzer|SUMMARY: ' "$log"; then
        echo "!!! $target FAILED: see $log and $dir/artifacts/$target"
        status=1
    elif ! grep -aqE '^Done [0-9]+ runs' "$log"; then
        # No crash reported, but no finished run either: it did not build or did not start.
        echo "!!! $target did not run to its end: see $log"
        tail -20 "$log"
        status=1
    fi
done
exit $status
