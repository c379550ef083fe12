"""Secure mode (issue 19) attacked over real processes in network namespaces.

Three hosts share one LAN segment (a bridge in a hub namespace): A and B run secure ryre nodes,
M is Mallory, who runs the tools in secure_tools.py (raw UDP, raw TCP, pyzmq CURVE, PyNaCl). Every
attack must be refused and counted (the node's `security` line), legitimate traffic between A
and B must go on, and nothing may crash. "Receives nothing" is checked on the wire: what a
plain ZMTP client or a TCP listener of Mallory's actually gets.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from test_pyre import ENTER_T, GROUP, MSG_T, start_ryre

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "secure_tools.py")
BEACON_PORT = 5670


def keys_new(ryre_bin, path, name):
    subprocess.run([ryre_bin, "keys", "new", str(path), "--name", name], check=True,
                   stdout=subprocess.DEVNULL, timeout=30)
    shown = subprocess.run([ryre_bin, "keys", "show", str(path), "--json"], check=True,
                           capture_output=True, timeout=30)
    return json.loads(shown.stdout)["public_key"]


def trusting_pair(ryre_bin, tmp_path):
    """Key directories for A and B, each trusting the other."""
    da, db = tmp_path / "a", tmp_path / "b"
    ka, kb = keys_new(ryre_bin, da, "a"), keys_new(ryre_bin, db, "b")
    for mine, theirs in ((da, db), (db, da)):
        subprocess.run([ryre_bin, "keys", "allow", str(mine), str(theirs / "node.pub")],
                       check=True, stdout=subprocess.DEVNULL, timeout=30)
    return (da, ka), (db, kb)


def lan(lab):
    hub, a, b, m = lab.netns("hub"), lab.netns("a"), lab.netns("b"), lab.netns("m")
    net = lab.star(hub, [a, b, m], isolated=False)
    return net, a, b, m


def tool(lab, ns, *args, label="mallory"):
    return lab.spawn(label, ns, [sys.executable, TOOLS] + [str(x) for x in args])


def security(node):
    """The node's refusal counters, now."""
    since = len(node.snapshot())
    node.send("security")
    return node.expect("SECURITY", MSG_T, "SECURITY line", since=since)


def talk(a, b, text):
    """a whispers b; retried while b re-greets a (a hijacked routing id makes them re-HELLO)."""
    deadline = time.monotonic() + MSG_T * 2
    while True:
        since = len(b.snapshot())
        a.send("whisper %s %s" % (b.uuid, text))
        try:
            return b.expect({"event": "WHISPER", "peer": a.uuid, "content": text}, 3,
                            "WHISPER %r" % text, since=since, others=[a])
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def no_event(node, what, seconds, since=0, **fields):
    time.sleep(seconds)  # a bounded observation window, not synchronisation
    seen = [e for e in node.snapshot()[since:]
            if e.get("event") == what and all(e.get(k) == v for k, v in fields.items())]
    assert not seen, "%s got %s: %s" % (node.label, what, seen)


def secure_pair(lab, ryre_bin, tmp_path, net, a_ns, b_ns, trust="keys"):
    (da, ka), (db, kb) = trusting_pair(ryre_bin, tmp_path)
    mode = lambda d: ["--curve-keys", str(d)] + (["--tofu"] if trust == "tofu" else [])  # noqa: E731
    a = start_ryre(lab, ryre_bin, a_ns, net["leaves"][a_ns]["if"], "a", "--join", GROUP, "--echo", *mode(da))
    b = start_ryre(lab, ryre_bin, b_ns, net["leaves"][b_ns]["if"], "b", "--join", GROUP, "--echo", *mode(db))
    assert a.snapshot()[0]["public_key"] == ka and b.snapshot()[0]["public_key"] == kb
    ea = b.expect({"event": "ENTER", "peer": a.uuid}, ENTER_T, "ENTER of a", others=[a])
    eb = a.expect({"event": "ENTER", "peer": b.uuid}, ENTER_T, "ENTER of b", others=[b])
    # Zyre's secure HELLO header: the sender's key in Z85.
    assert ea["headers"]["X-PUBLICKEY"] == ka, ea
    assert eb["headers"]["X-PUBLICKEY"] == kb, eb
    a.expect({"event": "JOIN", "peer": b.uuid, "group": GROUP}, ENTER_T, "JOIN of b", others=[b])
    return a, b


