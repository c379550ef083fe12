"""Certified mode from Python: certificates made with the `ryre cert` CLI (an offline CA),
rights enforced, an uncertified node kept out, a revocation handed to a running node."""

import os
import subprocess

import pytest

import ryre
from conftest import REPO, wait_event


def ryre_cli():
    """The `ryre` binary of this checkout (built once when missing)."""
    path = os.environ.get("RYRE_BIN", os.path.join(REPO, "target", "debug", "ryre"))
    if not os.path.exists(path):
        subprocess.run(["cargo", "build", "-q", "-p", "ryre-cli"], cwd=REPO, check=True,
                       timeout=1200)
    return path


def cert(*args):
    subprocess.run([ryre_cli(), "cert"] + [str(a) for a in args], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    cert("ca", "root", "--out", d)
    cert("issue", "--ca", d / "root", "--name", "alice", "--group", "secret=all",
         "--group", "chat=all", "--days", 1, "--out", d)
    cert("issue", "--ca", d / "root", "--name", "bob", "--group", "chat=join,shout",
         "--days", 1, "--out", d)
    return d


def certified(nodes, d, name, **kw):
    return nodes(name, cert=d / name, trust=d / "root.cert", **kw)


def test_certified_nodes_meet_with_rights(nodes, pki):
    a = certified(nodes, pki, "alice")
    b = certified(nodes, pki, "bob")
    assert a.is_certified and b.is_certified
    wait_event(a, lambda e: e.type == "ENTER" and e.peer == b.uuid, what="ENTER of bob")
    wait_event(b, lambda e: e.type == "ENTER" and e.peer == a.uuid, what="ENTER of alice")
    a.join("secret")
    a.join("chat")
    b.join("chat")
    with pytest.raises(ryre.NotEntitledError):
        b.join("secret")
    with pytest.raises(ryre.NotEntitledError):
        b.whisper(a.uuid, b"no whisper right")
    wait_event(a, lambda e: e.type == "JOIN" and e.peer == b.uuid and e.group == "chat",
               what="bob joins chat")
    wait_event(b, lambda e: e.type == "JOIN" and e.peer == a.uuid and e.group == "chat",
               what="alice joins chat")
    a.shout("secret", b"members only")
    a.shout("chat", b"for everyone")
    got = wait_event(b, lambda e: e.type == "SHOUT", what="a shout")
    # Bob has no right in secret: he neither hears of alice's membership nor gets its shouts.
    assert got.group == "chat" and got.content == [b"for everyone"], got
    assert "secret" not in b.peer_groups()
    # A revocation of bob, handed to alice while she runs: she drops him.
    cert("revoke", "--ca", pki / "root", pki / "bob.cert", "--out", pki / "bob.revocations")
    a.add_revocations(pki / "bob.revocations")
    ev = wait_event(a, lambda e: e.type == "EXIT" and e.peer == b.uuid, what="EXIT of bob")
    assert ev.reason == "revoked"


def test_an_uncertified_node_never_enters(nodes, pki):
    a = certified(nodes, pki, "alice")
    a.join("chat")
    plain = nodes("plain")
    # Meanwhile alice and bob meet and bob learns alice's group: the window in which plain
    # could have entered or learnt it has passed.
    b = certified(nodes, pki, "bob")
    wait_event(a, lambda e: e.type == "ENTER" and e.peer == b.uuid, what="ENTER of bob")
    wait_event(b, lambda e: e.type == "JOIN" and e.peer == a.uuid and e.group == "chat",
               what="alice's JOIN chat")
    assert plain.uuid not in a.peers()
    # (plain may see alice's presence: a node of this process gets her HELLO, as a node that
    # connects does; never her groups.)
    assert "chat" not in plain.peer_groups()
    assert not [e for e in iter(plain.try_recv, None) if e.type == "JOIN"]


def test_bad_certified_settings(nodes, pki, tmp_path):
    with pytest.raises(ryre.CertificateError):
        nodes("x", cert=tmp_path / "missing", trust=pki / "root.cert")
    tampered = tmp_path / "t"
    tampered.mkdir()
    for ext in ("cert", "secret"):
        data = (pki / ("bob." + ext)).read_bytes()
        (tampered / ("bob." + ext)).write_bytes(data)
    os.chmod(tampered / "bob.secret", 0o600)
    text = (tampered / "bob.cert").read_text().splitlines()
    # Change one character of the armored certificate's body.
    body = [k for k, line in enumerate(text) if line and not line.startswith("#")
            and not line.startswith("-----")]
    i = body[1]
    line = text[i]
    text[i] = line[:4] + ("A" if line[4] != "A" else "B") + line[5:]
    (tampered / "bob.cert").write_text("\n".join(text) + "\n")
    with pytest.raises(ryre.CertificateError):
        nodes("x", cert=tampered / "bob", trust=pki / "root.cert")
    with pytest.raises(ryre.ConfigError, match="needs trust"):
        nodes("x", cert=pki / "bob")
    with pytest.raises(ryre.ConfigError, match="give cert"):
        nodes("x", trust=pki / "root.cert")
    with pytest.raises(TypeError):
        nodes("x", cert=pki / "bob", trust=42)
    plain = nodes("plain")
    assert not plain.is_certified
    with pytest.raises(ryre.ConfigError):
        plain.add_revocations(pki / "none.revocations")
