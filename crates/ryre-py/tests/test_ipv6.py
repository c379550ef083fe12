"""IPv6 from Python: ryre.Node(ipv6=True) and the log collector over IPv6 loopback (::1).

Loopback takes no IPv6 multicast, so the nodes meet through the device rendezvous
(discovery="local"); IPv6 beacons are tested in network namespaces (tests/interop)."""

import logging
import socket

import pytest

import ryre
import ryre.log
from conftest import WAIT, wait_event


def _has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


pytestmark = pytest.mark.skipif(not _has_ipv6_loopback(), reason="no ::1 on this host")


def test_nodes_meet_and_talk_over_ipv6(nodes):
    a = nodes("v6a", ipv6=True, discovery="local")
    b = nodes("v6b", ipv6=True, discovery="local")
    for n in (a, b):
        assert n.endpoint.startswith("tcp://[::1]:"), n.endpoint
        assert n.ipv6_address == "::1"
        assert n.interface == "lo"
    wait_event(a, lambda e: e.type == "ENTER" and e.peer == b.uuid, what="ENTER of v6b")
    ev = wait_event(b, lambda e: e.type == "ENTER" and e.peer == a.uuid, what="ENTER of v6a")
    assert ev.endpoint.startswith("tcp://[::1]:"), ev.endpoint
    b.whisper(a.uuid, b"over-v6")
    ev = wait_event(a, lambda e: e.type == "WHISPER", what="WHISPER")
    assert ev.content == [b"over-v6"]


def test_an_ipv4_node_has_no_ipv6_address_and_the_options_exclude_each_other(nodes):
    assert nodes("v4", discovery="local").ipv6_address is None
    with pytest.raises(ryre.ConfigError):
        ryre.Node("both", interface="lo", ipv6=True, dual_stack=True)
    with pytest.raises(TypeError):
        ryre.Node("bad", interface="lo", ipv6="yes")


def test_the_log_collector_over_ipv6():
    port = ryre.private_port()
    opts = dict(interface="lo", port=port, ipv6=True, discovery="local")
    node = ryre.Node("v6pub", **opts)
    handler = ryre.log.Handler(node, scan_every=0.02)
    log = logging.getLogger("test.ipv6")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        with ryre.log.Collector(level="info", **opts) as c:
            assert c.endpoint.startswith("tcp://[::1]:"), c.endpoint
            assert handler.wait_collector(logging.INFO, timeout=WAIT)
            log.warning("over %s", "v6")
            r = c.recv(timeout=WAIT)
            assert r is not None and (r.level, r.message) == ("WARN", "over v6"), r
            assert r.node == node.uuid
    finally:
        log.removeHandler(handler)
        handler.close()
        node.stop()
