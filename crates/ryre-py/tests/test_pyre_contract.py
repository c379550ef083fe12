"""The Pyre contract (pyre.Pyre / pyre.PyreEvent of Pyre 0.3.4, as documented and as its
code behaves) against ryre.pyre, on loopback."""

import json
import time
import uuid

import pytest
import zmq

import ryre
from ryre.pyre import Pyre, PyreEvent

WAIT = 10.0


def recv_frames(node, pred, timeout=WAIT, what="event"):
    """Frames from node.recv() until pred(frames); polls socket() with zmq.Poller, as Pyre
    applications do, and fails after `timeout`."""
    poller = zmq.Poller()
    poller.register(node.socket(), zmq.POLLIN)
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %s within %.0f s; got %r" % (what, timeout, seen))
        items = dict(poller.poll(int(left * 1000) + 1))
        if node.socket() in items and items[node.socket()] == zmq.POLLIN:
            frames = node.recv()
            if pred(frames):
                return frames
            seen.append(frames)


@pytest.fixture
def pyres():
    port = ryre.private_port()
    made = []

    def make(name, headers=None, groups=()):
        n = Pyre(name, ctx=zmq.Context.instance())
        n.set_interface("lo")
        n.set_port(str(port).encode())
        for k, v in (headers or {}).items():
            n.set_header(k, v)
        for g in groups:
            n.join(g)
        made.append(n)
        return n

    yield make
    for n in made:
        n.stop()


def test_before_start(pyres):
    n = pyres("early", groups=["g"])
    assert bool(n) is True
    assert n.name() == "early"
    assert n.own_groups() == ["g"]
    assert n.peers() == [] and n.peer_groups() == [] and n.peers_by_group("g") == []
    assert n.peer_address(uuid.uuid4()) == ""
    n.whisper(uuid.uuid4(), b"dropped")  # nowhere to go, no error (as Pyre)
    with pytest.raises(RuntimeError, match="start"):
        n.uuid()
    assert Pyre.version() == (0, 3, 4)


def test_enter_join_shout_whisper_leave_exit_frames(pyres):
    a = pyres("alice", headers={"X-HELLO": "World", "role": "a"}, groups=["CHAT"])
    b = pyres("bob", groups=["CHAT"])
    assert a.start() == 0 and b.start() == 0
    assert isinstance(a.uuid(), uuid.UUID) and a.name() == "alice"
    assert a.endpoint().startswith("tcp://127.0.0.1:")

    # ENTER: type, 16-byte uuid, name, JSON headers, endpoint
    f = recv_frames(b, lambda f: f[0] == b"ENTER", what="ENTER")
    assert len(f) == 5
    assert f[1] == a.uuid().bytes and f[2] == b"alice"
    assert json.loads(f[3]) == {"X-HELLO": "World", "role": "a"}
    assert f[4] == a.endpoint().encode()
    # JOIN: type, uuid, name, group
    f = recv_frames(b, lambda f: f[0] == b"JOIN", what="JOIN")
    assert f == [b"JOIN", a.uuid().bytes, b"alice", b"CHAT"]
    recv_frames(a, lambda f: f[0] == b"JOIN", what="JOIN at a")

    # queries
    assert b.peers() == [a.uuid()] and all(isinstance(p, uuid.UUID) for p in b.peers())
    assert b.peers_by_group("CHAT") == [a.uuid()]
    assert b.peer_groups() == ["CHAT"]
    assert b.own_groups() == ["CHAT"]
    assert b.peer_address(a.uuid()) == a.endpoint()
    assert b.peer_address(uuid.uuid4()) == ""
    assert b.peer_header_value(a.uuid(), "X-HELLO") == "World"
    assert b.peer_header_value(a.uuid(), "missing") is None
    assert b.peer_header_value(uuid.uuid4(), "X-HELLO") == ""
    assert b.peer_headers(a.uuid()) == {"X-HELLO": "World", "role": "a"}
    assert b.peer_headers(uuid.uuid4()) == ""
    assert b.get_peer_name(a.uuid()) == "alice"

    # SHOUT: type, uuid, name, group, content...
    a.shout("CHAT", [b"m1", b"m2"])
    f = recv_frames(b, lambda f: f[0] == b"SHOUT", what="SHOUT")
    assert f == [b"SHOUT", a.uuid().bytes, b"alice", b"CHAT", b"m1", b"m2"]
    a.shouts("CHAT", "hello %s", "world")
    f = recv_frames(b, lambda f: f[0] == b"SHOUT", what="SHOUT")
    assert f[4:] == [b"hello world"]
    # WHISPER: type, uuid, name, content...
    b.whisper(a.uuid(), b"w1")
    f = recv_frames(a, lambda f: f[0] == b"WHISPER", what="WHISPER")
    assert f == [b"WHISPER", b.uuid().bytes, b"bob", b"w1"]
    b.whispers(a.uuid(), "plain")
    f = recv_frames(a, lambda f: f[0] == b"WHISPER", what="WHISPER")
    assert f[3:] == [b"plain"]
    b.whisper(uuid.uuid4(), b"to nobody")  # dropped, as Pyre does

    # LEAVE, then EXIT and our STOP
    a.leave("CHAT")
    f = recv_frames(b, lambda f: f[0] == b"LEAVE", what="LEAVE")
    assert f == [b"LEAVE", a.uuid().bytes, b"alice", b"CHAT"]
    assert a.own_groups() == []
    a.stop()
    f = recv_frames(b, lambda f: f[0] == b"EXIT", what="EXIT")
    assert f == [b"EXIT", a.uuid().bytes, b"alice"]
    f = recv_frames(a, lambda f: f[0] == b"STOP", what="STOP")
    assert f == [b"STOP", a.uuid().bytes, b"alice"]


