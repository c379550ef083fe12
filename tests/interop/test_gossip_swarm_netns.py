"""100 nodes on 4 subnets meet through one gossip hub, in network namespaces the test creates and
deletes (names start with r6-). A measurement for BENCHMARKS.md, printed (run with -s); the
test fails only if the swarm does not meet at all within SWARM_T.

Four subnets (10.200.<k>.0/24) joined by a router namespace that forwards IP and no broadcast;
one namespace per subnet runs a `ryre bench swarm` process with 25 nodes (`--discovery off
--gossip-connect <hub>`: gossip only), the hub (`ryre node --gossip-bind`) sits on the first
subnet. Each swarm process prints `MET <ms>` for each of its nodes once it has seen all 100
other nodes (the 99 others and the hub). Measured: from spawning the first swarm process to the
last MET line. Baseline in the same run: the same 4 x 25 nodes on one subnet (one bridge, no
router) with plain UDP beacons (`--discovery beacon`, 1 s interval) and no hub.
"""

import subprocess
import time

from netns import _IP, NS_PREFIX, ip

HUB_PORT = 5670
PER_PROCESS = 25
SUBNETS = 4
SWARM_T = 120  # the whole swarm must have met within this (a bound, not the target)


def r6(lab):
    if not lab.id.startswith("r6-"):
        lab.id = "r6-" + lab.id[len(NS_PREFIX):]
    return lab


def swarm(lab, ryre_bin, ns, label, expect, iface, *flags, agent=False):
    return lab.spawn(label, ns, [ryre_bin, "bench", "swarm", "--nodes", str(PER_PROCESS),
                                 "--port", "5670", "--expect", str(expect)]
                     + ([] if agent else ["--no-agent"])
                     + ["--interface", iface] + list(flags))


def met_lines(p):
    return [e for e in p.snapshot() if e.get("event") == "_RAW" and e["line"].startswith("MET ")]


def wait_met(procs, t0):
    """Waits until every node of every process has met the whole swarm; returns the time from
    t0 to the last MET line, in ms."""
    deadline = time.monotonic() + SWARM_T
    while True:
        done = [len(met_lines(p)) >= PER_PROCESS for p in procs]
        if all(done):
            break
        for p in procs:
            if not p.alive():
                raise AssertionError("a swarm process died\n" + p.describe())
        if time.monotonic() > deadline:
            raise AssertionError("the swarm did not meet within %ds: %s\n%s" % (
                SWARM_T, [len(met_lines(p)) for p in procs], "\n".join(p.describe(10) for p in procs)))
        # Wait for the next line of the process furthest behind (bounded).
        lag = min(procs, key=lambda p: len(met_lines(p)))
        n = len(lag.snapshot())
        try:
            lag.expect(lambda e: True, 1.0, since=n)
        except AssertionError:
            pass
    last = max(p.started_at + met_lines(p)[PER_PROCESS - 1]["_t"] for p in procs)
    # When the last node of the swarm had started (its NODE line): the rest is meeting.
    up = max(p.started_at + [e for e in p.snapshot() if e.get("event") == "_RAW"
                             and e["line"].startswith("NODE ")][-1]["_t"] for p in procs)
    print("  all %d nodes started after %.0f ms" % (len(procs) * PER_PROCESS, (up - t0) * 1000.0))
    return (last - t0) * 1000.0


