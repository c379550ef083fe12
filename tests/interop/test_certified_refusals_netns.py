"""Certified mode (issue 20): refusals over real processes in network namespaces.

A root CA made with `ryre cert` (offline; backdated 30 days, as a CA made a while ago) and a
second CA alice does not trust. alice is a certified `ryre node` with a revocation file that
revokes carol. Presented to her, each over a real CURVE link in a HELLO:

- (a) an expired certificate, (b) one not valid yet, (d) a tampered one (a byte of its name
  changed after signing), (f) one issued by a sub-CA that grants more than it holds: `ryre node`
  refuses to start with any of these (checked: a clear error and exit code 2), so they are
  presented by cert_peer.py, a raw ZRE peer over pyzmq CURVE with the certificate's own key;
- (c) a revoked certificate and (e) one of a CA alice does not trust: real `ryre node`s.

Each is refused with its reason in alice's log (a WARN line naming the peer) and in her
`security` counters by reason; none enters, none gets alice's shout. Controls that make the
checks able to fail: cert_peer.py with a valid certificate is admitted (ENTER), and the good
`ryre node`s bob, frank and gina enter and get the shout. Then a revocation of bob handed to
alice alone (`revocations FILE` on stdin) reaches every node of the 4-host mesh; the time from
handing it over to the last EXIT is measured.
"""

import base64
import os
import subprocess
import sys
import time

from test_certified_netns import cert
from test_pyre import ENTER_T, MSG_T, start_ryre
from test_secure import no_event, security

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cert_peer.py")
DAY = 86400


def tamper_file(src_base, dst_dir):
    """A copy of certificate files SRC.cert/.secret in dst_dir, one byte of the certificate's
    name changed after signing (the armored text re-encoded, so the file still parses)."""
    name = os.path.basename(src_base)
    os.makedirs(dst_dir, exist_ok=True)
    lines = open(str(src_base) + ".cert", encoding="utf-8").read().splitlines()
    begin = next(i for i, l in enumerate(lines) if l.startswith("-----BEGIN"))
    end = next(i for i, l in enumerate(lines) if l.startswith("-----END"))
    raw = bytearray(base64.b64decode("".join(lines[begin + 1:end])))
    at = raw.find(name.encode())
    raw[at] ^= 0x01
    b64 = base64.b64encode(bytes(raw)).decode()
    body = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    with open(os.path.join(dst_dir, name + ".cert"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines[:begin + 1] + body + lines[end:]) + "\n")
    secret = os.path.join(dst_dir, name + ".secret")
    with open(str(src_base) + ".secret", "rb") as f, open(secret, "wb") as g:
        g.write(f.read())
    os.chmod(secret, 0o600)
    return os.path.join(dst_dir, name)


