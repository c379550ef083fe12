#!/usr/bin/env bash
# The reliable pipeline's end-to-end check on loopback (its unit, property and process tests run
# with `cargo test --workspace`): the demo kills two of four worker processes with kill -9
# mid-batch and fails unless every result arrives exactly once.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ryre pipeline demo (kill -9 mid-batch)"
cargo build -q -p ryre-cli
timeout 120 target/debug/ryre pipeline demo --tasks 50000 --workers 4 --kill 2 --timeout 90
