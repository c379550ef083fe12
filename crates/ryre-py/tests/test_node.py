"""The native API, ryre.Node: every call, every event type, errors, GIL, Ctrl-C, asyncio."""

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

import ryre
from conftest import WAIT, wait_event


def test_start_properties(nodes):
    n = nodes("carol", headers={"k": "v"})
    assert isinstance(n.uuid, uuid.UUID)
    assert n.name == "carol"
    assert n.endpoint.startswith("tcp://127.0.0.1:")
    assert n.interface == "lo"
    assert n.discovery == "auto"
    assert isinstance(n.is_agent, bool)
    assert "carol" in repr(n)
    assert n.own_groups() == []


def test_default_name_comes_from_the_id(nodes):
    n = nodes()
    assert n.name == n.uuid.hex.upper()[:6]


def test_enter_carries_name_headers_endpoint(nodes):
    a = nodes("alice")
    b = nodes("bob", headers={"role": "right", "ü": "ß"})
    ev = wait_event(a, lambda e: e.type == "ENTER", what="ENTER")
    assert ev.peer == b.uuid and ev.peer_bytes == b.uuid.bytes
    assert ev.name == "bob"
    assert ev.headers == {"role": "right", "ü": "ß"}
    assert ev.endpoint == b.endpoint
    assert ev.group is None and ev.content is None and ev.reason is None
    assert "ENTER" in repr(ev)


def test_join_leave_shout_and_queries(pair):
    a, b = pair
    a.join("g1")
    a.join("g2")
    assert sorted(a.own_groups()) == ["g1", "g2"]
    ev = wait_event(b, lambda e: e.type == "JOIN" and e.group == "g2", what="JOIN g2")
    assert ev.peer == a.uuid and ev.name == "alice"
    assert sorted(b.peer_groups()) == ["g1", "g2"]
    assert b.peers_by_group("g1") == [a.uuid]
    assert b.peers() == [a.uuid]
    assert b.peer_address(a.uuid) == a.endpoint
    assert b.peer_name(a.uuid) == "alice"
    assert b.peer_header_value(a.uuid, "role") == "left"
    assert b.peer_header_value(a.uuid, "nope") is None
    assert b.peer_headers(a.uuid) == {"role": "left", "x": "1"}

    b.shout("g1", [b"one", bytearray(b"two"), memoryview(b"three"), "four"])
    ev = wait_event(a, lambda e: e.type == "SHOUT", what="SHOUT")
    assert (ev.peer, ev.name, ev.group) == (b.uuid, "bob", "g1")
    assert ev.content == [b"one", b"two", b"three", b"four"]

    a.leave("g1")
    ev = wait_event(b, lambda e: e.type == "LEAVE", what="LEAVE")
    assert (ev.peer, ev.group) == (a.uuid, "g1")
    assert a.own_groups() == ["g2"]
    assert b.peers_by_group("g1") == []


def test_whisper_forms_of_peer_and_content(pair):
    a, b = pair
    b.whisper(a.uuid, b"raw")
    b.whisper(a.uuid.bytes, (b"a", b"b"))
    b.whisper(a.uuid.hex, "text")
    b.whisper(str(a.uuid), [b""])
    got = [wait_event(a, lambda e: e.type == "WHISPER", what="WHISPER").content for _ in range(4)]
    assert got == [[b"raw"], [b"a", b"b"], [b"text"], [b""]]


def test_big_and_many_frames(pair):
    a, b = pair
    big = os.urandom(1 << 20)
    b.whisper(a.uuid, [big, b"x" * 300, b""])
    ev = wait_event(a, lambda e: e.type == "WHISPER", what="WHISPER")
    assert ev.content == [big, b"x" * 300, b""]


