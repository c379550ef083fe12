#!/usr/bin/env python3
"""The ryre services from Python on loopback (runs and exits): a pipeline (collector, a worker
running a Python function, a client iterating results), a logging handler read by a log
collector, and ticks from a timer node.

    python crates/ryre-py/examples/services.py
"""

import logging
from typing import Any, Dict

import ryre
import ryre.log
import ryre.pipeline
import ryre.timer


def square(payload: bytes) -> bytes:
    """The task: runs on the worker, with the GIL."""
    n = int(payload)
    if n < 0:
        raise ValueError("negative: %d" % n)
    return str(n * n).encode()


def main() -> None:
    net: Dict[str, Any] = dict(interface="lo", port=ryre.private_port(), interval=0.1)

    with ryre.pipeline.Collector(**net), ryre.pipeline.Worker(square, **net), \
            ryre.pipeline.Client(max_attempts=1, **net) as client:
        if not client.wait_workers(1, timeout=10):
            raise SystemExit("no worker within 10 s")
        results = dict(client.submit([b"%d" % i for i in range(-1, 100)], timeout=10))
        print("pipeline: 7 ->", results[8], "; -1 ->", results[0])
        assert results[8] == b"49" and isinstance(results[0], ryre.pipeline.TaskError)

    with ryre.log.Collector("info", **net) as collector:
        handler = ryre.log.Handler(name="example", scan_every=0.02, **net)
        log = logging.getLogger("example")
        log.addHandler(handler)
        if not handler.wait_collector("info", timeout=10):
            raise SystemExit("no log collector within 10 s")
        log.warning("disk %d%% full", 91)
        rec = collector.recv(timeout=10)
        print("log:", rec)
        assert rec is not None and rec.message == "disk 91% full"
        log.removeHandler(handler)
        handler.close()

    with ryre.timer.Server(rates=[20], **net), ryre.timer.Timers(**net) as timers:
        timers.subscribe(20)
        for i, tick in enumerate(timers.ticks(timeout=10)):
            print("timer:", tick)
            if i == 2:
                break


if __name__ == "__main__":
    main()
