#!/usr/bin/env bash
# Issue 18 (performance): the backpressure tests, and the unpaced 200,000 x 1 KiB whisper case
# of `ryre bench whisper` with the nodes' defaults: nothing lost, no EXIT. Needs only the Rust
# toolchain and python3 (for reading the bench's JSON); idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== perf: backpressure tests"
cargo test -q -p ryre --test backpressure
echo "== perf: unpaced whisper with the default queue and policy"
cargo build -q -p ryre-cli
out=$(timeout 300 target/debug/ryre bench whisper --unpaced --size 1024 --count 200000 \
    --rounds 1 --ryre-only --json)
echo "$out"
python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
lost, exits, refused = r["lost"], r["exits"], r["refused"]
if any(lost) or any(exits) or any(refused):
    sys.exit(f"unpaced whisper lost {lost}, EXITs {exits}, refused {refused}")
print(f"unpaced whisper: {r['count']} sent, none lost, no EXIT")
PY