def test_beacons_on_the_wire_are_zyre_v3_plus_signed(lab, ryre_bin, tmp_path):
    net, a_ns, b_ns, m_ns = lan(lab)
    (da, ka), _ = trusting_pair(ryre_bin, tmp_path)
    sniff = tool(lab, m_ns, "sniff", BEACON_PORT, 3)
    sniff.expect("STARTED", 10)
    a = start_ryre(lab, ryre_bin, a_ns, net["leaves"][a_ns]["if"], "a", "--curve-keys", str(da))
    sniff.expect("DONE", 20)
    grams = [bytes.fromhex(e["hex"]) for e in sniff.of("DATAGRAM")
             if e["src"] == net["leaves"][a_ns]["addr"]]
    v3 = [g for g in grams if len(g) == 54]
    signed = [g for g in grams if len(g) == 126]
    assert v3 and signed, "A sent %s" % [len(g) for g in grams]
    assert not [g for g in grams if len(g) == 22], "a secure node sends no v1 beacon"
    import zmq.utils.z85 as z85
    for g in v3:
        assert g[:4] == b"ZRE\x03", g
        assert g[4:20].hex().upper() == a.uuid
        assert g[22:54] == z85.decode(ka.encode()), "the v3 beacon carries A's CURVE key"
        assert g[22] != 0, "never a key whose first byte is 0 (Zyre drops those)"
    for g in signed:
        assert g[:4] == b"RYB\x01" and g[4:20].hex().upper() == a.uuid
    counters = [int.from_bytes(g[22:30], "big") for g in signed]
    assert counters == sorted(counters) and len(set(counters)) == len(counters), counters
    a.stop()


def test_a_plain_node_gets_nothing_and_a_downgrade_is_refused(lab, ryre_bin, tmp_path):
    net, a_ns, b_ns, m_ns = lan(lab)
    a, b = secure_pair(lab, ryre_bin, tmp_path, net, a_ns, b_ns)
    # A plain ryre node on Mallory's host: it hears v3/signed beacons it cannot use.
    plain = start_ryre(lab, ryre_bin, m_ns, net["leaves"][m_ns]["if"], "plain", "--join", GROUP)
    # Mallory's TCP listener announced by v1 (downgrade) beacons, one for a fresh UUID and one
    # claiming B's: no secure node may connect to it.
    listener = tool(lab, m_ns, "listen", 4, label="listener")
    port = listener.expect("LISTENING", 10)["port"]
    bcast = "10.200.%d.255" % net["k"]
    fresh = os.urandom(16).hex()
    grams = [(b"ZRE\x01" + bytes.fromhex(u) + port.to_bytes(2, "big")).hex()
             for u in (fresh, b.uuid)]
    for _ in range(3):
        tool(lab, m_ns, "send", bcast, BEACON_PORT, *grams, label="v1").expect("SENT", 10)
    # On the wire: a plain ZMTP client at A's inbox gets at most A's greeting (libzmq stops
    # after the 10-byte signature once it reads our NULL mechanism) and nothing more: no ZRE
    # frame (signature AA A1) ever reaches it.
    host, inbox_port = a.snapshot()[0]["endpoint"][len("tcp://"):].rsplit(":", 1)
    probe = tool(lab, m_ns, "probe", host, inbox_port, 2, label="probe")
    got = probe.expect("PROBE", 15)
    assert got["mechanism"] in ("", "CURVE"), got
    assert got["received"] <= 64, "a plain client got more than the greeting: %s" % got
    assert "aaa1" not in got["hex"], got
    listener.expect("DONE", 15)
    secure_addrs = {net["leaves"][a_ns]["addr"], net["leaves"][b_ns]["addr"]}
    # (The plain node on Mallory's host does connect: it is an open ZRE node.)
    from_secure = [e for e in listener.of("ACCEPTED") if e["src"] in secure_addrs]
    assert not from_secure, "a secure node connected to a downgrade beacon's endpoint: %s" % from_secure
    assert plain.count("ENTER") == 0, plain.describe()
    assert a.count("ENTER", peer=plain.uuid) == 0 and b.count("ENTER", peer=plain.uuid) == 0
    assert security(a)["refused"] > 0
    talk(a, b, "still-talking")
    talk(b, a, "both-ways")
    for p in (plain, a, b):
        assert p.stop() == 0


