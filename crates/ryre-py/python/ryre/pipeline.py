"""A reliable pipeline from Python (the ``ryre-pipeline`` crate): a client deals a batch of
tasks to workers, a collector gathers the results, and every task's result reaches the
client exactly once even when workers or collectors crash.

    import ryre.pipeline as rp

    def work(payload: bytes) -> bytes:          # runs on the worker, with the GIL
        return payload.upper()

    with rp.Collector(), rp.Worker(work), rp.Client() as client:
        client.wait_workers(1, timeout=10)
        for task, result in client.submit([b"a", b"b", b"c"], timeout=30):
            print(task, result)                 # bytes, or a rp.TaskError

The three roles find each other by ryre presence (HELLO headers and groups of the cluster,
default ``"default"``); they may run in any processes on the LAN. Every constructor takes the
pipeline settings below and, besides them, any ``ryre.Node`` setting (``name``,
``interface``, ``port``, ``evasive_timeout``, ...) for its own node:

- ``cluster``: roles talk only within one cluster;
- ``window`` (worker): most tasks of one client it holds at a time (default 1024);
- ``chunk`` (client): most tasks per message (default 256);
- ``task_timeout`` (client, seconds): a worker holding tasks with no progress this long is
  presumed dead and its tasks dealt again (default 5; sooner for a usually fast worker);
- ``result_timeout``, ``collector_timeout`` (client, seconds): when a result the collector
  never reported is dealt again (5), when a silent collector is replaced (3);
- ``max_attempts`` (client): attempts of a task whose function raises before its error is the
  result (default 3);
- ``progress_interval`` (collector, seconds): time between progress reports (0.2).
- ``status_interval`` (every role, seconds): least time between status reports to the
  cluster's status group, sent only while someone watches (the bridge's dashboard) and only
  when something changed (0.5).

A worker's function is called with the GIL held, one task at a time, with the payload as
``bytes``; it returns ``bytes`` (or ``bytearray``/``memoryview``/``str``). An exception in it
fails that attempt (the error text is ``"ExceptionType: message"``); it never stops the
worker. Tasks may run more than once (after a crash elsewhere), so the function should be
idempotent; the client still delivers each task's result once.
"""

from __future__ import annotations

import atexit
import weakref
from typing import Any, Callable, Iterable, Optional, Union

from . import _native
from ._native import Batch, TaskError

__all__ = ["Worker", "Client", "Collector", "Batch", "TaskError"]

# The type of a worker's task function.
TaskFunction = Callable[[bytes], Union[bytes, bytearray, memoryview, str]]

# Roles still running at interpreter exit are stopped before Python finalizes (a worker's
# thread must not call into a finalizing interpreter).
_live: "weakref.WeakSet[Any]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for role in list(_live):
        try:
            role.stop()
        except Exception:  # pragma: no cover - best effort at exit
            pass


class _Role:
    def _started(self) -> None:
        _live.add(self)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()  # type: ignore[attr-defined]


class Worker(_Role, _native.PipelineWorker):
    """A pipeline worker: a ryre node that runs ``function(payload) -> bytes`` on every task
    it is dealt (see the module's docs for the settings). Stops on ``stop()``, at the end of a
    ``with`` block, or at interpreter exit."""

    def __init__(self, function: TaskFunction, **settings: Any) -> None:
        self._started()


class Collector(_Role, _native.PipelineCollector):
    """A pipeline collector: gathers results for clients, drops duplicates, forwards each
    result once. A client needs one in its cluster (any process)."""

    def __init__(self, **settings: Any) -> None:
        self._started()


class Client(_Role, _native.PipelineClient):
    """A pipeline client: ``submit(payloads)`` returns a ``Batch``; iterating it yields
    ``(task, result)`` for every task exactly once, ``result`` being ``bytes`` or a
    ``TaskError``. Waiting releases the GIL; Ctrl-C interrupts it."""

    def __init__(self, **settings: Any) -> None:
        self._started()

    def submit(self, payloads: Iterable[Union[bytes, bytearray, memoryview, str]],
               timeout: Optional[float] = None) -> Batch:
        """Submits a batch (task ``i`` is the ``i``-th payload). Iterating the batch raises
        ``TimeoutError`` when no result comes within ``timeout`` seconds (``None``: waits as
        long as it takes)."""
        return super().submit(payloads, timeout)
