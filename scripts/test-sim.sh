#!/usr/bin/env bash
# The simulator (issue 12): its tests (determinism, a broken heart caught by the oracle, the
# regression seeds) and a swarm of seeds within a fixed wall-clock budget, run twice over the
# first seeds to compare trace hashes (the same seed at the same commit gives the same trace).
# Release builds of ryre-proto and ryre-sim only (no sockets, no processes, no network).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${RYRE_SIM_SEEDS:-300}"
BUDGET="${RYRE_SIM_BUDGET:-150}"
echo "== ryre-sim tests"
cargo test -q --release -p ryre-sim
cargo build -q --release -p ryre-sim --example swarm
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo "== ryre-sim swarm: up to $SEEDS seeds in ${BUDGET}s"
timeout $((BUDGET + 60)) target/release/examples/swarm 1 "$SEEDS" "$BUDGET" >"$out/a" || {
    grep FAILED "$out/a" || true
    echo "swarm failed" >&2
    exit 1
}
ran="$(wc -l <"$out/a")"
if [ "$ran" -lt 100 ]; then
    echo "only $ran seeds ran within ${BUDGET}s (want at least 100)" >&2
    exit 1
fi
echo "$ran seeds passed"
echo "== ryre-sim determinism: seeds 1..20 again, same trace hashes"
timeout 120 target/release/examples/swarm 1 20 >"$out/b"
head -n 20 "$out/a" >"$out/a20"
if ! diff "$out/a20" "$out/b"; then
    echo "the same seeds gave different traces" >&2
    exit 1
fi
