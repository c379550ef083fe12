"""A node behind NAT meets the world through gossip and its advertised endpoint, in network
namespaces the test creates and deletes (names start with r6-).

    public 10.202.1.0/24 (a bridge in `w`):  nat 10.202.1.1, hub h 10.202.1.2, node a 10.202.1.3
    private 192.168.77.0/24 (a veth pair):    nat 192.168.77.1, node p 192.168.77.2

The `nat` namespace routes, masquerades what the private side sends out, and forwards TCP
10.202.1.1:6000 to 192.168.77.2:6000 (nftables). The public side has no route to the private
one. p binds its inbox to 192.168.77.2:6000 and advertises tcp://10.202.1.1:6000: a learns that
endpoint from the hub and reaches p through the port forward; they SHOUT, WHISPER and a sees p's
EXIT. A second private node q that advertises nothing is published at its private address, which
a cannot reach: q never gets a's HELLO (the check fails when the advertised endpoint is ignored).
"""

import os
import shutil
import subprocess

import pytest

from netns import _IP, NS_PREFIX, ip
from test_pyre import ENTER_T, MSG_T, GROUP

NFT = shutil.which("nft") or "/usr/sbin/nft"
HUB = "tcp://10.202.1.2:5670"
FORWARD = "tcp://10.202.1.1:6000"

NFT_RULES = """
table ip r6nat {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 10.202.1.1 tcp dport 6000 dnat to 192.168.77.2:6000
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 192.168.77.0/24 oifname "r6pub" masquerade
  }
}
"""


def run_in(ns, argv, stdin=None):
    subprocess.run([_IP, "netns", "exec", ns] + argv, input=stdin, text=True, check=True,
                   timeout=10, capture_output=True)


def nat_lab(lab):
    if not lab.id.startswith("r6-"):
        lab.id = "r6-" + lab.id[len(NS_PREFIX):]
    w, nat, h, a, p = (lab.netns(n) for n in ("w", "nat", "h", "a", "p"))
    ip("link", "add", "r6br", "type", "bridge", ns=w)
    ip("link", "set", "r6br", "up", ns=w)
    for i, (ns, ifname, addr) in enumerate(((nat, "r6pub", "10.202.1.1"), (h, "r6h", "10.202.1.2"),
                                            (a, "r6a", "10.202.1.3"))):
        port = "r6w%d" % i
        ip("link", "add", port, "netns", w, "type", "veth", "peer", "name", ifname, "netns", ns)
        ip("link", "set", port, "master", "r6br", ns=w)
        ip("link", "set", port, "up", ns=w)
        ip("addr", "add", addr + "/24", "brd", "+", "dev", ifname, ns=ns)
        ip("link", "set", ifname, "up", ns=ns)
    ip("link", "add", "r6priv", "netns", nat, "type", "veth", "peer", "name", "r6p", "netns", p)
    ip("addr", "add", "192.168.77.1/24", "brd", "+", "dev", "r6priv", ns=nat)
    ip("addr", "add", "192.168.77.2/24", "brd", "+", "dev", "r6p", ns=p)
    # q: a second private address on p's link, for the node that advertises nothing.
    ip("addr", "add", "192.168.77.3/24", "dev", "r6p", ns=p)
    ip("link", "set", "r6priv", "up", ns=nat)
    ip("link", "set", "r6p", "up", ns=p)
    ip("route", "add", "default", "via", "192.168.77.1", ns=p)
    run_in(nat, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    run_in(nat, [NFT, "-f", "-"], stdin=NFT_RULES)
    # The public side cannot reach the private addresses (no route), so only the forward works.
    res = ip("route", "get", "192.168.77.2", ns=a, check=False)
    assert res.returncode != 0, "a must have no route to the private subnet:\n" + res.stdout
    return h, a, p


def node(lab, ryre_bin, ns, name, *flags):
    p = lab.spawn("ryre:" + name, ns, [ryre_bin, "node", "--json", "--name", name,
                                       "--evasive", "500", "--expired", "2000"] + list(flags))
    ev = p.expect("STARTED", 20, "STARTED line of " + name)
    p.uuid = ev["peer"]
    p.started = ev
    return p


def test_a_node_behind_nat_meets_through_gossip_and_its_advertised_endpoint(lab, ryre_bin):
    if not os.access(NFT, os.X_OK):
        pytest.skip("nft (nftables) not installed: run scripts/setup.sh")
    h_ns, a_ns, p_ns = nat_lab(lab)
    hub = node(lab, ryre_bin, h_ns, "hub", "--gossip-bind", HUB)
    p = node(lab, ryre_bin, p_ns, "p", "--endpoint", "tcp://192.168.77.2:6000", "--advertise",
             FORWARD, "--gossip-connect", HUB, "--join", GROUP, "--echo")
    assert p.started["endpoint"] == FORWARD, p.started
    a = node(lab, ryre_bin, a_ns, "a", "--gossip-connect", HUB, "--join", GROUP)
    ev = a.expect({"event": "ENTER", "peer": p.uuid}, ENTER_T, "ENTER of p", others=[p, hub])
    assert ev["endpoint"] == FORWARD, ev
    p.expect({"event": "ENTER", "peer": a.uuid}, ENTER_T, "ENTER of a", others=[a, hub])
    hub.expect({"event": "ENTER", "peer": p.uuid}, ENTER_T, "hub's ENTER of p", others=[p])
    a.expect({"event": "JOIN", "peer": p.uuid, "group": GROUP}, ENTER_T, "JOIN of p", others=[p])
    a.send("shout %s through-the-forward" % GROUP)
    p.expect({"event": "SHOUT", "peer": a.uuid, "content": "through-the-forward"}, MSG_T,
             "SHOUT", others=[a])
    a.expect({"event": "WHISPER", "peer": p.uuid, "content": "ECHO through-the-forward"}, MSG_T,
             "echoed WHISPER", others=[p])
    # q advertises nothing: the hub publishes its private endpoint, which a cannot reach, so
    # a's HELLO never gets to q (while q's HELLO does get to a, through the masquerade).
    q = node(lab, ryre_bin, p_ns, "q", "--endpoint", "tcp://192.168.77.3:6001",
             "--gossip-connect", HUB)
    assert q.started["endpoint"] == "tcp://192.168.77.3:6001", q.started
    ev = a.expect({"event": "ENTER", "peer": q.uuid}, ENTER_T, "ENTER of q (its HELLO)", others=[q])
    assert ev["endpoint"] == "tcp://192.168.77.3:6001", ev
    q.expect({"event": "ENTER", "peer": p.uuid}, ENTER_T, "q meets p on its own link", others=[p])
    try:
        q.expect({"event": "ENTER", "peer": a.uuid}, 3, "ENTER of a (must not come)")
    except AssertionError:
        pass
    else:
        raise AssertionError("q met a although it advertised an unreachable endpoint\n"
                             + lab.describe())
    # p dies: a sees it expire.
    p.kill()
    a.expect({"event": "EXIT", "peer": p.uuid}, ENTER_T, "EXIT of the killed p", others=[p])
