"""Network-namespace and process helpers for the ryre <-> Pyre interop tests.

Everything here only ever creates traffic inside namespaces that it created
itself (10.200.<k>.0/24 subnets on veth pairs / bridges living entirely inside
those namespaces). Nothing is ever started in the root namespace.

Main pieces:

* ``Lab``  - owns a set of namespaces + processes; ``close()`` kills every
  process it started (and anything else still running inside its
  namespaces), then deletes the namespaces. Use it as a context manager or
  through the ``lab`` pytest fixture (conftest.py), which closes it even when
  the test fails.
* ``Proc`` - a process whose stdout is a stream of JSON lines; a background
  thread parses them into a list, ``expect(pred, timeout)`` waits for a
  matching event and fails with a readable dump of what was seen.
"""

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

# --------------------------------------------------------------------------
# low level `ip` helpers

_IP = shutil.which("ip") or "/usr/sbin/ip"
NS_PREFIX = "ryre-"


def ip(*args, ns=None, check=True, timeout=10):
    """Run `ip ARGS` (inside namespace `ns` if given)."""
    argv = [_IP]
    if ns is not None:
        argv += ["-n", ns]
    argv += list(args)
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s" % (res.returncode, " ".join(argv), res.stderr))
    return res


def netns_supported():
    """(ok, reason) - whether we can create namespaces + veth pairs here."""
    if os.geteuid() != 0:
        return False, "interop tests need root (ip netns add)"
    if not os.path.exists(_IP):
        return False, "`ip` (iproute2) not found"
    name = "%sprobe-%d" % (NS_PREFIX, os.getpid())
    try:
        ip("netns", "add", name)
    except Exception as e:  # noqa: BLE001
        return False, "cannot create network namespace: %s" % e
    try:
        ip("link", "add", "probe0", "type", "veth", "peer", "name", "probe1", ns=name)
    except Exception as e:  # noqa: BLE001
        return False, "cannot create veth pair: %s" % e
    finally:
        ip("netns", "del", name, check=False)
    return True, ""


