#!/usr/bin/env bash
# The node tests (crates/ryre/tests/*.rs) a second time, over IPv6 only: inside a network
# namespace of their own with no IPv4 address at all (loopback keeps only ::1) and one veth pair
# (fd00:ee::1/64 on v6t0) for IPv6 multicast beacons, with RYRE_TEST_IPV6=1 and
# RYRE_TEST_INTERFACE=v6t0 (ryre-testkit then builds every node with ipv6(true) on v6t0 and every
# endpoint on [::1]). Needs root (ip netns); skipped, loudly, without it.
set -euo pipefail
cd "$(dirname "$0")/.."
IP="$(command -v ip || echo /usr/sbin/ip)"
if [ "$(id -u)" != 0 ] || ! [ -x "$IP" ]; then
    echo "SKIP: the IPv6-only node tests need root and iproute2 (ip netns)"
    exit 0
fi
ns="ryre-v6only-$$"
cleanup() { "$IP" netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
"$IP" netns add "$ns"
"$IP" netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
"$IP" -n "$ns" link set lo up
"$IP" -n "$ns" addr del 127.0.0.1/8 dev lo
"$IP" -n "$ns" link add v6t0 type veth peer name v6t1
"$IP" -n "$ns" addr add fd00:ee::1/64 dev v6t0 nodad
"$IP" -n "$ns" link set v6t1 up
"$IP" -n "$ns" link set v6t0 up
if "$IP" -n "$ns" -4 addr | grep -q inet; then
    echo "the IPv6-only namespace has an IPv4 address:" >&2
    "$IP" -n "$ns" addr >&2
    exit 1
fi
# Built outside (the namespace has no network), run inside: the test executables of crates/ryre
# from the workspace build that scripts/test.sh has just made (`cargo test -p ryre` would unify
# features differently and build everything again).
mapfile -t tests < <(cargo test --workspace --no-run -q --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    t = m.get("target", {})
    if (m.get("reason") == "compiler-artifact" and m.get("executable") and t.get("kind") == ["test"]
            and m.get("manifest_path", "").endswith("crates/ryre/Cargo.toml")):
        print(m["executable"])
')
if [ ${#tests[@]} -eq 0 ]; then
    echo "no test executables of crates/ryre found" >&2
    exit 1
fi
log=target/cargo-test-ipv6.log
: > "$log"
fail=0
for t in "${tests[@]}"; do
    echo "-- $(basename "$t")" | tee -a "$log"
    if ! (cd crates/ryre && "$IP" netns exec "$ns" env RYRE_TEST_IPV6=1 RYRE_TEST_INTERFACE=v6t0 \
            "$t" -q) 2>&1 | tee -a "$log"; then
        fail=1
    fi
done
[ "$fail" = 0 ] || { echo "the IPv6-only node tests FAILED" >&2; exit 1; }
