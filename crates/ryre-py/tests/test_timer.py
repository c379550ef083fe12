"""ryre.timer: tick subscription and wake-ups from Python against a timer node in another
process (ryre.timer.Server there), and errors."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

import ryre
import ryre.timer
from conftest import WAIT

SERVER = textwrap.dedent("""
    import sys, ryre.timer
    s = ryre.timer.Server(rates=[50], name="clock", interface="lo", port=int(sys.argv[1]),
                          interval=0.1)
    print("ready", s.uuid, flush=True)
    sys.stdin.read()
    print(s.stats()["ticks_sent"], flush=True)
    s.stop()
""")


@pytest.fixture
def server():
    """A timer node in a child process (50 Hz and wake-ups), killed at the end."""
    port = ryre.private_port()
    p = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("ready "), line
        yield port, line.split()[1]
    finally:
        if p.poll() is None:
            p.kill()
        p.wait(10)
        p.stdin.close()
        p.stdout.close()


def test_ticks_at_a_rate(server):
    port, server_id = server
    with ryre.timer.Timers(name="app", interface="lo", port=port, interval=0.1) as t:
        t.subscribe(50)
        ticks = []
        for tick in t.ticks(timeout=WAIT):
            ticks.append(tick)
            if len(ticks) == 30:
                break
        ns = [k.n for k in ticks]
        assert ns == sorted(set(ns)), ns  # each number once, increasing
        assert ns[-1] - ns[0] == len(ns) - 1 + sum(k.missed for k in ticks[1:])
        assert all(k.rate == 50 and str(k.peer) == server_id for k in ticks)
        # Tick n is due at t0 + n / rate: exactly 20 ms apart, whatever the delivery jitter.
        for a, b in zip(ticks, ticks[1:]):
            assert b.scheduled_ns - a.scheduled_ns == 20_000_000 * (b.n - a.n)
            assert b.t0_ns == a.t0_ns
        assert all(k.received_ns >= k.scheduled_ns - 1_000_000 for k in ticks)  # same clock
        assert abs(ticks[-1].lateness) < 5
        assert "50 Hz" in repr(ticks[0])
        counts = t.tick_counts(50)
        assert counts["received"] >= 30 and counts["malformed"] == 0
        t.unsubscribe(50)
        assert t.tick_counts(50) is None


def test_wake_after(server):
    port, server_id = server
    with ryre.timer.Timers(name="sleeper", interface="lo", port=port, interval=0.1) as t:
        # The wake-up leader announces itself once it sees us.
        deadline = time.monotonic() + WAIT
        while t.wake_leader is None:
            assert time.monotonic() < deadline, "no wake-up leader"
            t.recv(timeout=0.1)
        assert str(t.wake_leader) == server_id
        asked = time.time()
        wid = t.wake_after(0.2, b"coffee")
        assert t.pending == 1
        wake = None
        for ev in t.events(timeout=WAIT):
            if isinstance(ev, ryre.timer.Wake):
                wake = ev
                break
        assert wake.id == wid and wake.payload == b"coffee" and wake.occurrence == 0
        assert wake.scheduled_ns >= int((asked + 0.2) * 1e9) - 1_000_000
        assert wake.received_ns >= wake.scheduled_ns - 1_000_000
        assert str(wake.peer) == server_id
        assert t.pending == 0


def test_no_timer_node_times_out(server):
    port, _ = server
    with ryre.timer.Timers(interface="lo", port=port, interval=0.1) as t:
        t.subscribe(7)  # nobody serves 7 Hz
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="no tick"):
            next(t.ticks(timeout=0.5))
        assert time.monotonic() - start < 5


def test_bad_arguments():
    port = ryre.private_port()
    with ryre.timer.Timers(interface="lo", port=port) as t:
        for bad in (0, 1001, -5, 70000):
            with pytest.raises(ryre.ConfigError, match="rate"):
                t.subscribe(bad)
        with pytest.raises(ryre.ConfigError, match="every"):
            t.wake_every(time.time(), -1.0)
        with pytest.raises(ryre.ConfigError, match="period"):
            t.wake_every(time.time(), 0.0001)
        with pytest.raises(TypeError):
            t.wake_after(1.0, 42)
    with pytest.raises(ryre.ConfigError, match="rate"):
        ryre.timer.Server(rates=[0], interface="lo", port=port)
    with pytest.raises(ryre.ConfigError, match="serve"):
        ryre.timer.Server(rates=[], wakeups=False, interface="lo", port=port)
    with pytest.raises(TypeError, match="unexpected keyword argument 'hz'"):
        ryre.timer.Timers(hz=3)