def test_exit_with_reason_and_stop_event(pair):
    a, b = pair
    b.stop()
    ev = wait_event(a, lambda e: e.type == "EXIT", what="EXIT")
    assert ev.peer == b.uuid and ev.name == "bob" and ev.reason in ("leaving", "goodbye", "lost")
    # bob's own last event is STOP, then the node reports it has stopped
    ev = wait_event(b, lambda e: e.type == "STOP", what="STOP")
    assert ev.peer == b.uuid and ev.name == "bob"
    with pytest.raises(ryre.StoppedError, match="stopped"):
        b.recv(timeout=1)
    with pytest.raises(ryre.StoppedError):
        b.join("late")
    b.stop()  # idempotent


def test_leader_election(pair):
    a, b = pair
    a.join("vote")
    b.join("vote")
    wait_event(a, lambda e: e.type == "JOIN" and e.group == "vote", what="JOIN vote")
    wait_event(b, lambda e: e.type == "JOIN" and e.group == "vote", what="JOIN vote")
    a.contest_in_group("vote")  # the only candidate: it wins, and both nodes learn it
    ev = wait_event(a, lambda e: e.type == "LEADER", what="LEADER at a")
    assert (ev.group, ev.peer, ev.name) == ("vote", a.uuid, "alice")
    ev = wait_event(b, lambda e: e.type == "LEADER", what="LEADER at b")
    assert (ev.group, ev.peer) == ("vote", a.uuid)
    assert a.leader("vote") == a.uuid and b.leader("vote") == a.uuid
    assert a.leader("other") is None


def test_discovery_off_and_connect_peer(nodes):
    a = nodes("a", discovery="off")
    b = nodes("b", discovery="off")
    a.connect_peer(b.uuid, b.endpoint)
    ev = wait_event(b, lambda e: e.type == "ENTER", what="ENTER")
    assert ev.peer == a.uuid


# ---------------------------------------------------------------- errors


def test_errors_are_python_exceptions(nodes):
    n = nodes("err")
    assert issubclass(ryre.TooLongError, ryre.Error) and issubclass(ryre.Error, Exception)
    with pytest.raises(ryre.UnknownPeerError, match="unknown peer"):
        n.whisper(uuid.uuid4(), b"x")
    with pytest.raises(ryre.TooLongError, match="group name is 256 bytes"):
        n.join("g" * 256)
    with pytest.raises(ryre.TooLongError):
        n.shout("é" * 128, b"x")
    with pytest.raises(ryre.NulError, match="NUL byte"):
        n.join("a\0b")
    assert issubclass(ryre.WouldBlockError, ryre.Error)
    with pytest.raises(TypeError, match="peer must be a uuid.UUID"):
        n.whisper(12345, b"x")
    with pytest.raises(ValueError, match="16 bytes long"):
        n.whisper(b"short", b"x")
    with pytest.raises(ValueError, match="not a peer id"):
        n.whisper("zz", b"x")
    with pytest.raises(TypeError, match="message frame must be bytes"):
        n.shout("g", 3.5)
    with pytest.raises(TypeError, match="message frame must be bytes"):
        n.shout("g", [b"ok", None])
    with pytest.raises(ValueError, match="at least one frame"):
        n.shout("g", [])
    with pytest.raises(ryre.ConfigError, match="must be a finite number"):
        n.recv(timeout=-1)
    with pytest.raises(TypeError):
        n.join(None)


def test_bad_settings(nodes):
    with pytest.raises(ryre.TooLongError, match="name is 300 bytes"):
        nodes("n" * 300)
    with pytest.raises(ryre.ConfigError, match="above zero"):
        nodes("x", interval=0)
    with pytest.raises(ryre.ConfigError, match="finite number"):
        nodes("x", evasive_timeout=float("nan"))
    with pytest.raises(ryre.ConfigError, match="discovery must be"):
        nodes("x", discovery="carrier-pigeon")
    with pytest.raises(ryre.NetworkError):
        nodes("x", interface="no-such-if0")
    with pytest.raises(ValueError, match="header"):
        nodes("x", headers={"k": 1})
    with pytest.raises(OverflowError):
        nodes("x", port=70000)
    with pytest.raises(TypeError):
        nodes("x", bogus=1)


# ---------------------------------------------------------------- waiting


