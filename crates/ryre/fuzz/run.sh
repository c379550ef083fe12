#!/usr/bin/env bash
# Every fuzz target of ryre, N seconds each (default 60): see scripts/fuzz.sh.
#   crates/ryre/fuzz/run.sh [SECONDS] [extra libFuzzer flags...]
exec "$(dirname "$0")/../../../scripts/fuzz.sh" "$(dirname "$0")" "$@"