def _ns_pids(ns):
    res = ip("netns", "pids", ns, check=False)
    return [int(x) for x in res.stdout.split() if x.strip().isdigit()]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale_namespaces():
    """Delete ryre-<pid>-* namespaces left behind by a test run whose process
    is gone (e.g. killed with -9). Only touches names following our pattern."""
    res = ip("netns", "list", check=False)
    for line in res.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"^%s(\d+)-" % re.escape(NS_PREFIX), name)
        if not m:
            continue
        if int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        for pid in _ns_pids(name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        ip("netns", "del", name, check=False)


# --------------------------------------------------------------------------
# Proc: a JSON-lines speaking child process


def _die_with_parent():
    """In the child before exec: SIGKILL us if the test process dies (even by
    SIGKILL), so no node outlives a crashed pytest. Survives `ip netns exec`'s
    execve (not setuid)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort; Lab.close() is the main mechanism
        pass


class ExpectTimeout(AssertionError):
    pass


class Proc:
    """Child process printing one JSON object per stdout line.

    Non-JSON stdout lines are kept as {"event": "_RAW", "line": ...}.
    stderr goes to a temp file (``stderr_text()``), so a chatty child can
    never block on a full pipe.
    """

    def __init__(self, label, argv, env=None):
        self.label = label
        self.argv = list(argv)
        self.events = []
        self._cond = threading.Condition()
        self._eof = False
        self._errf = tempfile.TemporaryFile(mode="w+b")
        self.started_at = time.monotonic()
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errf,
            env=env,
            start_new_session=True,  # own process group: killpg() gets helpers too
            preexec_fn=_die_with_parent,
        )
        self._reader = threading.Thread(target=self._read, name="reader-" + label, daemon=True)
        self._reader.start()

    # ---- reading
    def _read(self):
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                continue
            try:
                ev = json.loads(line)
                if not isinstance(ev, dict):
                    ev = {"event": "_RAW", "line": line}
            except ValueError:
                ev = {"event": "_RAW", "line": line}
            ev["_t"] = time.monotonic() - self.started_at
            with self._cond:
                self.events.append(ev)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def stderr_text(self, limit=8000):
        try:
            self._errf.flush()
            self._errf.seek(0)
            data = self._errf.read().decode("utf-8", "replace")
        except ValueError:  # closed
            return ""
        return data[-limit:]

    def snapshot(self):
        with self._cond:
            return list(self.events)

    def of(self, kind, **fields):
        """All events of type `kind` whose fields equal `fields`."""
        return [e for e in self.snapshot() if e.get("event") == kind and all(e.get(k) == v for k, v in fields.items())]

    def count(self, kind, **fields):
        return len(self.of(kind, **fields))

    def describe(self, max_events=60):
        evs = self.snapshot()
        shown = evs[-max_events:]
        lines = ["--- %s (pid %d, %s): %d events seen%s ---" % (
            self.label, self.pid,
            "running" if self.alive() else "exited rc=%s" % self.popen.returncode,
            len(evs), "" if len(shown) == len(evs) else ", last %d shown" % len(shown))]
        for e in shown:
            e = dict(e)
            t = e.pop("_t", 0.0)
            s = json.dumps(e, ensure_ascii=False)
            lines.append("  %7.2fs %s" % (t, s if len(s) < 300 else s[:300] + "..."))
        err = self.stderr_text(3000).strip()
        if err:
            lines.append("  stderr tail:")
            lines += ["    " + l for l in err.splitlines()[-30:]]
        lines.append("  argv: %s" % " ".join(self.argv))
        return "\n".join(lines)

    def expect(self, pred, timeout, what=None, since=0, others=()):
        """Wait until an event e with pred(e) true appears (searching from
        index `since`); return it. `pred` may also be a string (event type)
        or a dict of required field values. Fails with the list of seen events
        (plus those of `others`, for context)."""
        if isinstance(pred, str):
            kind = pred
            pred = lambda e, k=kind: e.get("event") == k  # noqa: E731
        elif isinstance(pred, dict):
            want = pred
            pred = lambda e, w=want: all(e.get(k) == v for k, v in w.items())  # noqa: E731
        deadline = time.monotonic() + timeout
        idx = since
        with self._cond:
            while True:
                while idx < len(self.events):
                    e = self.events[idx]
                    idx += 1
                    if pred(e):
                        return e
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._eof and idx >= len(self.events)):
                    break
                self._cond.wait(min(remaining, 0.5))
        why = "process exited" if self._eof else "timeout after %.1fs" % timeout
        msg = ["%s: did not see %s (%s)" % (self.label, what or "expected event", why), self.describe()]
        for o in others:
            msg.append(o.describe())
        raise ExpectTimeout("\n".join(msg))

    def wait_count(self, kind, n, timeout, what=None, others=(), **fields):
        """Wait until at least n events of type `kind` (with `fields`) are seen."""
        deadline = time.monotonic() + timeout
        c = idx = 0
        with self._cond:
            while True:
                while idx < len(self.events):  # incremental: no rescans
                    e = self.events[idx]
                    idx += 1
                    if e.get("event") == kind and all(e.get(k) == v for k, v in fields.items()):
                        c += 1
                if c >= n:
                    return c
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    break
                self._cond.wait(min(remaining, 0.5))
        msg = ["%s: wanted %d %s events %s, saw %d (%s)" % (self.label, n, kind, fields or "", c, what or ""),
               self.describe(20)] + [o.describe(20) for o in others]
        raise ExpectTimeout("\n".join(msg))

    # ---- writing
    def send(self, line):
        """Write one command line to the child's stdin."""
        if not self.alive():
            raise AssertionError("%s: cannot send %r, process exited\n%s" % (self.label, line, self.describe()))
        self.popen.stdin.write((line.rstrip("\n") + "\n").encode("utf-8"))
        self.popen.stdin.flush()

    # ---- ending
    def wait_exit(self, timeout):
        """Wait for the process to exit by itself; returns the exit code."""
        try:
            rc = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ExpectTimeout("%s: did not exit within %.1fs\n%s" % (self.label, timeout, self.describe()))
        self._reader.join(timeout=5)
        return rc

    def stop(self, timeout=10):
        """Polite stop via the `stop` stdin command; returns the exit code."""
        if self.alive():
            try:
                self.send("stop")
            except (BrokenPipeError, AssertionError):
                pass
        return self.wait_exit(timeout)

    def signal(self, sig):
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self):
        """SIGKILL the whole process group and reap it."""
        if self.popen.poll() is None:
            self.signal(signal.SIGKILL)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._reader.join(timeout=5)

    def close(self):
        self.kill()
        for f in (self.popen.stdin, self.popen.stdout):
            try:
                if f:
                    f.close()
            except Exception:  # noqa: BLE001
                pass
        try:
            self._errf.close()
        except Exception:  # noqa: BLE001
            pass


# --------------------------------------------------------------------------
# Lab: namespaces + processes with guaranteed teardown

_subnet_counter = itertools.count(1)
_lab_counter = itertools.count(1)


