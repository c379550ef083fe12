"""ryre.log: a logging.Handler publishing to the mesh log, read by a real ryre-log collector
(ryre.log.Collector, the Rust collector) in this process, from another process and in-process."""

import json
import logging
import os
import subprocess
import sys
import time

import pytest

import ryre
import ryre.log
from conftest import HERE, WAIT


@pytest.fixture
def port():
    return ryre.private_port()


def collector(port, **kw):
    return ryre.log.Collector(interface="lo", port=port, interval=0.1, **kw)


def test_records_from_another_process_reach_the_collector(port, tmp_path):
    with collector(port, level="info", directory=str(tmp_path)) as c:
        p = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "log_publisher.py"), str(port)],
            stdout=subprocess.PIPE, text=True)
        try:
            out, _ = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        assert p.returncode == 0, out
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["queued"] == 4 and stats["dropped"] == 0, stats  # DEBUG never formatted
        recs = list(_take(c, 4))
        assert [(r.level, r.target) for r in recs] == [
            ("INFO", "app.web"), ("WARN", "app.db"), ("ERROR", "app"), ("ERROR", "app")]
        assert [r.message for r in recs] == ["hello world", "slow query: 812 ms", "it broke",
                                             "on fire"]
        assert [r.levelno for r in recs] == [20, 30, 40, 40]
        assert all(r.name == "py-app" for r in recs)
        f = dict(recs[0].fields)
        assert f["user"] == "ann" and f["function"] == "main"
        assert f["file"].endswith("log_publisher.py:%s" % f["file"].rsplit(":", 1)[1])
        assert "levelname" not in f
        exc = dict(recs[2].fields)["exception"]
        assert "ZeroDivisionError" in exc and "Traceback" in exc
        assert dict(recs[3].fields)["levelname"] == "CRITICAL"
        assert abs(recs[0].time - time.time()) < 60
        assert c.recv(timeout=0.3) is None  # nothing else (the DEBUG record never came)
        assert c.stats()["received"] == 4
        assert len(c.recent(10)) == 4
    # The collector wrote them as JSON lines.
    lines = [json.loads(line) for fn in os.listdir(tmp_path)
             for line in open(os.path.join(tmp_path, fn))]
    assert [rec["message"] for rec in lines] == ["hello world", "slow query: 812 ms",
                                                 "it broke", "on fire"]


def _take(c, n):
    got = []
    deadline = time.monotonic() + WAIT
    while len(got) < n:
        left = deadline - time.monotonic()
        assert left > 0, "only %d of %d records: %r" % (len(got), n, got)
        r = c.recv(timeout=left)
        if r is not None:
            got.append(r)
    return got


def test_handler_on_an_existing_node_and_the_collector_filter(port):
    node = ryre.Node("host", interface="lo", port=port, interval=0.1)
    handler = ryre.log.Handler(node, scan_every=0.02)
    log = logging.getLogger("test.existing")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    try:
        with collector(port, level=logging.WARNING, target="test.") as c:
            assert handler.wait_collector(logging.WARNING, timeout=WAIT)
            assert not handler._pub.enabled(logging.INFO)  # filtered at the publisher
            log.info("not wanted")
            log.error("wanted %d", 1)
            r = _take(c, 1)[0]
            assert (r.level, r.message, r.target, r.name) == ("ERROR", "wanted 1",
                                                              "test.existing", "host")
            assert r.node == node.uuid
            assert "wanted 1" in r.json() and "ERROR" in repr(r)
            assert handler.stats()["queued"] == 1
    finally:
        log.removeHandler(handler)
        handler.close()
        node.stop()


def test_no_collector_costs_nothing_and_never_blocks(port):
    handler = ryre.log.Handler(name="lonely", interface="lo", port=port)
    log = logging.getLogger("test.lonely")
    log.propagate = False
    log.addHandler(handler)
    try:
        t = time.monotonic()
        for i in range(10_000):
            log.warning("nobody listens %d", i)
        assert time.monotonic() - t < 10
        s = handler.stats()
        assert s["queued"] == 0 and s["collectors"] == 0 and s["wanted"] is None
        assert handler.wait_collector(timeout=0.1) is False
    finally:
        log.removeHandler(handler)
        handler.close()
    handler.close()  # idempotent
    with pytest.raises(ryre.StoppedError):
        handler._pub.publish("error", "x", "after close")


def test_bad_arguments(port):
    with pytest.raises(TypeError, match="ryre.Node"):
        ryre.log.Handler(42)
    with pytest.raises(ryre.ConfigError, match="not a log level"):
        collector(port, level="loud")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        ryre.log.Handler(colour="red")
    with pytest.raises(ryre.ConfigError, match="queue"):
        ryre.log.Handler(queue=0, interface="lo", port=port)
    with pytest.raises(ValueError):
        collector(port, node_id="not-a-uuid")
