"""Ctrl-C (SIGINT) interrupts every blocking wait of the services: a pipeline batch's
iteration, a log collector's recv, a timer client's recv (each waits with the GIL released
and handles signals between slices). Without that, the child would block forever and the
test would fail on its timeout."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import WAIT

NET = 'interface="lo", port=ryre.private_port(), discovery="off"'

WAITS = {
    "pipeline batch": "import ryre.pipeline as rp\n"
    "c = rp.Client(%s)\n"
    "wait = lambda: next(iter(c.submit([b'x'])))" % NET,
    "log collector": "import ryre.log\n"
    "c = ryre.log.Collector(%s)\n"
    "wait = lambda: c.recv()" % NET,
    "timer client": "import ryre.timer\n"
    "c = ryre.timer.Timers(%s)\n"
    "wait = lambda: c.recv()" % NET,
}


@pytest.mark.parametrize("what", sorted(WAITS))
def test_ctrl_c_interrupts_the_wait(what):
    # Python's own Ctrl-C handler first, whatever the child inherited (a test runner started in
    # the background ignores SIGINT, and its children inherit that).
    child = (
        "import signal, sys, ryre\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    ) + WAITS[what] + textwrap.dedent(
        """
        print("waiting", flush=True)
        try:
            wait()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            c.stop()
            sys.exit(3)
        print("returned", flush=True)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "waiting"
        time.sleep(0.2)  # not a synchronisation: the outcome is the same if the wait was not yet entered
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=WAIT)
        assert out.strip() == "interrupted" and p.returncode == 3, (out, p.returncode)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
