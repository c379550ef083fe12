#!/usr/bin/env bash
# The C ABI (crates/ryre-ffi) and the C#, Java and Ruby bindings on a fresh machine: installs the
# toolchains from apt (only what is missing; one apt-get update), builds the library, then runs
#   - the C test of every ABI function under valgrind memcheck (errors and definite leaks fail),
#     the C example (two zpingers meet), a link against the staticlib;
#   - each binding's tests (two nodes meet/join/shout/whisper/leave/stop; errors as exceptions)
#     and its example;
#   - one interop case per language against a `ryre node --echo` process inside a network
#     namespace this script creates and deletes (ryre-<pid>-ffi; needs root, skipped loudly
#     without it);
#   - the whisper benchmark of every language, as a smoke run (RYRE_BINDINGS_BENCH=N: a release
#     build and N messages each, the numbers of BENCHMARKS.md).
# Every runner prints "N passed, N failed"; any failure fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi

want=(gcc valgrind mono-mcs mono-runtime openjdk-17-jdk-headless libjna-java ruby ruby-ffi iproute2)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-bindings: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PROFILE=debug
BENCH_N=2000
if [ -n "${RYRE_BINDINGS_BENCH:-}" ]; then PROFILE=release; BENCH_N=$RYRE_BINDINGS_BENCH; fi
CARGO_PROFILE=(); [ "$PROFILE" = release ] && CARGO_PROFILE=(--release)
echo "== ryre-ffi: build ($PROFILE)"
cargo build -q -p ryre-ffi "${CARGO_PROFILE[@]}" --lib --example whisper_rust
cargo build -q -p ryre-cli
LIB="$ROOT/target/$PROFILE"
OUT="$ROOT/target/bindings"
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RYRE_FFI_LIB="$LIB/libryre_ffi.so"  # the Ruby binding loads exactly this build
JCP="$OUT/java:/usr/share/java/jna.jar"

fail=0
run() { # name, command...: runs, keeps its output, remembers a failure
  local name=$1; shift
  echo "-- $name"
  if ! "$@"; then echo "test-bindings: FAILED: $name"; fail=1; fi
}

echo "== C"
CFLAGS=(-Wall -Wextra -Werror -std=c11 -D_POSIX_C_SOURCE=200809L -g -I crates/ryre-ffi/include)
CLINK=(-L "$LIB" -lryre_ffi -lpthread "-Wl,-rpath,$LIB")
gcc "${CFLAGS[@]}" crates/ryre-ffi/tests/c/test_ryre.c -o "$OUT/test_ryre" "${CLINK[@]}"
gcc "${CFLAGS[@]}" crates/ryre-ffi/tests/c/private_port.c -o "$OUT/private_port" "${CLINK[@]}"
gcc "${CFLAGS[@]}" examples/c/zpinger.c -o "$OUT/zpinger" "${CLINK[@]}"
gcc "${CFLAGS[@]}" -O2 examples/c/whisper_bench.c -o "$OUT/whisper_bench" "${CLINK[@]}"
# the staticlib links on its own (with libzmq and the C runtime's usual libraries)
gcc "${CFLAGS[@]}" examples/c/zpinger.c -o "$OUT/zpinger-static" "$LIB/libryre_ffi.a" \
  $(pkg-config --libs libzmq) -lpthread -ldl -lm
# certified mode's files for the C test, made by the offline CA of `ryre cert`
PKI="$OUT/pki"; rm -rf "$PKI"
RYRE_CLI="$ROOT/target/debug/ryre"
"$RYRE_CLI" cert ca root --out "$PKI" >/dev/null
"$RYRE_CLI" cert issue --ca "$PKI/root" --name alice --group secret=all --group chat=all --days 1 --out "$PKI" >/dev/null
"$RYRE_CLI" cert issue --ca "$PKI/root" --name bob --group chat=join,shout --days 1 --out "$PKI" >/dev/null
"$RYRE_CLI" cert revoke --ca "$PKI/root" "$PKI/bob.cert" --out "$PKI/bob.revocations" >/dev/null
mkdir -p "$PKI/tampered"; cp -p "$PKI/bob.secret" "$PKI/tampered/"
# one character of the certificate's second armored line changed
awk 'BEGIN{n=0} /^-----BEGIN/{b=1; print; next} b && n==1 {c=substr($0,10,1); $0=substr($0,1,9) (c=="A"?"B":"A") substr($0,11)} b{n++} {print}' "$PKI/bob.cert" > "$PKI/tampered/bob.cert"
export RYRE_TEST_PKI="$PKI"
run "C: every function, under valgrind memcheck" timeout 300 valgrind -q --error-exitcode=99 \
  --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite "$OUT/test_ryre"
