#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need (libzmq, pkg-config,
# iproute2, a Python venv with Pyre from PyPI), then runs format and lint checks, every Rust
# test, the examples, and the interop tests against a real Pyre inside network namespaces
# (those need root; they are skipped, loudly, without it).
set -euo pipefail
cd "$(dirname "$0")/.."
# One build per run: incremental state would only take disk.
export CARGO_INCREMENTAL=0
bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -q -- -D warnings
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q
echo "== cargo test"
mkdir -p target
cargo test --workspace -q 2>&1 | tee target/cargo-test.log
echo "== the node tests again over IPv6 only (a namespace without IPv4)"; bash scripts/test-ipv6.sh
bash scripts/test-ryre-pipeline.sh
bash scripts/test-perf.sh
echo "== ryre with libzmq built from source (vendored)"; bash scripts/test-vendored.sh
echo "== publishable crates: metadata, cargo package, docs as docs.rs"; bash scripts/test-package.sh
bash scripts/test-metrics.sh
echo "== every fuzz target, 20 s each"; bash scripts/test-fuzz.sh
echo "== valgrind memcheck: ryre demo, two ryre node processes"; bash scripts/test-valgrind.sh
echo "== examples"
cargo run -q -p ryre --example pair
cargo run -q -p ryre-timer --example ticks
echo "== bridge dashboard in headless chromium"; bash scripts/test-bridge.sh
echo "== C ABI and the C#, Java, Ruby bindings"; bash scripts/test-bindings.sh
echo "== python package (crates/ryre-py)"; bash scripts/test-python.sh
bash scripts/test-sim.sh
echo "== interop with Pyre (network namespaces)"
cargo build -q -p ryre-cli
RYRE_BIN="$PWD/target/debug/ryre" bash tests/interop/run.sh
echo "== disk: target/ $(du -sh target 2>/dev/null | cut -f1), free $(df -h . | awk 'NR==2 {print $4}')"
