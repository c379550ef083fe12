"""Gossip through the machine's agent (`ryre node --gossip-connect HUB --gossip-agent`), in
network namespaces the test creates and deletes.

Two subnets joined by a router namespace (no broadcast across, see test_gossip_netns.py); the
hub (`ryre node --gossip-bind`) on subnet A; host `a` on subnet A and host `b` on subnet B, each
a namespace running three `ryre node` processes that share the host's device rendezvous (the
first to start is the agent). Checked: every node meets every other across the router; the hub
sees one gossip session per host (its own count, and the established TCP connections to its
port seen by `ss`) and one tuple per node; a node's clean leave and a node's death withdraw its
tuple at the hub at once; when the agent's own process dies, another node of the host takes
over, opens the host's session again and publishes the survivors, and the hub is back to one
session per host.
"""

import signal
import subprocess
import time

from netns import _IP
from test_gossip_netns import HUB_PORT, meets, node, routed_subnets
from test_pyre import ENTER_T, GROUP, MSG_T

PER_HOST = 3


def established(lab, ns, port):
    """TCP connections established to `port` in namespace `ns`, as `ss` sees them."""
    out = subprocess.run([_IP, "netns", "exec", ns, "ss", "-Htn", "state", "established",
                          "( sport = :%d )" % port], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    return len([l for l in out.splitlines() if l.strip()])


def hub_view(hub):
    """Asks the hub what it holds (`gossip` on stdin): (sessions, set of tuple keys)."""
    since = len(hub.snapshot())
    hub.send("gossip")
    ev = hub.expect("GOSSIP", 10, "the hub's GOSSIP line", since=since)
    return ev["hub"]["sessions"], {t["key"] for t in ev["hub"]["tuples"]}


def until(what, timeout, check, *procs):
    """Polls `check()` (returns a truthy value when done) for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last and last[0]:
            return last
        time.sleep(0.1)
    raise AssertionError("%s: not within %.0fs (last: %r)\n%s" % (
        what, timeout, last, "\n".join(p.describe(15) for p in procs)))


def test_one_gossip_session_per_host_through_the_agent(lab, ryre_bin):
    r, (h_ns, a_ns), (b_ns,), na, nb = routed_subnets(lab, 2, 1)
    hub_addr = na["leaves"][h_ns]["addr"]
    gossip = "tcp://%s:%d" % (hub_addr, HUB_PORT)
    hub = node(lab, ryre_bin, h_ns, "hub", "--gossip-bind", gossip)
    flags = ("--gossip-connect", gossip, "--gossip-agent", "--join", GROUP)
    a = [node(lab, ryre_bin, a_ns, "a%d" % i, *flags) for i in range(PER_HOST)]
    b = [node(lab, ryre_bin, b_ns, "b%d" % i, *flags) for i in range(PER_HOST)]
    everyone = a + b
    for x in everyone:
        for y in everyone + [hub]:
            if y is not x:
                meets(x, y, "(through the agents)")
    # One session per host at the hub, one tuple per node (and the hub's own).
    sessions, keys = hub_view(hub)
    assert sessions == 2, (sessions, keys)
    assert keys == {p.uuid for p in everyone + [hub]}, keys
    assert established(lab, h_ns, HUB_PORT) == 2
    # The host's agent holds one session for its three nodes.
    since = len(a[0].snapshot())
    a[0].send("gossip")
    ev = a[0].expect("GOSSIP", 10, "a0's GOSSIP line", since=since)
    assert ev["agent"] == [{"hub": gossip, "nodes": PER_HOST}], ev
    # Messages cross the router.
    b[0].send("shout %s from-b0" % GROUP)
    for x in a:
        x.expect({"event": "SHOUT", "peer": b[0].uuid, "content": "from-b0"}, MSG_T, "SHOUT",
                 others=[b[0]])
    # A clean leave withdraws the node's tuple at the hub at once (well before its 2 s ttl).
    t0 = time.monotonic()
    b[2].signal(signal.SIGTERM)
    b[2].wait_exit(10)
    until("b2's tuple withdrawn", 5, lambda: (b[2].uuid not in hub_view(hub)[1],), hub, b[0])
    left_ms = (time.monotonic() - t0) * 1000
    # A node that dies: its connection to the agent drops, the agent withdraws it.
    t0 = time.monotonic()
    b[1].kill()
    until("b1's tuple withdrawn", 5, lambda: (b[1].uuid not in hub_view(hub)[1],), hub, b[0])
    died_ms = (time.monotonic() - t0) * 1000
    sessions, keys = hub_view(hub)
    assert sessions == 2 and keys == {p.uuid for p in a + [b[0], hub]}, (sessions, keys)
    for x in a:
        for gone in (b[1], b[2]):
            x.expect({"event": "EXIT", "peer": gone.uuid}, ENTER_T, "EXIT of " + gone.label,
                     others=[gone])
    # The agent's own process dies: a1 or a2 takes over, the host's session is opened again
    # and the survivors published (a0's tuple expires at the hub after its ttl).
    a[0].kill()
    until("one session per host again, a1 and a2 published, a0 expired", 15,
          lambda: (established(lab, h_ns, HUB_PORT) == 2
                   and hub_view(hub)[1] == {p.uuid for p in (a[1], a[2], b[0], hub)},),
          hub, a[1], a[2])
    b[0].expect({"event": "EXIT", "peer": a[0].uuid}, ENTER_T, "EXIT of the dead agent a0")
    # A newcomer on host b meets a1 and a2 through the hub.
    c = node(lab, ryre_bin, b_ns, "b3", *flags)
    meets(c, a[1], "through the new agent's session")
    meets(c, a[2], "through the new agent's session")
    assert established(lab, h_ns, HUB_PORT) == 2
    print("tuple withdrawn at the hub after a clean leave: %.0f ms, after a kill: %.0f ms "
          "(polling every 100 ms)" % (left_ms, died_ms))