def test_forged_and_replayed_leaving_beacons_are_refused(lab, ryre_bin, tmp_path):
    net, a_ns, b_ns, m_ns = lan(lab)
    sniff = tool(lab, m_ns, "sniff", BEACON_PORT, 4, label="sniff")
    sniff.expect("STARTED", 10)
    a, b = secure_pair(lab, ryre_bin, tmp_path, net, a_ns, b_ns)
    sniff.expect("DONE", 20)
    b_addr = net["leaves"][b_ns]["addr"]
    heard = [bytes.fromhex(e["hex"]) for e in sniff.of("DATAGRAM") if e["src"] == b_addr]
    b_v3 = [g for g in heard if len(g) == 54 and g[4:20].hex().upper() == b.uuid]
    b_signed = [g for g in heard if len(g) == 126 and g[4:20].hex().upper() == b.uuid]
    assert b_v3 and b_signed, [len(g) for g in heard]
    before = security(a)["refused"]
    since = len(a.snapshot())
    uuid = bytes.fromhex(b.uuid)
    attacks = [
        b"ZRE\x01" + uuid + b"\x00\x00",                       # v1 leaving: a downgrade
        b_v3[0][:20] + b"\x00\x00" + b_v3[0][22:],             # v3 leaving with B's own key
        b_signed[0],                                           # B's signed beacon, replayed
        b_signed[0][:20] + b"\x00\x00" + b_signed[0][22:],     # ... as a leaving one: forged
    ]
    bcast = "10.200.%d.255" % net["k"]
    tool(lab, m_ns, "send", bcast, BEACON_PORT, *[g.hex() for g in attacks], label="forge").expect("SENT", 10)
    # A leaving beacon for B signed by Mallory's own key.
    tool(lab, m_ns, "signed-leave", b.uuid, bcast, BEACON_PORT, label="sign").expect("SENT", 10)
    no_event(a, "EXIT", 2.0, since=since, peer=b.uuid)
    after = security(a)["refused"]
    assert after - before >= 5, "A counted %d refusals for 5 attacks" % (after - before)
    talk(a, b, "after-the-forgeries")
    talk(b, a, "and-back")
    for p in (a, b):
        assert p.stop() == 0


def test_a_peer_claiming_another_uuid_with_its_own_key_is_refused(lab, ryre_bin, tmp_path):
    net, a_ns, b_ns, m_ns = lan(lab)
    # Trust on first use: A's ZAP handler lets Mallory's key in, so the heart must catch her.
    a, b = secure_pair(lab, ryre_bin, tmp_path, net, a_ns, b_ns, trust="tofu")
    before = security(a)["refused"]
    since = len(a.snapshot())
    ka = a.snapshot()[0]["public_key"]
    imp = tool(lab, m_ns, "impersonate", a.snapshot()[0]["endpoint"], ka, b.uuid, 30, label="imp")
    imp.expect("SENT", 20)
    assert not a.of("WHISPER", content="forged"), "a forged whisper was delivered"
    assert security(a)["refused"] - before >= 1
    # A v3 beacon claiming B's UUID with Mallory's key does not rebind it.
    import zmq
    import zmq.utils.z85 as z85
    mal_pub, _ = zmq.curve_keypair()
    g = b"ZRE\x03" + bytes.fromhex(b.uuid) + (5000).to_bytes(2, "big") + z85.decode(mal_pub)
    bcast = "10.200.%d.255" % net["k"]
    tool(lab, m_ns, "send", bcast, BEACON_PORT, g.hex(), label="rebind").expect("SENT", 10)
    talk(b, a, "the-real-b")
    talk(a, b, "to-the-real-b")
    assert not [e for e in a.snapshot()[since:] if e.get("event") == "WHISPER" and e.get("content") == "forged"]
    for p in (a, b):
        assert p.stop() == 0


def test_a_forged_register_to_the_agent_is_refused(lab, ryre_bin, tmp_path):
    net, a_ns, b_ns, m_ns = lan(lab)
    a, b = secure_pair(lab, ryre_bin, tmp_path, net, a_ns, b_ns)
    # Mallory runs a process on A's host: A's node is that host's agent (auto discovery).
    reply = tool(lab, a_ns, "register", "127.0.0.1", BEACON_PORT, label="register").expect("REPLY", 15)
    assert reply["kind"] == 7 and reply["code"] == 6, "agent answered %s, not Error Forged" % reply
    no_event(a, "ENTER", 0.5, peer=reply["uuid"])
    talk(a, b, "agent-still-fine")
    for p in (a, b):
        assert p.stop() == 0