def four_subnets(lab, ryre_bin):
    """The router, four subnets with one namespace each, the hub on the first: (leaves, nets,
    hub process, gossip endpoint)."""
    r = lab.netns("r")
    leaves = [lab.netns("s%d" % i) for i in range(SUBNETS)]
    nets = [lab.star(r, [leaf], isolated=False) for leaf in leaves]
    subprocess.run([_IP, "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                   check=True, timeout=10)
    for net, leaf in zip(nets, leaves):
        ip("route", "add", "default", "via", net["hub_addr"], ns=leaf)
    hub_addr = nets[0]["leaves"][leaves[0]]["addr"]
    gossip = "tcp://%s:%d" % (hub_addr, HUB_PORT)
    hub = lab.spawn("hub", leaves[0], [ryre_bin, "node", "--json", "--name", "hub",
                                       "--gossip-bind", gossip])
    hub.expect("STARTED", 20, "the hub's STARTED line")
    return leaves, nets, hub, gossip


def test_100_nodes_on_4_subnets_through_their_agents(lab, ryre_bin):
    """The same swarm with `--discovery local --gossip-agent`: each subnet's process is a host
    whose agent holds the one gossip session (4 at the hub instead of 100), and the 25 nodes
    of a process meet in memory (the in-process registry), so only the 75 nodes of other
    hosts need TCP links. Measured the same way, printed for BENCHMARKS.md."""
    r6(lab)
    leaves, nets, hub, gossip = four_subnets(lab, ryre_bin)
    total = SUBNETS * PER_PROCESS
    t0 = time.monotonic()
    procs = [swarm(lab, ryre_bin, leaf, "agents-%d" % i, total + 1, net["leaves"][leaf]["if"],
                   "--discovery", "local", "--gossip-connect", gossip, "--gossip-agent",
                   agent=True)
             for i, (leaf, net) in enumerate(zip(leaves, nets))]
    agents_ms = wait_met(procs, t0)
    hub.wait_count("ENTER", total, 30, "the hub meets every node")
    since = len(hub.snapshot())
    hub.send("gossip")
    ev = hub.expect("GOSSIP", 10, "the hub's GOSSIP line", since=since)
    assert ev["hub"]["sessions"] == SUBNETS, ev["hub"]["sessions"]
    assert len(ev["hub"]["tuples"]) == total + 1
    print("100 nodes on 4 subnets, gossip through each host's agent (%d sessions at the hub): "
          "spawn -> every node met all: %.0f ms" % (ev["hub"]["sessions"], agents_ms))


def test_100_nodes_on_4_subnets_meet_through_one_hub(lab, ryre_bin):
    r6(lab)
    r = lab.netns("r")
    leaves = [lab.netns("s%d" % i) for i in range(SUBNETS)]
    nets = [lab.star(r, [leaf], isolated=False) for leaf in leaves]
    subprocess.run([_IP, "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                   check=True, timeout=10)
    for net, leaf in zip(nets, leaves):
        ip("route", "add", "default", "via", net["hub_addr"], ns=leaf)
    hub_addr = nets[0]["leaves"][leaves[0]]["addr"]
    gossip = "tcp://%s:%d" % (hub_addr, HUB_PORT)
    hub = lab.spawn("hub", leaves[0], [ryre_bin, "node", "--json", "--name", "hub",
                                       "--gossip-bind", gossip])
    hub.expect("STARTED", 20, "the hub's STARTED line")
    total = SUBNETS * PER_PROCESS
    t0 = time.monotonic()
    procs = [swarm(lab, ryre_bin, leaf, "swarm-%d" % i, total + 1, net["leaves"][leaf]["if"],
                   "--discovery", "off", "--gossip-connect", gossip)
             for i, (leaf, net) in enumerate(zip(leaves, nets))]
    gossip_ms = wait_met(procs, t0)
    hub.wait_count("ENTER", total, 30, "the hub meets every node")
    for p in procs:
        p.kill()
    hub.kill()

    # Baseline: the same processes on one subnet (a bridge in `b`), plain beacons, no hub.
    b = lab.netns("b")
    flat = [lab.netns("f%d" % i) for i in range(SUBNETS)]
    one = lab.star(b, flat, isolated=False)
    t0 = time.monotonic()
    base = [swarm(lab, ryre_bin, leaf, "beacon-%d" % i, total, one["leaves"][leaf]["if"],
                  "--discovery", "beacon")
            for i, leaf in enumerate(flat)]
    beacon_ms = wait_met(base, t0)
    print("100 nodes on 4 subnets through one gossip hub: spawn -> every node met all: %.0f ms"
          % gossip_ms)
    print("baseline, 100 nodes on one subnet with beacons, same run: %.0f ms; gossip/beacons %.2f"
          % (beacon_ms, gossip_ms / beacon_ms))
