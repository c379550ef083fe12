#!/usr/bin/env bash
# Runs every fuzz target of ryre-pipeline for N seconds each (default 60), one after the other.
#
#   crates/ryre-pipeline/fuzz/run.sh [SECONDS] [extra libFuzzer flags...]
#
# cargo-fuzz needs nightly features: on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
# Install it once with `cargo install cargo-fuzz`. The corpus grows in fuzz/corpus/<target>
# (seeded from fuzz/seeds/<target>); crashes land in fuzz/artifacts/<target>.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
export RUSTC_BOOTSTRAP=1
status=0
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    echo "=== $target: ${secs}s"
    if ! cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$secs" -print_final_stats=1 "$@" 2>&1 | tee "/tmp/ryre-pipeline-fuzz-$target.log" |
        grep -E '^(Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY|thread .* panicked|    )' ; then
        :
    fi
    if grep -qE 'panicked|ERROR: libFuzzer|SUMMARY: ' "/tmp/ryre-pipeline-fuzz-$target.log"; then
        echo "!!! $target FAILED: see /tmp/ryre-pipeline-fuzz-$target.log and artifacts/$target"
        status=1
    fi
done
exit $status
