#!/usr/bin/env bash
# Idle cost of `ryre node` processes (issue 18, item 3): for each binary given, N idle nodes
# (discovery local on loopback, a private port per binary; the mesh log publisher installed, as
# `ryre node` always does) run side by side; after a warm-up, CPU time (utime+stime from
# /proc/PID/stat) over SECS seconds and PSS (smaps_rollup) per process.
#   usage: scripts/bench-idle.sh [-n N] [-s SECS] BIN...
set -euo pipefail
n=10; secs=20
while getopts "n:s:" o; do case $o in n) n=$OPTARG;; s) secs=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-n N] [-s SECS] BIN..." >&2; exit 2; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
free_port() { python3 -c 'import socket
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A group
for bin in "$@"; do
  port=$(free_port)
  for i in $(seq 1 "$n"); do
    "$bin" node --interface lo --discovery local --port "$port" --name "idle$i" \
      --for $((secs + 30)) >/dev/null 2>&1 &
    pids+=($!); group[$!]=$bin
  done
done
sleep 5   # warm-up: the nodes meet (the measurement starts after)
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A t0
for p in "${pids[@]}"; do t0[$p]=$(cpu "$p"); done
sleep "$secs"
for bin in "$@"; do
  total=0; pss=0; k=0
  for p in "${pids[@]}"; do
    [ "${group[$p]}" = "$bin" ] || continue
    total=$((total + $(cpu "$p") - ${t0[$p]}))
    pss=$((pss + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup")))
    k=$((k + 1))
  done
  python3 -c "import sys
b,t,pss,k,hz,s=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4]),int(sys.argv[5]),int(sys.argv[6])
print(f'{b}: {k} idle nodes, CPU {100*t/hz/s/k:.3f} % of a core each ({t} ticks in {s} s), PSS {pss/k/1024:.2f} MiB each')" \
    "$bin" "$total" "$pss" "$k" "$hz" "$secs"
done
