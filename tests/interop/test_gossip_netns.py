"""Gossip discovery (ZGP) across subnets, in network namespaces the test creates and deletes.

Two subnets (10.200.<k>.0/24 bridges) joined by a router namespace that forwards IP but, like
any router, no broadcast: UDP beacons never cross, so nodes in different subnets can only meet
through the gossip hub (a `ryre node --gossip-bind` in the first subnet). They exchange SHOUT and
WHISPER, see EXIT when one is killed; the hub is killed and comes back, and a newcomer still
meets everyone (the clients publish again after the new hub's INVALID).
"""

import signal
import statistics
import subprocess
import time

from netns import _IP, ip
from test_pyre import ENTER_T, MSG_T, GROUP

HUB_PORT = 5670


def routed_subnets(lab, left, right):
    """Namespaces: router `r`, `left` leaves on subnet A, `right` leaves on subnet B."""
    r = lab.netns("r")
    a = [lab.netns("a%d" % i) for i in range(left)]
    b = [lab.netns("b%d" % i) for i in range(right)]
    na = lab.star(r, a, isolated=False)
    nb = lab.star(r, b, isolated=False)
    subprocess.run([_IP, "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                   check=True, timeout=10)
    for net, leaves in ((na, a), (nb, b)):
        for leaf in leaves:
            ip("route", "add", "default", "via", net["hub_addr"], ns=leaf)
    return r, a, b, na, nb


def node(lab, ryre_bin, ns, name, *flags):
    p = lab.spawn("ryre:" + name, ns, [ryre_bin, "node", "--json", "--name", name,
                                       "--evasive", "500", "--expired", "2000"] + list(flags))
    ev = p.expect("STARTED", 20, "STARTED line of " + name)
    p.uuid = ev["peer"]
    p.started = ev
    return p


def hub_node(lab, ryre_bin, ns, addr):
    p = node(lab, ryre_bin, ns, "hub", "--gossip-bind", "tcp://%s:%d" % (addr, HUB_PORT))
    assert p.started.get("gossip") == "tcp://%s:%d" % (addr, HUB_PORT), p.started
    return p


def meets(x, y, what=""):
    return x.expect({"event": "ENTER", "peer": y.uuid}, ENTER_T,
                    "ENTER of %s %s" % (y.label, what), others=[y])


def test_subnets_meet_through_a_gossip_hub_that_dies_and_comes_back(lab, ryre_bin):
    r, (h_ns, a_ns), (b_ns, c_ns), na, nb = routed_subnets(lab, 2, 2)
    hub_addr = na["leaves"][h_ns]["addr"]
    gossip = "tcp://%s:%d" % (hub_addr, HUB_PORT)
    hub = hub_node(lab, ryre_bin, h_ns, hub_addr)
    a = node(lab, ryre_bin, a_ns, "a", "--gossip-connect", gossip, "--join", GROUP, "--echo")
    b = node(lab, ryre_bin, b_ns, "b", "--gossip-connect", gossip, "--join", GROUP)
    assert a.started["endpoint"].startswith("tcp://10.200.%d." % na["k"]), a.started
    assert b.started["endpoint"].startswith("tcp://10.200.%d." % nb["k"]), b.started
    meets(a, b, "across the router")
    meets(b, a, "across the router")
    b.expect({"event": "JOIN", "peer": a.uuid, "group": GROUP}, ENTER_T, "JOIN of a", others=[a])
    # SHOUT from b, a echoes it back as a WHISPER.
    b.send("shout %s across-subnets" % GROUP)
    a.expect({"event": "SHOUT", "peer": b.uuid, "content": "across-subnets"}, MSG_T, "SHOUT", others=[b])
    b.expect({"event": "WHISPER", "peer": a.uuid, "content": "ECHO across-subnets"}, MSG_T,
             "echoed WHISPER", others=[a])
    # The hub dies: the peers it introduced keep talking, and they are told nothing.
    hub.kill()
    since = len(a.snapshot())
    b.send("whisper %s hub-is-dead" % a.uuid)
    a.expect({"event": "WHISPER", "peer": b.uuid, "content": "hub-is-dead"}, MSG_T,
             "WHISPER without the hub", since=since, others=[b])
    # The hub comes back knowing nobody; a newcomer on subnet B meets a and b through it, so
    # both published themselves again.
    hub2 = hub_node(lab, ryre_bin, h_ns, hub_addr)
    c = node(lab, ryre_bin, c_ns, "c", "--gossip-connect", gossip)
    meets(c, a, "through the restarted hub")
    meets(c, b, "through the restarted hub")
    # b dies without a word: a and c see EXIT (expired after 2 s of silence).
    b.kill()
    for x in (a, c):
        x.expect({"event": "EXIT", "peer": b.uuid}, ENTER_T, "EXIT of the killed b", others=[b])
    assert hub2.alive()


def test_gossip_discovery_time_across_subnets(lab, ryre_bin):
    """start -> ENTER on both sides, a on subnet A, b on subnet B, hub on A. Printed for
    BENCHMARKS.md; bounded by ENTER_T."""
    r, (h_ns, a_ns), (b_ns,), na, nb = routed_subnets(lab, 2, 1)
    hub_addr = na["leaves"][h_ns]["addr"]
    gossip = "tcp://%s:%d" % (hub_addr, HUB_PORT)
    hub_node(lab, ryre_bin, h_ns, hub_addr)
    times = []
    for round_ in range(5):
        t0 = time.monotonic()
        a = node(lab, ryre_bin, a_ns, "a%d" % round_, "--gossip-connect", gossip)
        b = node(lab, ryre_bin, b_ns, "b%d" % round_, "--gossip-connect", gossip)
        ea = meets(a, b)
        eb = meets(b, a)
        both = max(a.started_at + ea["_t"], b.started_at + eb["_t"])
        times.append((both - t0) * 1000.0)
        for p in (a, b):
            p.signal(signal.SIGTERM)
            p.wait_exit(10)
    # Baseline in the same run: plain UDP beacons (1 s interval) on one subnet.
    base = []
    for round_ in range(5):
        t0 = time.monotonic()
        a = node(lab, ryre_bin, h_ns, "x%d" % round_, "--discovery", "beacon")
        b = node(lab, ryre_bin, a_ns, "y%d" % round_, "--discovery", "beacon")
        ea = meets(a, b)
        eb = meets(b, a)
        base.append((max(a.started_at + ea["_t"], b.started_at + eb["_t"]) - t0) * 1000.0)
        for p in (a, b):
            p.signal(signal.SIGTERM)
            p.wait_exit(10)
    g, bl = statistics.median(times), statistics.median(base)
    print("gossip discovery across subnets, start -> ENTER both sides (ms): %s; median %.0f"
          % (", ".join("%.0f" % t for t in times), g))
    print("baseline, beacons on one subnet (ms): %s; median %.0f; gossip/beacon %.2f"
          % (", ".join("%.0f" % t for t in base), bl, g / bl))
    assert g < ENTER_T * 1000