def test_join_leave_order_and_pyre_event(pyres):
    a = pyres("alice")
    b = pyres("bob", groups=["g1"])
    a.start()
    b.start()
    recv_frames(b, lambda f: f[0] == b"ENTER", what="ENTER")
    recv_frames(a, lambda f: f[0] == b"JOIN", what="JOIN of bob")
    for g in ["g1", "g2", "g3"]:
        a.join(g)
    a.leave("g2")
    a.join("g2")
    order = []
    while len(order) < 5:
        f = recv_frames(b, lambda f: f[0] in (b"JOIN", b"LEAVE"), what="JOIN/LEAVE")
        order.append((f[0], f[3]))
    assert order == [(b"JOIN", b"g1"), (b"JOIN", b"g2"), (b"JOIN", b"g3"), (b"LEAVE", b"g2"), (b"JOIN", b"g2")]
    assert sorted(a.own_groups()) == ["g1", "g2", "g3"]

    # PyreEvent parses every event type from the same frames
    a.whisper(b.uuid(), [b"x", b"y"])
    poller = zmq.Poller()
    poller.register(b.socket(), zmq.POLLIN)
    assert poller.poll(int(WAIT * 1000))
    ev = PyreEvent(b)
    assert ev.type == "WHISPER" and ev.peer_uuid == a.uuid() and ev.peer_name == "alice"
    assert ev.msg == [b"x", b"y"] and ev.group is None and ev.header("any") is None
    assert "WHISPER" in str(ev)
    a.shout("g1", b"s")
    ev = next(e for e in b.events() if e.type == "SHOUT")
    assert ev.group == "g1" and ev.msg == [b"s"]
    assert list(b.recent_events()) == []


def test_enter_json_is_what_pyre_sends(pyres):
    # Pyre writes the headers with pyzmq's send_json, i.e. json.dumps(dict): ", " and ": ",
    # non-ASCII as \\uXXXX; ryre.pyre writes the same bytes (names sorted).
    headers = {"b": 'quote " back \\ nl \n tab \t', "a": "é ü 😀 \u0001", "z": ""}
    a = pyres("alice", headers=headers)
    b = pyres("bob")
    a.start()
    b.start()
    f = recv_frames(b, lambda f: f[0] == b"ENTER", what="ENTER")
    assert f[3] == json.dumps(dict(sorted(headers.items()))).encode()
    assert json.loads(f[3]) == headers


def test_enter_event_headers(pyres):
    a = pyres("alice", headers={"k": "v"})
    b = pyres("bob")
    a.start()
    b.start()
    ev = next(e for e in b.events() if e.type == "ENTER")
    assert ev.headers == {"k": "v"} and ev.header("k") == "v"
    assert ev.peer_addr == a.endpoint() and ev.peer_uuid == a.uuid()


def test_bad_input(pyres):
    n = pyres("bad")
    with pytest.raises(ValueError, match="port"):
        n.set_port(b"eighty")
    with pytest.raises(ValueError, match="port"):
        n.set_port(b"70000")
    with pytest.raises(ValueError, match="milliseconds"):
        n.set_interval("soon")
    with pytest.raises(ryre.TooLongError):
        n.join("g" * 300)
    n.start()
    with pytest.raises(ryre.TooLongError):
        n.shout("g" * 300, b"x")
    with pytest.raises(TypeError):
        n.shout("g", 42)
