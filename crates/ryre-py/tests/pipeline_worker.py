"""A pipeline worker process for tests/test_pipeline.py: runs ``work`` (below) on every task
until its stdin closes (the test closes it, or dies), then stops.

    python pipeline_worker.py PORT CLUSTER

Prints ``ready <uuid>`` once its node is up."""

import hashlib
import os
import sys

import ryre.pipeline

PID = str(os.getpid()).encode()


def expected(payload: bytes) -> bytes:
    """The result a correct worker gives for ``payload`` (without the worker's pid)."""
    h = payload
    for _ in range(500):  # some real work per task: a chain of hashes
        h = hashlib.sha256(h).digest()
    return h.hex().encode()


def work(payload: bytes) -> bytes:
    if payload.startswith(b"fail:"):
        raise ValueError("refused " + payload.decode())
    return expected(payload) + b"|" + PID


def main() -> None:
    port, cluster = int(sys.argv[1]), sys.argv[2]
    w = ryre.pipeline.Worker(
        work,
        cluster=cluster,
        window=256,
        name="worker-%d" % os.getpid(),
        interface="lo",
        port=port,
        interval=0.1,
        evasive_timeout=0.5,
        expired_timeout=1.5,
    )
    print("ready", w.uuid, flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin (or dies)
    finally:
        w.stop()


if __name__ == "__main__":
    main()