def test_recv_timeout_returns_none(nodes):
    n = nodes("quiet", discovery="off")
    t = time.monotonic()
    assert n.recv(timeout=0.2) is None
    assert 0.15 <= time.monotonic() - t < 5
    assert n.try_recv() is None
    assert n.recv(timeout=0) is None


def test_recv_releases_the_gil(nodes):
    n = nodes("gil", discovery="off")
    stamps = []
    stop = threading.Event()

    def spin():
        i = 0
        while not stop.is_set():
            i += 1
            if i % 1000 == 0:
                stamps.append(time.monotonic())

    t = threading.Thread(target=spin)
    t.start()
    try:
        t0 = time.monotonic()
        assert n.recv(timeout=0.6) is None
        t1 = time.monotonic()
    finally:
        stop.set()
        t.join(WAIT)
    # With the GIL held during recv, the thread could not run in the middle of the wait.
    middle = [x for x in stamps if t0 + 0.2 <= x <= t1 - 0.2]
    assert len(middle) > 10, (len(stamps), len(middle))


def test_ctrl_c_interrupts_recv(tmp_path):
    child = textwrap.dedent(
        """
        import signal, sys, ryre
        # Python's own Ctrl-C handler, whatever this process inherited (a test runner started
        # in the background ignores SIGINT, and its children inherit that).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        n = ryre.Node("sleepy", interface="lo", port=ryre.private_port(), discovery="off")
        print("waiting", flush=True)
        try:
            n.recv()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            n.stop()
            sys.exit(3)
        print("returned", flush=True)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "waiting"
        time.sleep(0.2)  # not a synchronisation: the outcome is the same if recv was not yet entered
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=WAIT)
        assert out.strip() == "interrupted" and p.returncode == 3, (out, p.returncode)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_iteration_ends_after_stop(pair):
    a, b = pair
    b.whisper(a.uuid, b"last")
    got = []
    for ev in a:
        got.append(ev.type)
        if ev.type == "WHISPER":
            a.stop()
    assert got[-1] == "STOP" and "WHISPER" in got


def test_context_manager_stops(nodes):
    port = ryre.private_port()
    with ryre.Node("ctx", interface="lo", port=port) as n:
        assert isinstance(n, ryre.Node)
    assert [e.type for e in n][-1:] == ["STOP"]
    with pytest.raises(ryre.StoppedError):
        n.whisper(uuid.uuid4(), b"x")


def test_threads_share_one_node(pair):
    a, b = pair
    errors = []

    def send(k):
        try:
            for i in range(200):
                b.whisper(a.uuid, b"%d-%d" % (k, i))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(WAIT)
    got = set()
    while len(got) < 800:
        ev = wait_event(a, lambda e: e.type == "WHISPER", what="WHISPER %d" % len(got))
        got.add(ev.content[0])
    assert not errors and len(got) == 800


# ---------------------------------------------------------------- asyncio


def test_asyncio_arecv_and_aevents(pair):
    a, b = pair

    async def main():
        assert await a.arecv(timeout=0.1) is None
        b.whisper(a.uuid, b"async")
        ev = await asyncio.wait_for(a.arecv(), WAIT)
        assert ev.type == "WHISPER" and ev.content == [b"async"]
        b.shout("nobody-listens", b"x")  # no error: a is not in the group
        a.join("ag")
        ev = await asyncio.wait_for(b.arecv(), WAIT)
        assert (ev.type, ev.group) == ("JOIN", "ag")
        b.shout("ag", b"s1")
        types = []

        async def collect():
            async for ev in a.aevents():
                types.append(ev.type)
                if ev.type == "SHOUT":
                    # (stopped only after the SHOUT came: in one process, a stop right after
                    # a send can overtake it; see the CHANGELOG)
                    b.stop()
                if ev.type == "EXIT":
                    a.stop()

        await asyncio.wait_for(collect(), WAIT)
        return types

    types = asyncio.run(main())
    assert "SHOUT" in types and "EXIT" in types and types[-1] == "STOP", types


def test_asyncio_cancel_loses_no_event(pair):
    a, b = pair

    async def main():
        # cancel many waits while whispers arrive; every whisper must still come out
        got = []
        for i in range(20):
            t = asyncio.ensure_future(a.arecv())
            await asyncio.sleep(0)
            b.whisper(a.uuid, b"%d" % i)
            t.cancel()
            try:
                ev = await t  # it completed before the cancel took effect: it counts
                if ev.type == "WHISPER":
                    got.append(int(ev.content[0]))
            except asyncio.CancelledError:
                pass
        while len(got) < 20:
            ev = await asyncio.wait_for(a.arecv(), WAIT)
            if ev.type == "WHISPER":
                got.append(int(ev.content[0]))
        return got

    got = asyncio.run(main())
    assert sorted(got) == list(range(20)), got


def test_evasive_silent_then_expired_exit(nodes):
    """A peer killed with SIGKILL (no goodbye, no leaving beacon) goes EVASIVE, then SILENT,
    then EXIT with reason "expired". Plain beacon discovery, so no agent vouches for it."""
    port = ryre.private_port()
    me = nodes("watcher", port=port, discovery="beacon", interval=0.1, evasive_timeout=0.5,
               expired_timeout=2.0)
    child = textwrap.dedent(
        """
        import sys, ryre
        n = ryre.Node("doomed", interface="lo", port=%d, discovery="beacon", interval=0.1)
        print(n.uuid.hex, flush=True)
        sys.stdin.read()
        """ % port
    )
    p = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        peer = uuid.UUID(hex=p.stdout.readline().strip())
        wait_event(me, lambda e: e.type == "ENTER" and e.peer == peer, what="ENTER of the child")
        p.kill()
        p.wait(WAIT)
        ev = wait_event(me, lambda e: e.type == "EVASIVE", what="EVASIVE")
        assert ev.peer == peer and ev.name == "doomed"
        ev = wait_event(me, lambda e: e.type in ("SILENT", "EXIT"), what="SILENT")
        assert ev.type == "SILENT" and ev.peer == peer
        ev = wait_event(me, lambda e: e.type == "EXIT", what="EXIT")
        assert ev.peer == peer and ev.reason == "expired"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _line_within(proc, timeout):
    """The next line of a child's stdout, or a failure after `timeout` seconds."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no line from the child within %.0f s" % timeout
    return proc.stdout.readline()


def test_stop_flush_bounds_the_wait_for_a_frozen_peer():
    """`stop_flush` reaches the node: a stopping node waits that long (no more) for a peer it
    whispered to that never confirms (a frozen process), and not at all with 0."""
    port = ryre.private_port()
    peer_py = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ryre_peer.py")
    child = subprocess.Popen(
        [sys.executable, peer_py, "--name", "frozen", "--interface", "lo",
         "--port", str(port), "--discovery", "beacon"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        started = json.loads(_line_within(child, WAIT))
        assert started["event"] == "STARTED"
        frozen = uuid.UUID(hex=started["peer"])
        waits = {}
        for flush in (2.0, 0.0):
            n = ryre.Node("a", interface="lo", port=port, discovery="beacon", stop_flush=flush)
            try:
                wait_event(n, lambda e: e.type == "ENTER" and e.peer == frozen, what="ENTER")
                child.send_signal(signal.SIGSTOP)
                n.whisper(frozen, b"are you there?")
                t = time.monotonic()
                n.stop()
                waits[flush] = time.monotonic() - t
            finally:
                child.send_signal(signal.SIGCONT)
                n.stop()
        # The default (0.5 s) would fail the first; a wait without bound would fail it too.
        assert 1.8 <= waits[2.0] < 2.0 + WAIT, waits
        assert waits[0.0] < 1.0, waits
    finally:
        child.send_signal(signal.SIGCONT)
        child.kill()
        child.wait(timeout=WAIT)
    with pytest.raises(ryre.ConfigError, match="stop_flush must be a finite number"):
        ryre.Node("x", interface="lo", port=port, stop_flush=-1.0)
