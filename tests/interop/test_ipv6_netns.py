"""IPv6 in network namespaces the test creates and deletes (names start with r6-).

Hosts hang off a bridge in a switch namespace. IPv6-only hosts have no IPv4 address at all
(only 127.0.0.1 on their loopback); their addresses are added with `nodad`, so there is no
duplicate address detection to wait for. Nodes beacon over IPv6 multicast (ff02::1, joined
on the host's interface), connect over IPv6 TCP, SHOUT, WHISPER and see EXIT:

* unique-local addresses (fd00:6:<k>::<i>/64), the interface chosen by name or by address;
* link-local addresses only (fe80::<k>:<i>/64, no other address): what a node announces has
  no %scope, and its peers add their own interface to reach it;
* dual stack: a dual-stack node meets an IPv4-only host (IPv6 disabled there) and an
  IPv6-only host, which cannot meet each other;
* Zyre's beacon code itself (CZMQ's zbeacon with ZSYS_IPV6=1, through ctypes, in
  czmq_peer.py) hears ryre's IPv6 beacons, and ryre hears its beacon and greets the CZMQ
  inbox it announces, over link-local addresses;
* discovery time start -> ENTER both sides, IPv6 beacons against IPv4 beacons in the same run
  (printed for BENCHMARKS.md).
"""

import ctypes
import os
import statistics
import subprocess
import sys
import time

import pytest

from netns import _IP, NS_PREFIX, ip
from test_pyre import ENTER_T, MSG_T, GROUP


def r6(lab):
    """This lab's namespaces are named r6-<pid>-<n>-..."""
    if not lab.id.startswith("r6-"):
        lab.id = "r6-" + lab.id[len(NS_PREFIX):]
    return lab


def sysctl(ns, *settings):
    for kv in settings:
        subprocess.run([_IP, "netns", "exec", ns, "sysctl", "-qw", kv], check=True, timeout=10,
                       capture_output=True)


