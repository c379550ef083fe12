"""Shared fixtures of the ryre Python tests. Every node here runs on loopback (interface lo,
a private port from ryre.private_port()) or inside network namespaces a test creates."""

import os
import sys
import time

import pytest

import ryre

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
INTEROP = os.path.join(REPO, "tests", "interop")
sys.path.insert(0, INTEROP)

WAIT = 10.0  # seconds: discovery on loopback takes milliseconds; this only bounds a failure


def wait_event(node, pred, timeout=WAIT, what="event"):
    """Takes events from `node` until pred(ev) is true; fails after `timeout` seconds,
    listing what came instead."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %s within %.0f s; got %r" % (what, timeout, seen))
        ev = node.recv(timeout=left)
        if ev is None:
            continue
        if pred(ev):
            return ev
        seen.append(ev)


@pytest.fixture
def nodes():
    """Factory: nodes on loopback sharing one private port; every node is stopped at the end."""
    port = ryre.private_port()
    made = []

    def make(name=None, **kw):
        kw.setdefault("interface", "lo")
        kw.setdefault("port", port)
        n = ryre.Node(name, **kw)
        made.append(n)
        return n

    yield make
    for n in made:
        n.stop()


@pytest.fixture
def pair(nodes):
    """Two nodes (alice with a header, bob) that have seen each other ENTER."""
    a = nodes("alice", headers={"role": "left", "x": "1"})
    b = nodes("bob", headers={"role": "right"})
    wait_event(a, lambda e: e.type == "ENTER" and e.peer == b.uuid, what="ENTER of bob")
    wait_event(b, lambda e: e.type == "ENTER" and e.peer == a.uuid, what="ENTER of alice")
    return a, b


@pytest.fixture
def lab(request):
    """A set of network namespaces (tests/interop/netns.py), deleted after the test; the test is
    skipped without root or iproute2."""
    import netns

    ok, reason = netns.netns_supported()
    if not ok:
        pytest.skip(reason)
    lab = netns.Lab(tag=request.node.name)
    try:
        yield lab
    finally:
        lab.close()
