"""ryre.pipeline from Python: workers running Python functions (in this process and in worker
processes), a client iterating results, a collector; 10,000 tasks over 3 worker processes with
one killed (SIGKILL) mid-batch, every result exactly once and right."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

import ryre
import ryre.pipeline as rp
from conftest import HERE, WAIT

sys.path.insert(0, HERE)
from pipeline_worker import expected  # noqa: E402


def settings(port, cluster, **kw):
    """Node and pipeline settings for one test: loopback, a private port, fast timings."""
    base = dict(
        cluster=cluster,
        interface="lo",
        port=port,
        interval=0.1,
        evasive_timeout=0.5,
        expired_timeout=1.5,
        task_timeout=1.0,
        result_timeout=1.5,
        collector_timeout=1.5,
        progress_interval=0.1,
    )
    base.update(kw)
    return base


@pytest.fixture
def roles():
    """Factory for pipeline roles (Worker/Collector/Client) on a private port and cluster;
    every role is stopped at the end."""
    port = ryre.private_port()
    cluster = "t-" + uuid.uuid4().hex[:8]
    made = []

    def make(cls, *args, **kw):
        role = cls(*args, **settings(port, cluster, **kw))
        made.append(role)
        return role

    make.port, make.cluster = port, cluster
    yield make
    for r in reversed(made):
        r.stop()


def check_results(payloads, results, strip_pid=True):
    """Every problem with `results` (a list of (task, value) in arrival order) for a batch of
    `payloads` whose task function is pipeline_worker.work: a task missing, delivered twice,
    out of range, failed, or with a result that is not the right one for its payload."""
    problems = []
    seen = {}
    for no, value in results:
        if not 0 <= no < len(payloads):
            problems.append("task %r out of range" % no)
            continue
        if no in seen:
            problems.append("task %d delivered twice" % no)
            continue
        seen[no] = value
        if not isinstance(value, bytes):
            problems.append("task %d failed: %r" % (no, value))
            continue
        got = value.rsplit(b"|", 1)[0] if strip_pid else value
        if got != expected(payloads[no]):
            problems.append("task %d: wrong result %r" % (no, value[:40]))
    missing = [i for i in range(len(payloads)) if i not in seen]
    if missing:
        problems.append("%d tasks missing (first %r)" % (len(missing), missing[:5]))
    return problems


def test_checker_catches_broken_results():
    payloads = [b"a", b"b", b"c"]
    good = [(i, expected(p) + b"|1") for i, p in enumerate(payloads)]
    assert check_results(payloads, good) == []
    assert any("missing" in p for p in check_results(payloads, good[:2]))
    assert any("twice" in p for p in check_results(payloads, good + good[:1]))
    swapped = [(0, good[1][1]), good[1], good[2]]
    assert any("wrong result" in p for p in check_results(payloads, swapped))
    assert any("out of range" in p for p in check_results(payloads, good + [(3, b"x")]))
    failed = [(0, rp.TaskError("x"))] + good[1:]
    assert any("failed" in p for p in check_results(payloads, failed))


def test_in_process_worker_every_result_once(roles):
    roles(rp.Collector)
    w = roles(rp.Worker, lambda p: expected(p) + b"|0")
    client = roles(rp.Client)
    assert client.wait_workers(1, timeout=WAIT)
    payloads = [b"task-%d" % i for i in range(500)]
    batch = client.submit(payloads, timeout=WAIT)
    assert batch.total == 500 and len(batch) == 500 and batch.remaining == 500
    results = list(batch)
    assert check_results(payloads, results) == []
    assert batch.remaining == 0
    assert batch.recv(timeout=0.1) is None  # complete: nothing more
    assert isinstance(w.uuid, uuid.UUID) and w.name
    assert client.stats()["messages"] > 0 and w.stats()["messages"] > 0


def test_exceptions_and_bad_returns_are_task_errors(roles):
    roles(rp.Collector)
    calls = []

    def work(p):
        calls.append(p)
        if p == b"raise":
            raise ValueError("no thanks")
        if p == b"none":
            return None
        return p.upper()

    roles(rp.Worker, work)
    client = roles(rp.Client, max_attempts=2)
    assert client.wait_workers(1, timeout=WAIT)
    got = dict(client.submit([b"ok", b"raise", b"none", b"fine"], timeout=WAIT))
    assert got[0] == b"OK" and got[3] == b"FINE"
    err = got[1]
    assert isinstance(err, rp.TaskError) and isinstance(err, ryre.Error)
    assert err.message == "ValueError: no thanks" and err.attempts == 2
    assert "TypeError" in got[2].message and "NoneType" in got[2].message
    assert calls.count(b"raise") == 2  # retried max_attempts times, worker still alive


def test_timeout_without_workers(roles):
    roles(rp.Collector)
    client = roles(rp.Client)
    batch = client.submit([b"x"], timeout=0.3)
    t = time.monotonic()
    assert batch.recv(timeout=0.2) is None
    with pytest.raises(TimeoutError, match="no result within"):
        next(iter(batch))
    assert time.monotonic() - t < 5
    assert client.wait_workers(1, timeout=0.1) is False


def test_gil_released_while_waiting(roles):
    client = roles(rp.Client)
    batch = client.submit([b"x"])
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    try:
        assert batch.recv(timeout=0.5) is None
    finally:
        stop.set()
        t.join(5)
    assert len(ticks) > 50


def test_stopped_client_ends_its_batches(roles):
    client = roles(rp.Client)
    batch = client.submit([b"x"], timeout=5)
    client.stop()
    with pytest.raises(ryre.StoppedError):
        batch.recv(timeout=1)
    with pytest.raises(ryre.StoppedError):
        client.submit([b"y"])
    client.stop()  # idempotent


def test_bad_arguments(roles):
    with pytest.raises(TypeError, match="callable"):
        rp.Worker(42)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        rp.Client(bogus=1)
    with pytest.raises(TypeError, match="window"):
        rp.Worker(bytes, window="many")
    with pytest.raises(ryre.ConfigError, match="task_timeout"):
        rp.Client(task_timeout=-1)
    with pytest.raises(ryre.ConfigError, match="cluster"):
        rp.Collector(cluster="", interface="lo", port=roles.port)
    with pytest.raises(ryre.ConfigError, match="window"):
        rp.Worker(bytes, window=0, interface="lo", port=roles.port)
    with pytest.raises(ryre.TooLongError):
        rp.Client(name="n" * 300, interface="lo", port=roles.port)
    client = roles(rp.Client)
    with pytest.raises(TypeError, match="bytes"):
        client.submit([b"ok", 3])
    with pytest.raises(TypeError):
        client.submit(5)


def start_worker(port, cluster):
    p = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "pipeline_worker.py"), str(port), cluster],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return p


def test_10k_tasks_3_worker_processes_one_killed(roles):
    """10,000 tasks over 3 worker processes; one is killed with SIGKILL mid-batch. Every
    task's result arrives exactly once, and each is the right one for its payload."""
    procs = [start_worker(roles.port, roles.cluster) for _ in range(3)]
    try:
        for p in procs:
            line = p.stdout.readline()  # bounded by the test's timeout (pytest-timeout)
            assert line.startswith("ready "), line
        roles(rp.Collector)
        client = roles(rp.Client)
        assert client.wait_workers(3, timeout=WAIT), client.ready_workers()
        token = uuid.uuid4().hex
        payloads = [("%s-%d" % (token, i)).encode() for i in range(10_000)]
        victim = procs[0]
        victim_pid = str(victim.pid).encode()
        results = []
        killed_at = None
        t0 = time.monotonic()
        for no, value in client.submit(payloads, timeout=30):
            results.append((no, value))
            if killed_at is None and len(results) >= 3_000:
                from_victim = sum(1 for _, v in results if v.endswith(b"|" + victim_pid))
                if from_victim > 0:
                    victim.send_signal(signal.SIGKILL)
                    victim.wait(10)
                    killed_at = len(results)
        took = time.monotonic() - t0
        assert killed_at is not None and killed_at < 10_000, "the victim never got to work"
        assert check_results(payloads, results) == []
        pids = {}
        for _, v in results:
            pid = v.rsplit(b"|", 1)[1]
            pids[pid] = pids.get(pid, 0) + 1
        assert pids.get(victim_pid, 0) > 0
        survivors = [str(p.pid).encode() for p in procs[1:]]
        assert all(pids.get(s, 0) > 0 for s in survivors), pids
        # The victim died holding tasks, and the client dealt them again.
        assert client.stats()["redealt"] > 0
        print("10k tasks in %.1f s, killed after %d results; per worker %r" % (took, killed_at, pids))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)
            for f in (p.stdin, p.stdout):
                try:
                    f.close()
                except OSError:
                    pass
