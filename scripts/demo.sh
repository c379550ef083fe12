#!/usr/bin/env bash
# The main job on a fresh machine: install what ryre needs, build it, run `ryre demo` (a handful
# of nodes on this machine's loopback find each other, join a group, talk, and stop).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo run --release -q -p ryre-cli -- demo "$@"