def test_a_peer_in_zyre_secure_mode_meets_a_ryre_secure_node(lab, ryre_bin, tmp_path):
    """C Zyre is not packaged for Debian (and CI builds no other project's source), so the foreign
    peer is secure_tools.py's `zyre-peer`: C Zyre's secure mode as zyre_node.c behaves, over
    pyzmq's libzmq: 54-byte v3 beacons with its key, a CURVE ROUTER inbox (ZAP domain "global"),
    a CURVE DEALER to the key from our beacon, HELLO with X-PUBLICKEY, ZRE v2 frames."""
    net, a_ns, b_ns, m_ns = lan(lab)
    a = start_ryre(lab, ryre_bin, a_ns, net["leaves"][a_ns]["if"], "a", "--join", GROUP, "--echo",
                   "--tofu")
    ka = a.snapshot()[0]["public_key"]
    bcast = "10.200.%d.255" % net["k"]
    z = tool(lab, m_ns, "zyre-peer", net["leaves"][m_ns]["addr"], bcast, GROUP, 8, label="zyre")
    zs = z.expect("STARTED", 10)
    z.uuid = zs["peer"]
    # ryre sees the Zyre-style peer: ENTER with its key, its group, its whisper and shout.
    enter = a.expect({"event": "ENTER", "peer": z.uuid}, ENTER_T, "ENTER of the zyre peer", others=[z])
    assert enter["headers"]["X-PUBLICKEY"] == zs["public_key"], enter
    a.expect({"event": "JOIN", "peer": z.uuid, "group": GROUP}, MSG_T, "JOIN", others=[z])
    a.expect({"event": "WHISPER", "peer": z.uuid, "content": "whisper-from-zyre"}, MSG_T, "WHISPER", others=[z])
    a.expect({"event": "SHOUT", "peer": z.uuid, "content": "shout-from-zyre"}, MSG_T, "SHOUT", others=[z])
    # The Zyre-style peer heard our v3 beacon with our key, and got our HELLO (v2 frame, sequence 1,
    # X-PUBLICKEY = that key) and the echoes, over CURVE.
    beacon = z.expect({"event": "BEACON", "peer": a.uuid}, MSG_T, "A's v3 beacon", others=[a])
    assert beacon["key"] == ka, beacon
    hello = z.expect("HELLO", MSG_T, "A's HELLO", others=[a])
    assert hello["signature"] == "aaa1" and hello["version"] == 2 and hello["sequence"] == 1, hello
    assert hello["headers"]["X-PUBLICKEY"] == ka, hello
    assert GROUP in hello["groups"], hello
    z.expect({"event": "WHISPER", "content": "ECHO whisper-from-zyre"}, MSG_T, "echoed whisper", others=[a])
    z.expect({"event": "WHISPER", "content": "ECHO shout-from-zyre"}, MSG_T, "echoed shout", others=[a])
    z.expect("DONE", 20)
    assert a.stop() == 0


def test_key_files_are_czmq_certificates(ryre_bin, tmp_path):
    """CZMQ itself (libczmq4 from Debian, through ctypes) loads ryre's key pair file with
    zcert_load and finds the same keys; a certificate CZMQ saves is a peer file ryre trusts."""
    import ctypes
    try:
        cz = ctypes.CDLL("libczmq.so.4")
    except OSError as e:
        pytest.skip("libczmq4 not installed (scripts/setup.sh installs it): %s" % e)
    cz.zcert_load.restype = ctypes.c_void_p
    cz.zcert_load.argtypes = [ctypes.c_char_p]
    cz.zcert_public_txt.restype = ctypes.c_char_p
    cz.zcert_public_txt.argtypes = [ctypes.c_void_p]
    cz.zcert_secret_txt.restype = ctypes.c_char_p
    cz.zcert_secret_txt.argtypes = [ctypes.c_void_p]
    cz.zcert_new.restype = ctypes.c_void_p
    cz.zcert_set_meta.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    cz.zcert_save_public.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    cz.zcert_save_public.restype = ctypes.c_int
    cz.zcert_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    d = tmp_path / "node"
    public = keys_new(ryre_bin, d, "laptop")
    cert = cz.zcert_load(str(d / "node.secret").encode())
    assert cert, "zcert_load refused ryre's node.secret"
    assert cz.zcert_public_txt(cert).decode() == public
    import zmq
    secret = cz.zcert_secret_txt(cert).decode()
    assert zmq.curve_public(secret.encode()).decode() == public, "secret-key is not the key pair's"
    p = ctypes.c_void_p(cert)
    cz.zcert_destroy(ctypes.byref(p))
    # A certificate made by CZMQ, saved as a public file, dropped into peers/ by `ryre keys allow`.
    theirs = cz.zcert_new()
    cz.zcert_set_meta(theirs, b"name", b"zyre-robot")
    their_file = tmp_path / "robot.pub"
    assert cz.zcert_save_public(theirs, str(their_file).encode()) == 0
    their_public = cz.zcert_public_txt(theirs).decode()
    p = ctypes.c_void_p(theirs)
    cz.zcert_destroy(ctypes.byref(p))
    subprocess.run([ryre_bin, "keys", "allow", str(d), str(their_file)], check=True,
                   stdout=subprocess.DEVNULL, timeout=30)
    shown = json.loads(subprocess.run([ryre_bin, "keys", "show", str(d), "--json"], check=True,
                                      capture_output=True, timeout=30).stdout)
    assert [(p["name"], p["public_key"]) for p in shown["peers"]] == [("zyre-robot", their_public)], shown