zpingers() { # two zpingers (one dynamic, one static) meet and greet each other
  local port; port=$("$OUT/private_port")
  "$OUT/zpinger" --name z1 --interface lo --port "$port" --count 1 --timeout-ms 15000 > "$OUT/z1.log" &
  local z1=$!
  local rc=0
  "$OUT/zpinger-static" --name z2 --interface lo --port "$port" --count 1 --timeout-ms 15000 > "$OUT/z2.log" || rc=1
  wait "$z1" || rc=1
  grep -q "WHISPER z2 hello" "$OUT/z1.log" && grep -q "WHISPER z1 hello" "$OUT/z2.log" || rc=1
  [ $rc -eq 0 ] && echo "1 passed, 0 failed" || { cat "$OUT/z1.log" "$OUT/z2.log"; echo "0 passed, 1 failed"; }
  return $rc
}
run "C: zpinger example (shared and static library)" zpingers

echo "== Ruby"
run "Ruby: tests" timeout 180 ruby bindings/ruby/test/test_ryre.rb
run "Ruby: example" timeout 60 ruby bindings/ruby/examples/pair.rb

echo "== C#"
mkdir -p "$OUT/csharp"
mcs -nologo -target:library -out:"$OUT/csharp/Ryre.dll" bindings/csharp/src/Ryre.cs
mcs -nologo -r:"$OUT/csharp/Ryre.dll" -out:"$OUT/csharp/TestRyre.exe" bindings/csharp/test/TestRyre.cs
mcs -nologo -r:"$OUT/csharp/Ryre.dll" -out:"$OUT/csharp/Pair.exe" bindings/csharp/examples/Pair.cs
run "C#: tests" timeout 180 mono "$OUT/csharp/TestRyre.exe"
run "C#: example" timeout 60 mono "$OUT/csharp/Pair.exe"

echo "== Java"
javac -nowarn -cp /usr/share/java/jna.jar -d "$OUT/java" bindings/java/src/ryre/*.java \
  bindings/java/test/TestRyre.java bindings/java/examples/Pair.java
run "Java: tests" timeout 180 java -cp "$JCP" -Djna.library.path="$LIB" TestRyre
run "Java: example" timeout 60 java -cp "$JCP" -Djna.library.path="$LIB" Pair

echo "== interop: each language against a \`ryre node\` process in a network namespace"
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
  echo "test-bindings: SKIPPED interop (needs root and iproute2 for network namespaces)"
else
  NS="ryre-$$-ffi"
  RYRE_PID=
  cleanup() {
    [ -n "$RYRE_PID" ] && kill "$RYRE_PID" 2>/dev/null && wait "$RYRE_PID" 2>/dev/null
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
  }
  trap cleanup EXIT
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  IN=(ip netns exec "$NS")
  PORT=$("${IN[@]}" "$OUT/private_port")
  # The peer: the ryre CLI, echoing every whisper; it stops by itself after 120 s at the latest.
  "${IN[@]}" "$ROOT/target/debug/ryre" node --name rnode --interface lo --port "$PORT" \
    --interval 100 --discovery beacon --echo --json --for 120 > "$OUT/rnode.log" 2>&1 &
  RYRE_PID=$!
  run "Ruby: interop" timeout 60 "${IN[@]}" ruby bindings/ruby/test/test_ryre.rb --interop "$PORT" rnode
  run "C#: interop" timeout 60 "${IN[@]}" env LD_LIBRARY_PATH="$LIB" mono "$OUT/csharp/TestRyre.exe" --interop "$PORT" rnode
  run "Java: interop" timeout 60 "${IN[@]}" java -cp "$JCP" -Djna.library.path="$LIB" TestRyre --interop "$PORT" rnode
  cleanup
  RYRE_PID=
  trap - EXIT
fi

echo "== whisper throughput at 16 B, $BENCH_N messages ($PROFILE build; same run for all)"
bench() {
  timeout 300 "$LIB/examples/whisper_rust" "$BENCH_N" &&
  timeout 300 "$OUT/whisper_bench" "$BENCH_N" &&
  timeout 300 ruby bindings/ruby/test/test_ryre.rb --bench "$BENCH_N" &&
  timeout 300 mono "$OUT/csharp/TestRyre.exe" --bench "$BENCH_N" &&
  timeout 300 java -cp "$JCP" -Djna.library.path="$LIB" TestRyre --bench "$BENCH_N"
}
run "benchmark" bench

if [ $fail -ne 0 ]; then echo "test-bindings: some runners FAILED"; exit 1; fi
echo "test-bindings: all passed"
