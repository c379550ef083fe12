"""Gossip against CZMQ's own zgossip (what Zyre's gossip is), driven through ctypes by
czmq_peer.py, in network namespaces the test creates and deletes (names start with r6-):

* a CZMQ hub serves two ryre nodes, over IPv4: they meet through it, SHOUT, WHISPER, and one
  sees the other's EXIT; the hub holds both tuples (UUID -> inbox endpoint);
* a ryre hub serves a CZMQ client, over IPv6: the client gets the hub node's tuple, and the
  hub node greets the inbox the client published with a ZRE HELLO.
"""

import ctypes
import os
import sys

import pytest

from test_ipv6_netns import lan, meets, node, r6
from test_pyre import ENTER_T, MSG_T, GROUP

HERE = os.path.dirname(os.path.abspath(__file__))


def czmq(lab, ns, *args):
    try:
        ctypes.CDLL("libczmq.so.4")
    except OSError as e:
        pytest.skip("libczmq.so.4 not installed (scripts/setup.sh installs libczmq4): %s" % e)
    p = lab.spawn("czmq", ns, [sys.executable, "-u", os.path.join(HERE, "czmq_peer.py")]
                  + list(args))
    p.ready = p.expect("READY", 20, "CZMQ ready")
    return p


def test_a_czmq_hub_serves_ryre_nodes(lab, ryre_bin):
    r6(lab)
    hosts = [lab.netns(n) for n in ("h", "a", "b")]
    net = lan(lab, hosts, 6, v4=hosts)
    hh, ha, hb = hosts
    hub_ep = "tcp://%s:5670" % net[hh]["v4"]
    hub = czmq(lab, hh, "hub", hub_ep, str(3 * ENTER_T))
    a = node(lab, ryre_bin, ha, "a", "--gossip-connect", hub_ep, "--join", GROUP, "--echo")
    b = node(lab, ryre_bin, hb, "b", "--gossip-connect", hub_ep, "--join", GROUP)
    for p in (a, b):
        hub.expect({"event": "DELIVER", "key": p.uuid, "value": p.started["endpoint"]}, ENTER_T,
                   "the tuple of %s at the CZMQ hub" % p.label, others=[p])
    meets(a, b, "through the CZMQ hub")
    meets(b, a, "through the CZMQ hub")
    b.expect({"event": "JOIN", "peer": a.uuid, "group": GROUP}, ENTER_T, "JOIN of a", others=[a])
    b.send("shout %s via-czmq" % GROUP)
    a.expect({"event": "SHOUT", "peer": b.uuid, "content": "via-czmq"}, MSG_T, "SHOUT", others=[b])
    b.expect({"event": "WHISPER", "peer": a.uuid, "content": "ECHO via-czmq"}, MSG_T,
             "echoed WHISPER", others=[a])
    a.kill()
    b.expect({"event": "EXIT", "peer": a.uuid}, ENTER_T, "EXIT of the killed a", others=[a])
    assert hub.alive(), hub.describe()


def test_a_ryre_hub_serves_a_czmq_client_over_ipv6(lab, ryre_bin):
    r6(lab)
    hosts = [lab.netns(n) for n in ("h", "c")]
    net = lan(lab, hosts, 7)
    hh, hc = hosts
    hub_ep = "tcp://[%s]:5670" % net[hh]["v6"]
    hub = node(lab, ryre_bin, hh, "hub", "--ipv6", "--gossip-bind", hub_ep)
    assert hub.started["gossip"] == hub_ep, hub.started
    c = czmq(lab, hc, "client", hub_ep, "[%s]" % net[hc]["v6"], str(2 * ENTER_T))
    assert c.ready["endpoint"].startswith("tcp://[%s]:" % net[hc]["v6"]), c.ready
    c.expect({"event": "DELIVER", "key": hub.uuid, "value": hub.started["endpoint"]}, ENTER_T,
             "the ryre hub's tuple at the CZMQ client", others=[hub])
    ev = c.expect(lambda e: e.get("event") == "MESSAGE" and e["frames"][1].startswith("aaa101"),
                  ENTER_T, "the ryre hub's HELLO at the CZMQ inbox", others=[hub])
    assert ev["frames"][0] == "01" + hub.uuid.lower(), ev
    assert hub.started["endpoint"].encode() in bytes.fromhex(ev["frames"][1]), ev
