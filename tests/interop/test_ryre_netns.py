"""ryre alone in network namespaces the test creates: the default interface choice.

A host whose only interface is loopback (a container without a network, a namespace with only
`lo`): ryre picks loopback by itself, and nodes on that host still find each other (beacons to
127.255.255.255) and talk.
"""

from test_pyre import ENTER_T, MSG_T, GROUP, stop_and_see_exit


def start_default(lab, ryre_bin, ns, name, *flags):
    # No --interface: the default choice is what is under test.
    p = lab.spawn("ryre:" + name, ns, [ryre_bin, "node", "--json", "--name", name] + list(flags))
    ev = p.expect("STARTED", 20, "STARTED line")
    p.uuid = ev["peer"]
    return p, ev


def test_loopback_only_host_uses_loopback_and_nodes_meet(lab, ryre_bin):
    ns = lab.netns("lo")  # only `lo`, up
    a, started = start_default(lab, ryre_bin, ns, "lo-a", "--join", GROUP, "--echo")
    assert started["endpoint"].startswith("tcp://127.0.0.1:"), started
    b, _ = start_default(lab, ryre_bin, ns, "lo-b", "--join", GROUP)
    a.expect({"event": "ENTER", "peer": b.uuid}, ENTER_T, "ENTER of lo-b", others=[b])
    b.expect({"event": "JOIN", "peer": a.uuid, "group": GROUP}, ENTER_T, "JOIN of lo-a", others=[a])
    b.send("shout %s over-loopback" % GROUP)
    a.expect({"event": "SHOUT", "peer": b.uuid, "content": "over-loopback"}, MSG_T, "SHOUT", others=[b])
    b.expect({"event": "WHISPER", "peer": a.uuid, "content": "ECHO over-loopback"}, MSG_T, "echo", others=[a])
    stop_and_see_exit(b, a)


def test_default_interface_is_the_first_broadcast_capable_one(lab, ryre_bin):
    a_ns, b_ns, link = lab.two_hosts()
    a, started = start_default(lab, ryre_bin, a_ns, "veth-a", "--join", GROUP)
    assert started["endpoint"].startswith("tcp://%s:" % link["addr_a"]), started
    b, started = start_default(lab, ryre_bin, b_ns, "veth-b", "--join", GROUP)
    assert started["endpoint"].startswith("tcp://%s:" % link["addr_b"]), started
    a.expect({"event": "JOIN", "peer": b.uuid, "group": GROUP}, ENTER_T, "JOIN of veth-b", others=[b])
    b.expect({"event": "JOIN", "peer": a.uuid, "group": GROUP}, ENTER_T, "JOIN of veth-a", others=[a])
    stop_and_see_exit(a, b)
