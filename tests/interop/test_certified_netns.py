"""Certified mode (issue 20) over real `ryre node` processes in network namespaces.

Four hosts on one LAN segment. A root CA (made with `ryre cert ca`, offline: its secret never
reaches a node) issues: alice (secret=all, chat=all), bob (secret=join,shout, chat=join), carol
(chat only) and dave (chat only, started later with a revocation file). Mallory runs a secure
node with no certificate at all (--tofu). Checked: who enters whom, who gets which shouts, and a
revocation handed to one node that reaches every node and drops the revoked one.
"""

import json
import subprocess

from test_pyre import ENTER_T, MSG_T, start_ryre
from test_secure import no_event


def cert(ryre_bin, *args):
    subprocess.run([ryre_bin, "cert"] + [str(a) for a in args], check=True,
                   stdout=subprocess.DEVNULL, timeout=30)


def pki(ryre_bin, tmp_path):
    d = tmp_path / "pki"
    cert(ryre_bin, "ca", "root", "--out", d)
    cert(ryre_bin, "issue", "--ca", d / "root", "--name", "alice",
         "--group", "secret=all", "--group", "chat=all", "--days", 2, "--out", d)
    cert(ryre_bin, "issue", "--ca", d / "root", "--name", "bob",
         "--group", "secret=join,shout", "--group", "chat=join", "--days", 2, "--out", d)
    for n in ("carol", "dave"):
        cert(ryre_bin, "issue", "--ca", d / "root", "--name", n,
             "--group", "chat=join,shout", "--days", 2, "--out", d)
    return d


def certified(lab, ryre_bin, ns, net, d, name, *flags):
    return start_ryre(lab, ryre_bin, ns, net["leaves"][ns]["if"], name,
                      "--cert", d / name, "--trust", d / "root.cert", *flags)


def test_rights_and_revocation_across_hosts(lab, ryre_bin, tmp_path):
    hub = lab.netns("hub")
    hosts = [lab.netns(x) for x in ("a", "b", "c", "m")]
    net = lab.star(hub, hosts, isolated=False)
    a_ns, b_ns, c_ns, m_ns = hosts
    d = pki(ryre_bin, tmp_path)
    shown = subprocess.run([ryre_bin, "cert", "show", d / "carol.cert", "--trust", d / "root.cert",
                            "--json"], check=True, capture_output=True, timeout=30)
    assert json.loads(shown.stdout)["verified"]["valid"] is True

    a = certified(lab, ryre_bin, a_ns, net, d, "alice", "--join", "secret", "--join", "chat")
    b = certified(lab, ryre_bin, b_ns, net, d, "bob", "--join", "secret", "--join", "chat")
    c = certified(lab, ryre_bin, c_ns, net, d, "carol", "--join", "chat")
    mallory = start_ryre(lab, ryre_bin, m_ns, net["leaves"][m_ns]["if"], "mallory", "--tofu",
                         "--join", "secret", "--join", "chat")
    for x, y in ((a, b), (b, a), (a, c), (c, a), (b, c)):
        x.expect({"event": "ENTER", "peer": y.uuid}, ENTER_T, "ENTER of %s" % y.label, others=[y])
    a.expect({"event": "JOIN", "peer": b.uuid, "group": "secret"}, ENTER_T, "bob joins secret")
    c.expect({"event": "JOIN", "peer": a.uuid, "group": "chat"}, ENTER_T, "alice joins chat")
    # The uncertified node: nobody lets it in. It does get the certified nodes' HELLOs (their
    # presence: a HELLO goes out before the peer is admitted), but no group name: a certified
    # HELLO names no group, and JOINs go only to admitted peers entitled to know of the group.
    no_event(a, "ENTER", 1.0, peer=mallory.uuid)
    assert not mallory.of("JOIN"), mallory.of("JOIN")
    # Carol is certified but has no right in secret: she never hears who is in it.
    assert not [e for e in c.of("JOIN") if e.get("group") == "secret"], c.of("JOIN")

    since_b, since_c = len(b.snapshot()), len(c.snapshot())
    a.send("shout secret for-members")
    a.send("shout chat for-all")
    b.expect({"event": "SHOUT", "peer": a.uuid, "group": "secret", "content": "for-members"},
             MSG_T, "bob gets the secret shout", since=since_b)
    c.expect({"event": "SHOUT", "peer": a.uuid, "group": "chat", "content": "for-all"},
             MSG_T, "carol gets the chat shout", since=since_c)
    no_event(c, "SHOUT", 0.5, since=since_c, group="secret")
    assert not mallory.of("SHOUT"), mallory.of("SHOUT")
    assert not mallory.of("JOIN"), mallory.of("JOIN")

    # The CA revokes carol; the list is handed to a new node, dave, only.
    cert(ryre_bin, "revoke", "--ca", d / "root", d / "carol.cert", "--out", tmp_path / "list.revocations")
    dave = certified(lab, ryre_bin, m_ns, net, d, "dave", "--join", "chat",
                     "--revocations", tmp_path / "list.revocations")
    for x in (a, b):
        x.expect({"event": "EXIT", "peer": c.uuid, "reason": "revoked"}, ENTER_T,
                 "%s drops carol" % x.label, others=[dave])
    no_event(dave, "ENTER", 0.5, peer=c.uuid)
    # A revocation handed to a running node on its stdin (`revoke FILE`) reaches the others.
    cert(ryre_bin, "revoke", "--ca", d / "root", d / "bob.cert", "--out", tmp_path / "bob.revocations")
    a.send("revoke %s" % (tmp_path / "bob.revocations"))
    for x in (a, dave):
        x.expect({"event": "EXIT", "peer": b.uuid, "reason": "revoked"}, ENTER_T,
                 "%s drops bob" % x.label, others=[b])
    for x in (a, b, c, dave, mallory):
        x.stop()
