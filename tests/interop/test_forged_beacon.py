"""A forged leaving beacon against real processes (issue 11).

Anyone on a LAN can broadcast the 22-byte leaving beacon (port 0) of a live node's UUID. The
watcher removes that peer (as Zyre does), but the victim's next beacon must bring it back, with
its groups, within about one beacon interval, whoever the victim is (ryre or Pyre).
"""

import struct
import sys

import pytest

from netns import ip
from test_pyre import ENTER_T, GROUP, MSG_T, start_pyre, start_ryre, whisper

FORGE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.sendto(bytes.fromhex(sys.argv[1]), (sys.argv[2], 5670))
"""


def forge_leaving_beacon(ns, subnet_k, uuid_hex):
    """Broadcast, from namespace `ns`, a leaving beacon claiming `uuid_hex`."""
    beacon = b"ZRE\x01" + bytes.fromhex(uuid_hex) + struct.pack(">H", 0)
    ip("netns", "exec", ns, sys.executable, "-c", FORGE, beacon.hex(), "10.200.%d.255" % subnet_k)


@pytest.mark.parametrize("victim_kind", ["ryre", "pyre"])
@pytest.mark.parametrize("discovery", ["beacon", "auto"])
def test_forged_leaving_beacon_keeps_a_live_peer_away_for_one_beacon_at_most(
        lab, ryre_bin, pyre_cmd, discovery, victim_kind):
    a_ns, b_ns, link = lab.two_hosts()
    watcher = start_ryre(lab, ryre_bin, a_ns, link["if_a"], "watcher", "--join", GROUP,
                         "--discovery", discovery)
    if victim_kind == "ryre":
        victim = start_ryre(lab, ryre_bin, b_ns, link["if_b"], "victim", "--join", GROUP, "--echo",
                            "--discovery", discovery)
    else:
        victim = start_pyre(lab, pyre_cmd, b_ns, "victim", "--join", GROUP, "--echo")
    watcher.expect({"event": "JOIN", "peer": victim.uuid, "group": GROUP}, ENTER_T, "JOIN of victim",
                   others=[victim])
    victim.expect({"event": "JOIN", "peer": watcher.uuid, "group": GROUP}, ENTER_T, "JOIN of watcher",
                  others=[watcher])

    # The forger sits on the victim's host (it could be anywhere on the LAN).
    forge_leaving_beacon(b_ns, link["k"], victim.uuid)
    gone = watcher.expect({"event": "EXIT", "peer": victim.uuid}, MSG_T, "EXIT after the forgery",
                          others=[victim])
    assert gone["reason"] == "leaving", gone
    i = watcher.snapshot().index(gone) + 1
    back = watcher.expect({"event": "ENTER", "peer": victim.uuid}, 5, "the victim taken back",
                          since=i, others=[victim])
    watcher.expect({"event": "JOIN", "peer": victim.uuid, "group": GROUP}, MSG_T,
                   "the victim's group restored", since=i, others=[victim])
    gap = back["_t"] - gone["_t"]
    print("re-admitted %.3f s after the forged leaving beacon (%s victim, discovery %s)"
          % (gap, victim_kind, discovery))
    # One beacon interval (1 s), one more if the first fell within the grace, plus the HELLOs.
    assert gap < 2.5, "the victim came back only after %.2f s" % gap
    # And they talk again, both ways.
    whisper(watcher, victim, "after-the-forgery")
    if victim_kind == "ryre":
        victim.send("whisper %s back-again" % watcher.uuid)
        watcher.expect({"event": "WHISPER", "peer": victim.uuid, "content": "back-again"}, MSG_T,
                       "whisper from the victim", others=[victim])