def lan(lab, hosts, k, link_local=False, v4=(), v6_off=()):
    """A bridge in namespace `sw` with one veth port per host namespace (in `hosts` order).
    Each host gets fd00:6:<k>::<i>/64, or with link_local only fe80::<k>:<i>/64 (no other
    IPv6 address at all); hosts in `v4` also get 10.201.<k>.<i>/24, hosts in `v6_off` have
    IPv6 disabled. Returns {host: {"if": name, "v6": addr or None, "v4": addr or None}}."""
    sw = lab.netns("sw")
    sysctl(sw, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    br = "r6br%d" % k
    ip("link", "add", br, "type", "bridge", "mcast_snooping", "0", ns=sw)
    ip("link", "set", br, "up", ns=sw)
    out = {}
    for i, h in enumerate(hosts, start=1):
        port, leaf = "r6p%d_%d" % (k, i), "r6l%d_%d" % (k, i)
        ip("link", "add", port, "netns", sw, "type", "veth", "peer", "name", leaf, "netns", h)
        ip("link", "set", port, "master", br, ns=sw)
        ip("link", "set", port, "up", ns=sw)
        info = {"if": leaf, "v6": None, "v4": None}
        if h in v6_off:
            sysctl(h, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
                   "net.ipv6.conf.%s.disable_ipv6=1" % leaf)
        else:
            # No address of the kernel's making (it would need DAD): only the one added here.
            ip("link", "set", leaf, "addrgenmode", "none", ns=h)
            addr = ("fe80::%d:%d" if link_local else "fd00:6:%d::%d") % (k, i)
            ip("addr", "add", addr + "/64", "dev", leaf, "nodad", ns=h)
            info["v6"] = addr
        if h in v4:
            info["v4"] = "10.201.%d.%d" % (k, i)
            ip("addr", "add", info["v4"] + "/24", "brd", "+", "dev", leaf, ns=h)
        ip("link", "set", leaf, "up", ns=h)
        out[h] = info
    for h in hosts:
        res = ip("-4", "addr", "show", "scope", "global", ns=h)
        if h not in v4:
            assert "inet " not in res.stdout, "%s should have no IPv4 address:\n%s" % (h, res.stdout)
    return out


def node(lab, ryre_bin, ns, name, *flags):
    p = lab.spawn("ryre:" + name, ns, [ryre_bin, "node", "--json", "--name", name,
                                       "--evasive", "500", "--expired", "2000"] + list(flags))
    ev = p.expect("STARTED", 20, "STARTED line of " + name)
    p.uuid = ev["peer"]
    p.started = ev
    return p


def meets(x, y, what=""):
    return x.expect({"event": "ENTER", "peer": y.uuid}, ENTER_T,
                    "ENTER of %s %s" % (y.label, what), others=[y])


def test_ipv6_only_hosts_meet_talk_and_see_exit(lab, ryre_bin):
    r6(lab)
    hosts = [lab.netns(n) for n in ("a", "b", "c")]
    net = lan(lab, hosts, 1)
    ha, hb, hc = hosts
    # By interface name with plain beacons; by IPv6 address with the default discovery (the
    # machine's agent, which sends no IPv4 beacons for an IPv6 node); name again.
    a = node(lab, ryre_bin, ha, "a", "--ipv6", "--interface", net[ha]["if"], "--discovery",
             "beacon", "--join", GROUP, "--echo")
    b = node(lab, ryre_bin, hb, "b", "--ipv6", "--interface", net[hb]["v6"], "--join", GROUP)
    c = node(lab, ryre_bin, hc, "c", "--ipv6", "--discovery", "beacon")
    for p, h in ((a, ha), (b, hb), (c, hc)):
        assert p.started["endpoint"].startswith("tcp://[%s]:" % net[h]["v6"]), p.started
        assert p.started["ipv6"] == net[h]["v6"], p.started
    for x, y in ((a, b), (b, a), (a, c), (c, a), (b, c), (c, b)):
        ev = meets(x, y, "over IPv6 multicast")
        assert ev["endpoint"] == y.started["endpoint"], (ev, y.started)
    b.expect({"event": "JOIN", "peer": a.uuid, "group": GROUP}, ENTER_T, "JOIN of a", others=[a])
    b.send("shout %s over-ipv6" % GROUP)
    a.expect({"event": "SHOUT", "peer": b.uuid, "content": "over-ipv6"}, MSG_T, "SHOUT", others=[b])
    b.expect({"event": "WHISPER", "peer": a.uuid, "content": "ECHO over-ipv6"}, MSG_T,
             "echoed WHISPER", others=[a])
    # c dies without a word: a and b see it expire; b stops politely: a sees it leave.
    c.kill()
    for x in (a, b):
        x.expect({"event": "EXIT", "peer": c.uuid}, ENTER_T, "EXIT of the killed c", others=[c])
    b.stop()
    a.expect({"event": "EXIT", "peer": b.uuid, "reason": "leaving"}, MSG_T, "EXIT of b", others=[b])


def test_link_local_only_hosts_meet_through_their_scope(lab, ryre_bin):
    r6(lab)
    hosts = [lab.netns(n) for n in ("a", "b")]
    net = lan(lab, hosts, 2, link_local=True)
    ha, hb = hosts
    a = node(lab, ryre_bin, ha, "a", "--ipv6", "--discovery", "beacon", "--join", GROUP, "--echo")
    b = node(lab, ryre_bin, hb, "b", "--ipv6", "--interface", net[hb]["if"], "--discovery",
             "beacon", "--join", GROUP)
    for p, h in ((a, ha), (b, hb)):
        # Announced without the %scope: the interface's name means nothing to a peer.
        assert p.started["endpoint"].startswith("tcp://[%s]:" % net[h]["v6"]), p.started
        assert "%" not in p.started["endpoint"], p.started
    for x, y in ((a, b), (b, a)):
        ev = meets(x, y, "over link-local IPv6")
        assert ev["endpoint"] == y.started["endpoint"], (ev, y.started)
    b.expect({"event": "JOIN", "peer": a.uuid, "group": GROUP}, ENTER_T, "JOIN of a", others=[a])
    b.send("shout %s link-local" % GROUP)
    a.expect({"event": "SHOUT", "peer": b.uuid, "content": "link-local"}, MSG_T, "SHOUT", others=[b])
    b.expect({"event": "WHISPER", "peer": a.uuid, "content": "ECHO link-local"}, MSG_T,
             "echoed WHISPER", others=[a])
    a.kill()
    b.expect({"event": "EXIT", "peer": a.uuid}, ENTER_T, "EXIT of the killed a", others=[a])


def test_dual_stack_meets_ipv4_only_and_ipv6_only_hosts(lab, ryre_bin):
    r6(lab)
    hosts = [lab.netns(n) for n in ("d", "x4", "y6")]
    hd, hx, hy = hosts
    net = lan(lab, hosts, 3, v4=(hd, hx), v6_off=(hx,))
    d = node(lab, ryre_bin, hd, "d", "--dual-stack", "--discovery", "beacon", "--join", GROUP)
    x = node(lab, ryre_bin, hx, "x4", "--discovery", "beacon", "--join", GROUP, "--echo")
    y = node(lab, ryre_bin, hy, "y6", "--ipv6", "--discovery", "beacon", "--join", GROUP, "--echo")
    assert d.started["endpoint"].startswith("tcp://%s:" % net[hd]["v4"]), d.started
    assert d.started["ipv6"] == net[hd]["v6"], d.started
    ex = meets(d, x, "over IPv4")
    ey = meets(d, y, "over IPv6")
    assert ex["endpoint"].startswith("tcp://%s:" % net[hx]["v4"]), ex
    assert ey["endpoint"].startswith("tcp://[%s]:" % net[hy]["v6"]), ey
    meets(x, d, "over IPv4")
    meets(y, d, "over IPv6")
    for p in (x, y):
        d.expect({"event": "JOIN", "peer": p.uuid, "group": GROUP}, ENTER_T, "JOIN", others=[p])
    d.send("shout %s both-stacks" % GROUP)
    for p in (x, y):
        d.expect({"event": "WHISPER", "peer": p.uuid, "content": "ECHO both-stacks"}, MSG_T,
                 "echo of %s" % p.label, others=[p])
    # The IPv4-only and the IPv6-only host share no protocol: they never met.
    assert x.count("ENTER", peer=y.uuid) == 0 and y.count("ENTER", peer=x.uuid) == 0, \
        lab.describe()
    y.kill()
    d.expect({"event": "EXIT", "peer": y.uuid}, ENTER_T, "EXIT of the killed y6", others=[y])


def test_ipv6_discovery_time_against_ipv4(lab, ryre_bin):
    """start -> ENTER on both sides, two hosts on one link with both IPv4 and IPv6 addresses:
    IPv6 beacons, then IPv4 beacons as the baseline, alternating rounds in the same run.
    Printed for BENCHMARKS.md; bounded by ENTER_T."""
    r6(lab)
    hosts = [lab.netns(n) for n in ("a", "b")]
    lan(lab, hosts, 4, v4=hosts)
    times = {"ipv6": [], "ipv4": []}
    for round_ in range(6):
        for kind, flags in (("ipv6", ["--ipv6"]), ("ipv4", [])):
            t0 = time.monotonic()
            a = node(lab, ryre_bin, hosts[0], "a%s%d" % (kind, round_), "--discovery", "beacon", *flags)
            b = node(lab, ryre_bin, hosts[1], "b%s%d" % (kind, round_), "--discovery", "beacon", *flags)
            ea, eb = meets(a, b), meets(b, a)
            both = max(a.started_at + ea["_t"], b.started_at + eb["_t"])
            times[kind].append((both - t0) * 1000.0)
            for p in (a, b):
                p.stop()
    m6, m4 = statistics.median(times["ipv6"]), statistics.median(times["ipv4"])
    print("IPv6 beacons, start -> ENTER both sides (ms): %s; median %.0f"
          % (", ".join("%.0f" % t for t in times["ipv6"]), m6))
    print("IPv4 beacons, same hosts, same run (ms): %s; median %.0f; ipv6/ipv4 %.2f"
          % (", ".join("%.0f" % t for t in times["ipv4"]), m4, m6 / m4))
    assert m6 < ENTER_T * 1000


def test_czmq_zbeacon_and_ryre_hear_each_other_over_link_local_ipv6(lab, ryre_bin):
    try:
        ctypes.CDLL("libczmq.so.4")
    except OSError as e:
        pytest.skip("libczmq.so.4 not installed (scripts/setup.sh installs libczmq4): %s" % e)
    r6(lab)
    hosts = [lab.netns(n) for n in ("z", "y")]
    net = lan(lab, hosts, 5, link_local=True)
    hz, hy = hosts
    here = os.path.dirname(os.path.abspath(__file__))
    z = lab.spawn("czmq", hz, [sys.executable, "-u", os.path.join(here, "czmq_peer.py"),
                               "beacon", net[hz]["if"], "5670", str(ENTER_T)])
    ready = z.expect("READY", 20, "CZMQ ready")
    assert ready["hostname"].split("%")[0] == net[hz]["v6"], ready
    y = node(lab, ryre_bin, hy, "y", "--ipv6", "--discovery", "beacon")
    port = int(y.started["endpoint"].rsplit(":", 1)[1])
    # zbeacon hears ryre's beacon, from the address ryre announced, with ZRE's bytes.
    want = "5a524501" + y.uuid.lower() + "%04x" % port
    ev = z.expect(lambda e: e.get("event") == "BEACON" and e["data"] == want, ENTER_T,
                  "ryre's IPv6 beacon at zbeacon", others=[y])
    assert ev["from"].split("%")[0] == net[hy]["v6"], ev
    # ryre hears zbeacon's beacon and greets the inbox it announces (a link-local address
    # without a scope in the beacon's source: ryre adds its own interface).
    ev = z.expect(lambda e: e.get("event") == "MESSAGE" and e["frames"][1].startswith("aaa101"),
                  ENTER_T, "ryre's HELLO at the CZMQ inbox", others=[y])
    assert ev["frames"][0] == "01" + y.uuid.lower(), ev
    hello = bytes.fromhex(ev["frames"][1])
    assert y.started["endpoint"].encode() in hello and b"%" not in hello, hello


def test_ipv6_unavailable_is_a_clear_error(lab, ryre_bin):
    r6(lab)
    ns = lab.netns("no6")
    sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
           "net.ipv6.conf.lo.disable_ipv6=1")
    for flags in (["--ipv6"], ["--dual-stack"], ["--ipv6", "--interface", "lo"]):
        p = lab.spawn("ryre", ns, [ryre_bin, "node", "--json", "--discovery", "off"] + flags)
        rc = p.wait_exit(20)
        err = p.stderr_text()
        assert rc != 0 and "IPv6" in err and "panicked" not in err, (flags, rc, err)
