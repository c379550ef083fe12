#!/usr/bin/env bash
# ryre under valgrind memcheck (errors fail the run, --error-exitcode): `ryre demo` (nodes in one
# process), and two `ryre node` processes on loopback that shout, echo and whisper back and forth
# and stop on a signal (the cross-process path: ZeroMQ links, beacons, the device rendezvous).
# Installs valgrind when it is missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    echo "valgrind: installing valgrind"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind >/dev/null
fi
cargo build -q -p ryre-cli
ryre="$PWD/target/debug/ryre"
out="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT

echo "== valgrind: ryre demo"
timeout 300 valgrind -q --error-exitcode=99 --track-origins=yes "$ryre" demo >"$out/demo.log" 2>&1 \
    || { cat "$out/demo.log"; echo "valgrind: ryre demo FAILED"; exit 1; }
grep -q "demo OK" "$out/demo.log"

echo "== valgrind: two ryre node processes"
port="$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
common=(node --json --interface lo --port "$port" --interval 100 --join g)
timeout 300 valgrind -q --error-exitcode=99 --track-origins=yes "$ryre" "${common[@]}" --name echoer --echo \
    >"$out/echo.json" 2>"$out/echo.err" &
pids+=($!); echo_pid=$!
timeout 300 valgrind -q --error-exitcode=99 --track-origins=yes "$ryre" "${common[@]}" --name talker \
    --shout g hello --every 100 --for 20 >"$out/talk.json" 2>"$out/talk.err" &
pids+=($!); talk_pid=$!
fail() { echo "valgrind: $1"; for f in "$out"/*; do echo "--- $f"; tail -40 "$f"; done; exit 1; }
wait "$talk_pid" || fail "the talker failed (valgrind errors exit 99)"
# The echoer saw the talker's shouts and its EXIT (leaving); it stops on SIGTERM.
kill -TERM "$echo_pid"
wait "$echo_pid" || fail "the echoer failed (valgrind errors exit 99)"
echoes=$(grep -c '"event":"WHISPER".*"content":"ECHO hello"' "$out/talk.json" || true)
shouts=$(grep -c '"event":"SHOUT".*"content":"hello"' "$out/echo.json" || true)
grep -q '"event":"SUMMARY"' "$out/talk.json" || fail "no SUMMARY from the talker"
grep -q '"event":"SUMMARY"' "$out/echo.json" || fail "no SUMMARY from the echoer"
[ "$echoes" -ge 10 ] && [ "$shouts" -ge 10 ] || fail "too little traffic: $shouts shouts, $echoes echoes"
echo "valgrind: clean ($shouts shouts echoed $echoes times across two processes; ryre demo)"