def make_pki(ryre_bin, tmp_path):
    d, other = tmp_path / "pki", tmp_path / "other"
    now = int(time.time())
    cert(ryre_bin, "ca", "root", "--out", d, "--not-before", now - 30 * DAY)
    for n in ("alice", "bob", "frank", "gina", "carol", "tess", "pyok"):
        cert(ryre_bin, "issue", "--ca", d / "root", "--name", n, "--group", "chat=all",
             "--days", 2, "--out", d)
    # (a) expired nine days ago; (b) valid from tomorrow.
    cert(ryre_bin, "issue", "--ca", d / "root", "--name", "old", "--group", "chat=all",
         "--not-before", now - 10 * DAY, "--days", 1, "--out", d)
    cert(ryre_bin, "issue", "--ca", d / "root", "--name", "early", "--group", "chat=all",
         "--not-before", now + DAY, "--days", 2, "--out", d)
    # (f) a sub-CA with join in site/*, and a certificate it signs with shout there too
    # (`ryre cert issue` refuses to make it; --unchecked signs it anyway).
    cert(ryre_bin, "issue", "--ca", d / "root", "--name", "ops", "--sub-ca",
         "--group", "site/*=join", "--days", 3, "--out", d)
    refused = subprocess.run([ryre_bin, "cert", "issue", "--ca", d / "ops", "--name", "greedy",
                              "--group", "site/cams=join,shout", "--days", "1", "--out", d],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and "may not grant" in refused.stderr, refused
    cert(ryre_bin, "issue", "--ca", d / "ops", "--name", "greedy", "--group",
         "site/cams=join,shout", "--days", 1, "--out", d, "--unchecked")
    # (e) a CA alice does not trust.
    cert(ryre_bin, "ca", "other", "--out", other)
    cert(ryre_bin, "issue", "--ca", other / "other", "--name", "eve", "--group", "chat=all",
         "--days", 2, "--out", other)
    # (c) carol revoked, in alice's revocation file.
    cert(ryre_bin, "revoke", "--ca", d / "root", d / "carol.cert", "--out", tmp_path / "alice.revocations")
    # (d) tess's certificate file with a byte changed.
    tampered = tamper_file(d / "tess", str(tmp_path / "tampered"))
    return d, other, tampered


def own_certificate_refused(lab, ryre_bin, ns, iface, base, root, want):
    """`ryre node` started with a bad certificate of its own: exit code 2 and the reason."""
    p = lab.spawn("own:" + os.path.basename(str(base)), ns,
                  [ryre_bin, "node", "--json", "--interface", iface, "--cert", str(base),
                   "--trust", str(root)])
    rc = p.wait_exit(20)
    err = p.stderr_text()
    assert rc == 2, (rc, err)
    assert "own certificate" in err and want in err, err
    assert not p.of("STARTED"), p.describe()
    return next(l for l in err.splitlines() if "own certificate" in l).strip()


def warned(node, peer, reason, timeout):
    """Waits until node's stderr has a certificate refusal WARN for `peer` with `reason`."""
    want = ("WARN", "certificate refused: ", "peer=%s" % peer, "reason=%s" % reason)
    deadline = time.monotonic() + timeout
    while True:
        text = node.stderr_text(200000)
        for line in text.splitlines():
            if all(w in line for w in want):
                return line
        if time.monotonic() > deadline:
            raise AssertionError("%s: no WARN refusing %s for %s within %ss\n%s" % (
                node.label, peer, reason, timeout, node.describe()))
        time.sleep(0.1)  # polling a log file, bounded by the deadline


def test_refusals_and_revocation_spread(lab, ryre_bin, tmp_path, finding):
    hub = lab.netns("hub")
    names = ("a", "b", "f", "g", "c", "e", "x1", "x2", "x3", "x4", "ok")
    hosts = dict(zip(names, (lab.netns(x) for x in names)))
    net = lab.star(hub, list(hosts.values()), isolated=False)
    leaf = lambda h: net["leaves"][hosts[h]]  # noqa: E731
    d, other, tampered = make_pki(ryre_bin, tmp_path)
    root = d / "root.cert"

    # A node never starts with a certificate others would refuse.
    for base, want in ((d / "old", "expired at"), (d / "early", "is not valid before"),
                       (tampered, "does not verify (tampered or forged)"),
                       (d / "greedy", "grants rights its issuer does not have")):
        line = own_certificate_refused(lab, ryre_bin, hosts["x1"], leaf("x1")["if"], base, root, want)
        finding("own certificate refused at start: %s" % line)

    def node(h, name, *flags, trust=root):
        # str(): Proc.describe() joins the argv when it reports a failure.
        return start_ryre(lab, ryre_bin, hosts[h], leaf(h)["if"], name, "--cert",
                          str((other if trust != root else d) / name), "--trust", str(trust),
                          *[str(f) for f in flags])

    alice = node("a", "alice", "--join", "chat", "--revocations", tmp_path / "alice.revocations")
    good = [node(h, n, "--join", "chat") for h, n in (("b", "bob"), ("f", "frank"), ("g", "gina"))]
    carol = node("c", "carol", "--join", "chat")
    eve = node("e", "eve", "--join", "chat", trust=other / "other.cert")

    def raw(h, base, *flags):
        p = lab.spawn("cert-peer:" + os.path.basename(str(base)) + ("+tamper" if flags else ""),
                      hosts[h], [sys.executable, "-u", PEER, leaf(h)["addr"], "10.200.%d.255" % net["k"],
                                 str(base) + ".secret", str(base) + ".cert", "chat", "40"] + list(flags))
        p.uuid = p.expect("STARTED", 20, "STARTED line")["peer"]
        return p

    expired, early, tess, greedy = (raw("x1", d / "old"), raw("x2", d / "early"),
                                    raw("x3", d / "tess", "tamper"), raw("x4", d / "greedy"))
    control = raw("ok", d / "pyok")

    # Controls: the raw peer with a valid certificate, and the good ryre nodes, enter.
    alice.expect({"event": "ENTER", "peer": control.uuid}, ENTER_T, "ENTER of the valid raw peer",
                 others=[control])
    for g in good:
        alice.expect({"event": "ENTER", "peer": g.uuid}, ENTER_T, "ENTER of %s" % g.label, others=[g])
        for h in good:
            if h is not g:
                g.expect({"event": "ENTER", "peer": h.uuid}, ENTER_T, "ENTER of %s" % h.label, others=[h])

    # Each bad certificate refused, with its reason, naming the peer.
    cases = ((expired, "expired"), (early, "not-yet-valid"), (carol, "revoked"), (tess, "bad-signature"),
             (eve, "unknown-issuer"), (greedy, "wider-rights"))
    for p, reason in cases:
        line = warned(alice, p.uuid, reason, ENTER_T)
        finding("alice refused %s: %s" % (p.label, line.split("WARN", 1)[1].strip()))
    warns = [l for l in alice.stderr_text(200000).splitlines() if "certificate refused" in l]
    finding("alice's certificate WARN lines so far: %d for %d refused peers" % (len(warns), len(cases)))
    counts = security(alice)["certificates_refused"]
    for _, reason in cases:
        assert counts.get(reason, 0) >= 1, counts
    assert set(counts) == {r for _, r in cases}, counts

    since = [len(x.snapshot()) for x in good]
    alice.send("shout chat members-only")
    for g, s in zip(good, since):
        g.expect({"event": "SHOUT", "peer": alice.uuid, "content": "members-only"}, MSG_T,
                 "the shout", since=s)
    no_event(alice, "SHOUT", 0.5, content="shout-from-old")
    for p, _ in cases:
        assert not alice.of("ENTER", peer=p.uuid), alice.of("ENTER", peer=p.uuid)
        assert not alice.of("WHISPER", peer=p.uuid) and not alice.of("SHOUT", peer=p.uuid)
        assert not p.of("SHOUT", peer=alice.uuid), (p.label, p.of("SHOUT", peer=alice.uuid))
    # What the refused raw peers read from alice: her HELLO (presence), naming no group, and no
    # JOIN (a certified node tells a peer its groups only once admitted).
    hellos = [e for p in (expired, early, tess, greedy) for e in p.of("HELLO", peer=alice.uuid)]
    assert hellos, "no refused raw peer got alice's HELLO: the check below would be vacuous"
    assert all(not e["groups"] for e in hellos), [e["groups"] for e in hellos]
    for p in (expired, early, tess, greedy):
        assert not p.of("JOIN", peer=alice.uuid), (p.label, p.of("JOIN", peer=alice.uuid))

    # Revocation spread: bob revoked, the list handed to alice only.
    bob, others = good[0], good[1:]
    cert(ryre_bin, "revoke", "--ca", d / "root", d / "bob.cert", "--out", tmp_path / "bob.revocations")
    marks = [len(x.snapshot()) for x in [alice] + others]
    t0 = time.monotonic()
    alice.send("revoke %s" % (tmp_path / "bob.revocations"))
    times = []
    for x, s in zip([alice] + others, marks):
        ev = x.expect({"event": "EXIT", "peer": bob.uuid, "reason": "revoked"}, ENTER_T,
                      "%s drops bob" % x.label, since=s, others=[bob])
        times.append(x.started_at + ev["_t"] - t0)
    finding("revocation handed to alice reached all %d nodes in %.0f ms (slowest)" % (
        len(times), max(times) * 1e3))
    for x in [alice] + good + [carol, eve]:
        x.stop()
