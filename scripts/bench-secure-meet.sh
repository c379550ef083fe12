#!/bin/bash
# A secure (CURVE, trust on first use) or open mesh of N processes of one node each, as
# `ryre bench certified` meets them, for profiling and CPU time (BENCHMARKS.md, issue 20):
#   scripts/bench-secure-meet.sh N tofu|open [IDLE_SECS]
# Spawns N `ryre bench swarm --nodes 1 --expect N` children (discovery auto on lo, a private
# port), waits (at most 90 s) until every node has seen all the others, prints the time; with
# IDLE_SECS, then the CPU time of all the children over that many idle seconds. Every child is
# killed at the end. EXE picks the binary (default target/release/ryre); wrap the script in
# `perf stat -e task-clock` or `perf record -e cpu-clock` for the CPU of the meeting.
set -u
N=$1; MODE=$2; IDLE=${3:-0}
EXE=${EXE:-$(dirname "$0")/../target/release/ryre}
OUT=$(mktemp -d)
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$OUT"' EXIT
PORT=$(( 20000 + RANDOM % 20000 ))
EXTRA=(); [ "$MODE" = tofu ] && EXTRA=(--tofu)
mkfifo "$OUT/hold"
exec 9<>"$OUT/hold"   # the children's stdin: open until the end (EOF stops them)
pids=()
t0=$(date +%s%N)
for i in $(seq 1 "$N"); do
  "$EXE" bench swarm --nodes 1 --port "$PORT" --expect "$N" "${EXTRA[@]}" \
    <"$OUT/hold" >"$OUT/$i.out" 2>/dev/null &
  pids+=($!)
done
deadline=$(( $(date +%s) + 90 ))
met=0
while :; do
  met=$(cat "$OUT"/*.out 2>/dev/null | grep -c '^MET')
  [ "$met" -ge "$N" ] && break
  [ "$(date +%s)" -ge "$deadline" ] && { echo "TIMEOUT"; break; }
  sleep 0.05
done
t1=$(date +%s%N)
echo "met $met of $N in $(( (t1 - t0) / 1000000 )) ms"
cpu() {
  local s=0 f
  for p in "${pids[@]}"; do
    read -r -a f < "/proc/$p/stat" && s=$(( s + f[13] + f[14] ))
  done
  echo "$s"
}
if [ "$IDLE" -gt 0 ]; then
  hz=$(getconf CLK_TCK)
  c0=$(cpu); sleep "$IDLE"; c1=$(cpu)
  echo "cpu of the $N idle nodes over $IDLE s: $(( (c1 - c0) * 1000 / hz )) ms"
fi
