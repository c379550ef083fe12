"""The device rendezvous in network namespaces the test creates.

- A namespace with only `lo` up and `--discovery local`: no UDP at all, the nodes meet through
  the machine's agent on 127.0.0.1.
- Two ryre nodes on one "host" (namespace A, discovery auto, the default): one becomes the
  agent and sends the ZRE beacons for both; a real Pyre on another host (namespace B) sees and
  talks to both, and sees the one that is not the agent leave when it is killed (the agent
  sends its leaving beacon at once).
"""

import signal

from test_pyre import ENTER_T, MSG_T, GROUP, start_pyre, start_ryre, see_enter


def test_local_discovery_with_only_loopback(lab, ryre_bin):
    ns = lab.netns("lo")
    a = start_ryre(lab, ryre_bin, ns, "lo", "local-a", "--discovery", "local", "--join", GROUP, "--echo")
    b = start_ryre(lab, ryre_bin, ns, "lo", "local-b", "--discovery", "local", "--join", GROUP)
    see_enter(a, b)
    see_enter(b, a)
    b.expect({"event": "JOIN", "peer": a.uuid, "group": GROUP}, ENTER_T, "JOIN of local-a", others=[a])
    b.send("shout %s through-the-agent" % GROUP)
    b.expect({"event": "WHISPER", "peer": a.uuid, "content": "ECHO through-the-agent"}, MSG_T, "echo", others=[a])


def test_pyre_sees_both_ryre_nodes_of_a_host_through_the_agents_beacons(lab, pyre_cmd, ryre_bin, finding):
    a_ns, b_ns, link = lab.two_hosts()
    first = start_ryre(lab, ryre_bin, a_ns, link["if_a"], "ryre-agent", "--join", GROUP, "--echo")
    second = start_ryre(lab, ryre_bin, a_ns, link["if_a"], "ryre-member", "--join", GROUP, "--echo")
    see_enter(first, second)
    p = start_pyre(lab, pyre_cmd, b_ns, "pyre-far", "--join", GROUP, "--echo")
    for r in (first, second):
        see_enter(p, r)
        see_enter(r, p)
        p.send("whisper %s hi-%s" % (r.uuid, r.label.split(":")[1]))
        p.expect({"event": "WHISPER", "peer": r.uuid, "content": "ECHO hi-%s" % r.label.split(":")[1]},
                 MSG_T, "echo from %s" % r.label, others=[r])
    # kill -9 the member: the agent tells its neighbour at once, and beacons port 0 for it.
    second.signal(signal.SIGKILL)
    second.wait_exit(5)
    ev = first.expect({"event": "EXIT", "peer": second.uuid}, 5, "EXIT of the killed member", others=[second])
    assert ev["reason"] == "lost", ev
    pev = p.expect({"event": "EXIT", "peer": second.uuid}, 10, "Pyre sees the killed member leave", others=[first])
    finding("Pyre saw the killed ryre member leave at once through the agent's leaving beacon: %s" % pev)
