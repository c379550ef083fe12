#!/usr/bin/env bash
# Every fuzz target of every fuzz crate (crates/*/fuzz), FUZZ_SECONDS each (default 20), failing
# on any crash or on a target that does not build or run. Installs cargo-fuzz from crates.io
# when it is missing. cargo-fuzz needs nightly features: RUSTC_BOOTSTRAP=1 (see scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install -q --locked cargo-fuzz
fi
# One target directory for every fuzz crate: the sanitized build of ryre's crates is shared.
export CARGO_TARGET_DIR="$PWD/target/fuzz"
status=0
for dir in crates/*/fuzz; do
    [ -f "$dir/Cargo.toml" ] || continue
    bash scripts/fuzz.sh "$dir" "$secs" || status=1
done
[ "$status" -eq 0 ] && echo "fuzz: every target ran ${secs}s without a crash"
exit "$status"