def next_subnet():
    """A /24 index k unique within this test process (10.200.k.0/24).
    Subnets only exist inside our own namespaces, so clashes across
    processes are harmless anyway."""
    k = next(_subnet_counter)
    if k > 254:
        raise RuntimeError("ran out of 10.200.k.0/24 subnets")
    return k


class Lab:
    """A set of network namespaces and processes for one test."""

    def __init__(self, tag="t"):
        self.id = "%s%d-%d" % (NS_PREFIX, os.getpid(), next(_lab_counter))
        self.tag = tag
        self.namespaces = []
        self.procs = []
        self.log = []

    # ---- namespaces
    def netns(self, suffix):
        name = "%s-%s" % (self.id, suffix)
        assert len(name) < 64
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("link", "set", "lo", "up", ns=name)
        return name

    def veth_pair(self, ns_a, ns_b, k=None):
        """Link ns_a and ns_b with a veth pair; 10.200.k.1/24 in ns_a,
        10.200.k.2/24 in ns_b. Returns dict with ifnames and addresses."""
        k = k or next_subnet()
        if_a, if_b = "rv%da" % k, "rv%db" % k
        ip("link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
        ip("addr", "add", "10.200.%d.1/24" % k, "brd", "+", "dev", if_a, ns=ns_a)
        ip("addr", "add", "10.200.%d.2/24" % k, "brd", "+", "dev", if_b, ns=ns_b)
        ip("link", "set", if_a, "up", ns=ns_a)
        ip("link", "set", if_b, "up", ns=ns_b)
        return {"k": k, "if_a": if_a, "if_b": if_b,
                "addr_a": "10.200.%d.1" % k, "addr_b": "10.200.%d.2" % k}

    def two_hosts(self):
        """Namespaces a and b joined by one veth pair."""
        a, b = self.netns("a"), self.netns("b")
        link = self.veth_pair(a, b)
        return a, b, link

    def one_host(self):
        """Namespace a with a veth interface whose far end sits (unused,
        but up so the link has carrier) in namespace b."""
        return self.two_hosts()

    def star(self, hub, leaves, isolated=True, k=None):
        """Bridge `br<k>` in namespace `hub` (10.200.k.1/24) with one veth
        port per leaf namespace (10.200.k.2, .3, ...). With isolated=True the
        leaves can reach the hub but not each other (bridge port isolation),
        so two leaves never discover one another."""
        k = k or next_subnet()
        br = "br%d" % k
        ip("link", "add", br, "type", "bridge", ns=hub)
        ip("addr", "add", "10.200.%d.1/24" % k, "brd", "+", "dev", br, ns=hub)
        ip("link", "set", br, "up", ns=hub)
        out = {"k": k, "hub_if": br, "hub_addr": "10.200.%d.1" % k, "leaves": {}}
        for i, leaf in enumerate(leaves):
            port, leaf_if = "rp%d_%d" % (k, i), "rl%d_%d" % (k, i)
            ip("link", "add", port, "netns", hub, "type", "veth", "peer", "name", leaf_if, "netns", leaf)
            ip("link", "set", port, "master", br, ns=hub)
            if isolated:
                ip("link", "set", "dev", port, "type", "bridge_slave", "isolated", "on", ns=hub)
            ip("link", "set", port, "up", ns=hub)
            addr = "10.200.%d.%d" % (k, i + 2)
            ip("addr", "add", addr + "/24", "brd", "+", "dev", leaf_if, ns=leaf)
            ip("link", "set", leaf_if, "up", ns=leaf)
            out["leaves"][leaf] = {"if": leaf_if, "addr": addr}
        return out

    # ---- processes
    def spawn(self, label, ns, argv, env=None):
        """Start argv inside namespace ns (never in the root namespace)."""
        assert ns in self.namespaces, "refusing to run outside a lab namespace"
        full = [_IP, "netns", "exec", ns] + list(argv)
        p = Proc(label, full, env=env)
        self.procs.append(p)
        return p

    def describe(self):
        return "\n".join(p.describe() for p in self.procs)

    # ---- teardown
    def close(self):
        for p in self.procs:
            try:
                p.close()
            except Exception as e:  # noqa: BLE001
                print("warning: closing %s: %s" % (p.label, e), file=sys.stderr)
        # anything else still alive inside our namespaces was started by us
        for ns in self.namespaces:
            for pid in _ns_pids(ns):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for ns in reversed(self.namespaces):
            deadline = time.monotonic() + 5
            while True:
                res = ip("netns", "del", ns, check=False)
                if res.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)  # retry while killed processes are still being reaped
        self.namespaces = []
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
